"""Forecasting a series several steps ahead with a recurrent regressor.

:func:`make_windows` turns a series into supervised windows (a function, not a
Pipeline step: a step cannot change the number of samples or y).
:class:`RNNForecaster` fits on the series itself and predicts the next
``horizon`` values, either with one model predicting all of them at once
("direct") or a one-step model fed its own predictions ("recursive"), with
prediction intervals from the quantiles of its residuals per step ahead.
:func:`cross_validate_forecast` scores it on successive origins with
scikit-learn's ``TimeSeriesSplit``.
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import TimeSeriesSplit
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from fastrnn import _persistence as files
from fastrnn import _validation as val


def _series(y, name="y"):
    """``y`` as a finite float64 1-D array."""
    arr = val.as_float_array(y, np.float64, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one series (1-D), got shape {arr.shape}")
    val.check_finite(arr, name)
    return arr


def _exog(exog, n, name="exog"):
    """``exog`` as a finite float64 ``[n, k]`` array, or None."""
    if exog is None:
        return None
    arr = val.as_float_array(exog, np.float64, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or len(arr) != n:
        raise ValueError(f"{name} must have {n} rows (one per step of the series), got {arr.shape}")
    val.check_finite(arr, name)
    return arr


def _scale(a):
    """Standard deviation per column, 1 where a column is constant (to rounding)."""
    std = np.std(a, axis=0)
    flat = std <= 1e-12 * np.maximum(1.0, np.abs(np.mean(a, axis=0)))
    return np.where(flat, 1.0, std)


def make_windows(series, lookback, horizon=1, stride=1, exog=None):
    """Cut a series into input windows and the values that follow them.

    Parameters
    ----------
    series : array-like of shape (n,)
    lookback : int
        Steps in each input window.
    horizon : int, default=1
        Values to predict after each window.
    stride : int, default=1
        Steps between the starts of consecutive windows.
    exog : array-like of shape (n,) or (n, k), optional
        Extra features per step, put beside the series in each window.

    Returns
    -------
    X : ndarray of shape (n_windows, lookback, 1 + k)
        ``X[i, :, 0]`` is the series, the other columns ``exog``.
    y : ndarray of shape (n_windows,) when ``horizon == 1``, else (n_windows, horizon)
        The ``horizon`` values after each window.

    Examples
    --------
    >>> X, y = make_windows(np.arange(6.0), lookback=3, horizon=2)
    >>> X[:, :, 0]
    array([[0., 1., 2.],
           [1., 2., 3.]])
    >>> y
    array([[3., 4.],
           [4., 5.]])
    """
    y = _series(series, "series")
    lookback = val.check_positive_int(lookback, "lookback")
    horizon = val.check_positive_int(horizon, "horizon")
    stride = val.check_positive_int(stride, "stride")
    ex = _exog(exog, len(y))
    n_windows = (len(y) - lookback - horizon) // stride + 1
    if n_windows < 1:
        raise ValueError(
            f"the series has {len(y)} steps; lookback={lookback} plus horizon={horizon} "
            "needs at least that many"
        )
    features = y[:, None] if ex is None else np.column_stack([y, ex])
    starts = np.arange(n_windows) * stride
    X = features[starts[:, None] + np.arange(lookback)]
    Y = y[starts[:, None] + lookback + np.arange(horizon)]
    return X, (Y[:, 0] if horizon == 1 else Y)


class RNNForecaster(files.SavedModel, BaseEstimator):
    """Forecast the next ``horizon`` values of a series with a recurrent network.

    Parameters
    ----------
    lookback : int, default=12
        Past steps the network sees.
    horizon : int, default=1
        Steps ahead to forecast.
    strategy : {"direct", "recursive"}, default="direct"
        "direct": one network outputs all ``horizon`` values. "recursive":
        a one-step network whose forecasts are fed back as inputs (with
        ``exog``, the future exogenous values must then be given).
    estimator : RNNRegressor, optional
        The regressor to fit on the windows (cloned); default
        ``RNNRegressor(random_state=random_state)``.
    interval : float in (0, 1), default=0.9
        Coverage of the prediction intervals.
    random_state : int or None
        For the default estimator.

    Attributes
    ----------
    estimator_ : RNNRegressor
        Fitted on windows of the standardised series.
    residual_quantiles_ : ndarray of shape (2, horizon)
        Lower and upper quantiles of the in-sample errors at each step ahead.

    Examples
    --------
    >>> from fastrnn import RNNForecaster, RNNRegressor
    >>> t = np.arange(300)
    >>> y = np.sin(2 * np.pi * t / 25)
    >>> f = RNNForecaster(lookback=25, horizon=5,
    ...                   estimator=RNNRegressor(hidden_size=16, max_iter=60, random_state=0))
    >>> forecast = f.fit(y).predict()  # the next 5 values
    >>> truth = np.sin(2 * np.pi * np.arange(300, 305) / 25)
    >>> bool(np.abs(forecast - truth).max() < 0.1)
    True
    """

    _parameter_constraints = {
        "lookback": [Interval(numbers.Integral, 1, None, closed="left")],
        "horizon": [Interval(numbers.Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"direct", "recursive"})],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "interval": [Interval(numbers.Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        lookback=12,
        horizon=1,
        strategy="direct",
        estimator=None,
        interval=0.9,
        random_state=None,
    ):
        self.lookback = lookback
        self.horizon = horizon
        self.strategy = strategy
        self.estimator = estimator
        self.interval = interval
        self.random_state = random_state

    def fit(self, y, exog=None):
        """Fit on the series ``y`` (and extra features ``exog`` per step).

        Parameters
        ----------
        y : array-like of shape (n,)
        exog : array-like of shape (n,) or (n, k), optional

        Returns
        -------
        self
        """
        from fastrnn._estimators import RNNRegressor

        self._validate_params()
        y = _series(y)
        ex = _exog(exog, len(y))
        self.mean_, self.scale_ = y.mean(), float(_scale(y))
        self.exog_mean_ = None if ex is None else ex.mean(axis=0)
        self.exog_scale_ = None if ex is None else _scale(ex)
        z, zx = self._scale(y, ex)
        steps = self.horizon if self.strategy == "direct" else 1
        X, Y = make_windows(z, self.lookback, steps, exog=zx)
        base = self.estimator if self.estimator is not None else RNNRegressor()
        est = clone(base)
        if self.estimator is None:
            est.set_params(random_state=self.random_state)
        self.estimator_ = est.fit(X, Y)
        self.n_exog_ = 0 if ex is None else ex.shape[1]
        self.history_, self.exog_history_ = (
            y[-self.lookback :],
            (None if ex is None else ex[-self.lookback :]),
        )
        self.residual_quantiles_ = self._residual_quantiles(z, zx)
        return self

    def _scale(self, y, ex):
        z = (y - self.mean_) / self.scale_
        zx = None if ex is None else (ex - self.exog_mean_) / self.exog_scale_
        return z, zx

    def _forecast(self, windows, future_exog=None):
        """Scaled forecasts ``[n, horizon]`` from scaled windows ``[n, lookback, features]``."""
        if self.strategy == "direct":
            return self.estimator_.predict(windows).reshape(len(windows), self.horizon)
        out = np.empty((len(windows), self.horizon))
        w = windows.copy()
        for h in range(self.horizon):
            out[:, h] = self.estimator_.predict(w)
            nxt = np.empty((len(w), 1, w.shape[2]))
            nxt[:, 0, 0] = out[:, h]
            if w.shape[2] > 1:
                if h < self.horizon - 1:
                    nxt[:, 0, 1:] = future_exog[:, h]
                else:
                    break
            w = np.concatenate([w[:, 1:], nxt], axis=1)
        return out

    def _residual_quantiles(self, z, zx):
        """Quantiles of the in-sample errors per step ahead (original units)."""
        X, Y = make_windows(z, self.lookback, self.horizon, exog=zx)
        Y = Y.reshape(len(X), self.horizon)
        future = None
        if self.strategy == "recursive" and zx is not None:
            idx = np.arange(len(X))[:, None] + self.lookback + np.arange(self.horizon - 1)
            future = zx[idx]
        errors = (Y - self._forecast(X, future)) * self.scale_
        alpha = (1 - self.interval) / 2
        return np.quantile(errors, [alpha, 1 - alpha], axis=0)

    def predict(self, history=None, exog_history=None, future_exog=None, return_interval=False):
        """Forecast the ``horizon`` values after ``history``.

        Parameters
        ----------
        history : array-like of shape (>= lookback,), optional
            Recent values of the series; default the end of the series fitted.
        exog_history : array-like of shape (len(history), k), optional
            Their extra features (models fitted with ``exog``).
        future_exog : array-like of shape (horizon - 1, k), optional
            The extra features of the steps being forecast, except the last;
            needed by the recursive strategy with ``exog``.
        return_interval : bool, default=False

        Returns
        -------
        forecast : ndarray of shape (horizon,)
        lower, upper : ndarray of shape (horizon,)
            With ``return_interval``: the interval of coverage ``interval``.
        """
        check_is_fitted(self, "estimator_")
        if history is None:
            if exog_history is not None:
                raise ValueError("exog_history goes with history: pass both or neither")
            history, exog_history = self.history_, self.exog_history_
        else:
            history = _series(history, "history")
            if len(history) < self.lookback:
                raise ValueError(f"history has {len(history)} values; lookback is {self.lookback}")
            exog_history = _exog(exog_history, len(history), "exog_history")
        if (exog_history is None) != (self.n_exog_ == 0):
            raise ValueError(
                f"the model was fitted with {self.n_exog_} exogenous features; "
                "pass exog_history with history exactly when it has some"
            )
        z, zx = self._scale(history[-self.lookback :], None)
        if exog_history is not None:
            zx = (exog_history[-self.lookback :] - self.exog_mean_) / self.exog_scale_
        window = (z[:, None] if zx is None else np.column_stack([z, zx]))[None]
        future = None
        if self.strategy == "recursive" and self.n_exog_ and self.horizon > 1:
            if future_exog is None:
                raise ValueError(
                    "the recursive strategy with exog needs future_exog: the extra features "
                    f"of the next {self.horizon - 1} steps"
                )
            fx = _exog(future_exog, self.horizon - 1, "future_exog")
            future = ((fx - self.exog_mean_) / self.exog_scale_)[None]
        forecast = self._forecast(window, future)[0] * self.scale_ + self.mean_
        if not return_interval:
            return forecast
        lower, upper = self.residual_quantiles_
        return forecast, forecast + lower, forecast + upper

    # -- model files ----------------------------------------------------------

    # Fitted arrays a model file holds (None, and not saved, without exog).
    _SAVED_ARRAYS = (
        "history_",
        "exog_history_",
        "exog_mean_",
        "exog_scale_",
        "residual_quantiles_",
    )

    def _to_file(self):
        """The forecaster's own fields, and its regressor's under ``inner``/``estimator.``."""
        check_is_fitted(self, "estimator_")
        inner, inner_arrays = files.describe(self.estimator_)
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "estimator"}
        fitted = {
            "mean_": float(self.mean_),
            "scale_": float(self.scale_),
            "n_exog_": int(self.n_exog_),
        }
        arrays = {f"estimator.{k}": v for k, v in inner_arrays.items()}
        for key in self._SAVED_ARRAYS:
            value = getattr(self, key)
            if value is not None:
                arrays[key] = np.asarray(value, np.float64)
        fields = {"params": files.json_value(params), "fitted": fitted, "inner": inner}
        return fields, arrays

    @classmethod
    def _from_file(cls, fields, arrays, trust_patterns):
        if fields["inner"].get("estimator") != "RNNRegressor":  # (checked before, not after,
            raise ValueError("a forecaster's model must be an RNNRegressor")  # a deep nesting)
        inner = files.rebuild(fields["inner"], files.prefixed(arrays, "estimator."))
        est = cls(**fields["params"], estimator=clone(inner))
        est._validate_params()
        fitted = fields["fitted"]
        if not isinstance(fitted, dict) or set(fitted) != {"mean_", "scale_", "n_exog_"}:
            raise ValueError("the forecaster's fitted fields are not mean_, scale_, n_exog_")
        mean, scale, k = fitted["mean_"], fitted["scale_"], fitted["n_exog_"]
        numbers_ok = all(isinstance(v, (int, float)) and np.isfinite(v) for v in (mean, scale))
        if not numbers_ok or scale <= 0:
            raise ValueError("the forecaster's scaling is not two finite numbers with scale_ > 0")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError("n_exog_ is not a count")
        L, H = est.lookback, est.horizon
        shapes = {"history_": (L,), "residual_quantiles_": (2, H)}
        if k:
            shapes.update(exog_history_=(L, k), exog_mean_=(k,), exog_scale_=(k,))
        if set(shapes) != {key for key in cls._SAVED_ARRAYS if key in arrays}:
            raise ValueError("the forecaster's arrays do not match its exogenous features")
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
            files.finite_array(arrays[key], key)
        if k and not np.all(arrays["exog_scale_"] > 0):
            raise ValueError("exog_scale_ is not positive")
        outputs = H if est.strategy == "direct" else 1
        if inner._step_features != 1 + k or inner._n_outputs != outputs:
            raise ValueError(
                "the forecaster's model does not fit its lookback, horizon and features"
            )
        est.estimator_, est.mean_, est.scale_, est.n_exog_ = inner, float(mean), float(scale), k
        for key in cls._SAVED_ARRAYS:
            setattr(est, key, arrays[key].astype(np.float64) if key in arrays else None)
        return est


def cross_validate_forecast(forecaster, y, exog=None, n_splits=5):
    """Score ``forecaster`` on successive origins (scikit-learn's ``TimeSeriesSplit``).

    For each split the forecaster is fitted (a clone) on the series up to the
    split and forecasts the next ``horizon`` values.

    Returns
    -------
    dict
        ``"mae"`` and ``"rmse"``: arrays of shape (n_splits,), one per origin.
    """
    forecaster._validate_params()
    y = _series(y)
    ex = _exog(exog, len(y))
    splits = TimeSeriesSplit(n_splits=n_splits, test_size=forecaster.horizon)
    mae, rmse = [], []
    for train, test in splits.split(y):
        f = clone(forecaster).fit(y[train], None if ex is None else ex[train])
        future = None
        if f.strategy == "recursive" and ex is not None and f.horizon > 1:
            future = ex[test[:-1]]
        err = f.predict(future_exog=future) - y[test]
        mae.append(float(np.mean(np.abs(err))))
        rmse.append(float(np.sqrt(np.mean(err**2))))
    return {"mae": np.array(mae), "rmse": np.array(rmse)}
