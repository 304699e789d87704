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
import warnings

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
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


def _time_index(y, name="y"):
    """``{"kind", "freq", "end"}`` of a pandas Series' DatetimeIndex or PeriodIndex, or None.

    The forecast of a series with one comes back indexed by the periods that
    follow its end; the index must have a regular frequency to name them.
    """
    index = getattr(y, "index", None)
    kind = type(index).__name__
    if kind not in ("DatetimeIndex", "PeriodIndex"):
        return None
    import pandas as pd

    freq = index.freqstr if index.freq is not None else None
    if freq is None and kind == "DatetimeIndex" and len(index) >= 3:
        freq = pd.infer_freq(index)
    if freq is None:
        raise ValueError(
            f"{name}'s {kind} has no regular frequency: give it one (e.g. y.asfreq('MS')) "
            "or pass the values alone"
        )
    return {"kind": kind, "freq": freq, "end": str(index[-1])}


def _future_index(time_index, horizon):
    """The ``horizon`` periods after ``time_index``'s end, as a pandas index."""
    import pandas as pd

    if time_index["kind"] == "PeriodIndex":
        end = pd.Period(time_index["end"], freq=time_index["freq"])
        return pd.period_range(end + 1, periods=horizon, freq=time_index["freq"])
    end = pd.Timestamp(time_index["end"])
    return pd.date_range(end, periods=horizon + 1, freq=time_index["freq"])[1:]


def _panel(y):
    """``(list of series, True)`` for a list of series, ``([series], False)`` for one."""
    if isinstance(y, (list, tuple)) and len(y) and not np.isscalar(y[0]):
        return [_series(s, f"y[{i}]") for i, s in enumerate(y)], True
    return [_series(y)], False


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


#: The ``scaling`` choices of :class:`RNNForecaster`.
SCALINGS = ("auto", "window", "last", "mean", "global")
# What "auto" chooses between, by the error on the newest windows held out.
_AUTO_SCALINGS = ("window", "global")
# The regressor a forecaster fits when given none: early stopping on the
# newest windows, which then calibrate the intervals (see RNNForecaster.fit).
_DEFAULT_ESTIMATOR = dict(early_stopping=True, validation_fraction=0.2, n_iter_no_change=10)


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
    scaling : {"auto", "window", "last", "mean", "global"}, default="auto"
        How each input window and the values after it are scaled for the
        network (and the forecast scaled back): "window" standardises by the
        window's own mean and standard deviation, "last" subtracts the
        window's last value and divides by its size, "mean" divides by the
        window's mean absolute value (DeepAR's mean scaling), "global"
        standardises by the whole training series once. Scaling per window
        keeps a trending series inside the range the network was trained on;
        a series that returns to its mean is better read against its whole
        range. "auto" fits "window" and "global" and keeps the one with the
        smaller error on the newest windows, held out (see :attr:`scaling_`).
    seasonal_period : int, optional
        The season's length in steps (12 for monthly data with a yearly
        season). Each step then also shows the network the value one season
        back, and ``D`` can difference by it.
    d : {0, 1}, default=0
        Difference the series once before windowing (forecasts are
        integrated back).
    D : {0, 1}, default=0
        Difference it by ``seasonal_period`` first.
    random_state : int or None
        For the default estimator.

    Attributes
    ----------
    estimator_ : RNNRegressor
        Fitted on the scaled windows.
    scaling_ : str
        The scaling used ("auto" chooses one).
    mean_, scale_ : float
        Mean and standard deviation of the (differenced) training series:
        the scaling of "global", and the fallback of a window with no spread.
    history_ : ndarray
        The end of the training series that a forecast starts from
        (:attr:`n_history_` values).
    residual_quantiles_ : ndarray of shape (2, horizon)
        Lower and upper quantiles of the errors at each step ahead (on the
        held-out windows, or in-sample), in units of each window's scale.
    n_series_ : int or None
        The number of series of a many-series fit; None for one series.
    time_index_ : dict or None
        The kind, frequency and end of the fitted pandas Series' time index.

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
        "scaling": [StrOptions(set(SCALINGS))],
        "seasonal_period": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "d": [Interval(numbers.Integral, 0, 1, closed="both")],
        "D": [Interval(numbers.Integral, 0, 1, closed="both")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        lookback=12,
        horizon=1,
        strategy="direct",
        estimator=None,
        interval=0.9,
        scaling="auto",
        seasonal_period=None,
        d=0,
        D=0,
        random_state=None,
    ):
        self.lookback = lookback
        self.horizon = horizon
        self.strategy = strategy
        self.estimator = estimator
        self.interval = interval
        self.scaling = scaling
        self.seasonal_period = seasonal_period
        self.d = d
        self.D = D
        self.random_state = random_state

    # -- the shape of a window -------------------------------------------------

    @property
    def _season(self):
        """The seasonal lag shown beside each step (0 without a season)."""
        m = self.seasonal_period
        return m if m is not None and m > 1 else 0

    @property
    def n_history_(self):
        """Raw values a forecast needs: the window, the season before it, the differencing."""
        m = self._season
        return self.lookback + m + self.d + self.D * m

    def _difference(self, a):
        """``a [..., n]`` differenced (``D`` by the season, then ``d``) along its last axis."""
        m = self._season
        if self.D:
            a = a[..., m:] - a[..., :-m]
        if self.d:
            a = np.diff(a, axis=-1)
        return a

    def _integrate(self, w, history):
        """Undo :meth:`_difference` for ``w [n, h]`` following ``history [n, n_history_]``."""
        m = self._season
        if self.d:
            seasonal = history[:, m:] - history[:, :-m] if self.D else history
            w = np.cumsum(w, axis=1) + seasonal[:, -1:]
        if self.D:
            y = np.concatenate([history[:, -m:], np.empty_like(w)], axis=1)
            for j in range(w.shape[1]):
                y[:, m + j] = w[:, j] + y[:, j]
            w = y[:, m:]
        return w

    def _window_stats(self, win, idx):
        """Each window's location and scale ``([n], [n])`` under ``scaling_``; ``idx``:
        the series each window is from (whose scale "global" uses, and a flat window)."""
        n = len(win)
        series_mean, series_scale = np.atleast_1d(self.mean_), np.atleast_1d(self.scale_)
        if self.scaling_ == "global":
            return series_mean[idx], series_scale[idx]
        if self.scaling_ == "window":
            loc, size = win.mean(axis=1), win.std(axis=1)
        elif self.scaling_ == "last":
            loc, size = win[:, -1], np.abs(win[:, -1])
        else:  # "mean"
            loc, size = np.zeros(n), np.abs(win).mean(axis=1)
        # A window without spread (or a zero last value) falls back to the series' scale.
        flat = size <= 1e-8 * np.maximum(1.0, np.abs(win).max(axis=1))
        return loc, np.where(flat, series_scale[idx], size)

    def _inputs(self, z, zx):
        """Network inputs ``[n, lookback, features]`` for the last ``lookback`` steps of ``z``.

        ``z [n, >= lookback + season]`` is the scaled, differenced series;
        ``zx [n, lookback, k]`` the scaled exogenous features or None.
        """
        L, m = self.lookback, self._season
        cols = [z[:, -L:]]
        if m:
            cols.append(z[:, -L - m : z.shape[1] - m])
        X = np.stack(cols, axis=2)
        return X if zx is None else np.concatenate([X, zx], axis=2)

    # -- fitting -----------------------------------------------------------------

    def fit(self, y, exog=None):
        """Fit on the series ``y`` (and extra features ``exog`` per step).

        Parameters
        ----------
        y : array-like of shape (n,), or a list of them
            One series, or many (of any lengths that hold a window and a
            horizon): one network learns from the windows of every series
            (a global model), each window scaled on its own. A pandas Series
            with a DatetimeIndex or PeriodIndex (of a regular frequency) gets
            its forecasts indexed by the periods that follow it.
        exog : array-like of shape (n,) or (n, k), optional
            With one series only.

        Returns
        -------
        self
        """
        # A fit that raises leaves a fitted forecaster as it was (the fit sets
        # fields one by one; the old regressor is never refitted, only replaced).
        before = dict(self.__dict__)
        try:
            return self._fit(y, exog)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, y, exog):
        from fastrnn._estimators import RNNRegressor

        self._validate_params()
        if self.D and not self._season:
            raise ValueError("D=1 differences by the season: give seasonal_period > 1")
        series, panel = _panel(y)
        self.time_index_ = None if panel else _time_index(y)
        if panel and exog is not None:
            raise ValueError(
                "exog goes with one series; for many, fit them without exog (or one "
                "forecaster per series)"
            )
        exogs = None if exog is None else [_exog(exog, len(series[0]))]
        need, steps = self.n_history_, (self.horizon if self.strategy == "direct" else 1)
        for i, s in enumerate(series):
            if len(s) < need + self.horizon:
                raise ValueError(
                    f"{f'series {i}' if panel else 'the series'} has {len(s)} values; "
                    f"lookback={self.lookback}"
                    + (f", the season of {self._season}" if self._season else "")
                    + (" and the differencing" if self.d or self.D else "")
                    + f" plus horizon={self.horizon} needs at least {need + self.horizon} values"
                )
        diffs = [self._difference(s) for s in series]
        mean = np.array([w.mean() for w in diffs])
        scale = np.array([float(_scale(w)) for w in diffs])
        self.mean_, self.scale_ = (mean, scale) if panel else (float(mean[0]), float(scale[0]))
        ex = None if exogs is None else exogs[0]
        self.exog_mean_ = None if ex is None else ex.mean(axis=0)
        self.exog_scale_ = None if ex is None else _scale(ex)
        self.n_exog_ = 0 if ex is None else ex.shape[1]
        self.n_series_ = len(series) if panel else None

        if self.estimator is None:
            est = RNNRegressor(**_DEFAULT_ESTIMATOR, random_state=self.random_state)
        else:
            est = clone(self.estimator)
        self.history_ = np.stack([s[-need:] for s in series]) if panel else series[0][-need:]
        self.exog_history_ = None if ex is None else ex[-need:]
        early = bool(getattr(est, "early_stopping", False))
        if not early and self.scaling != "auto":
            self.scaling_ = self.scaling
            self.estimator_ = est.fit(*self._training_windows(series, exogs, steps))
            self.residual_quantiles_ = self._quantiles(self._errors(series, exogs))
            return self
        # Hold out the newest windows (early stopping does): a model fitted
        # without them says how wrong a forecast is on data it has not seen
        # (in-sample errors are too small: the intervals would cover too
        # little), which scaling forecasts better ("auto"), and how many
        # epochs to train; the model kept is then trained that long on every
        # window, the newest included.
        held_out = est.validation_fraction if early else _DEFAULT_ESTIMATOR["validation_fraction"]
        probe = clone(est).set_params(early_stopping=True, validation_fraction=held_out)
        best = None
        for scaling in _AUTO_SCALINGS if self.scaling == "auto" else (self.scaling,):
            self.scaling_ = scaling
            X, Y = self._training_windows(series, exogs, steps)
            self.estimator_ = clone(probe).fit(X, Y)
            errors, mae = self._errors(series, exogs, held_out)
            epochs = int(np.argmin(self.estimator_.validation_loss_curve_)) + 1
            if best is None or mae < best[0]:
                best = (mae, scaling, self._quantiles((errors, mae)), epochs, X, Y)
        _, self.scaling_, quantiles, epochs, X, Y = best
        if early:
            est.set_params(early_stopping=False, max_iter=epochs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the point
            self.estimator_ = est.fit(X, Y)
        if not early:
            quantiles = self._quantiles(self._errors(series, exogs))
        self.residual_quantiles_ = quantiles
        return self

    def _rows(self, series, exogs, length, held_out=None):
        """Every stretch of ``length`` values of every series, oldest first.

        Returns ``(raw [n, length], exog rows [n, length, k] or None, series
        index [n])``, ordered by how far each stretch ends from its series'
        end, farthest first: the last rows are the newest of every series
        (the ones early stopping holds out). ``held_out``: only the last
        share of them.
        """
        raws, exs, idx, ages = [], [], [], []
        for i, y in enumerate(series):
            starts = np.arange(len(y) - length + 1)
            raws.append(y[starts[:, None] + np.arange(length)])
            if exogs is not None:
                exs.append(exogs[i][starts[:, None] + np.arange(length)])
            idx.append(np.full(len(starts), i))
            ages.append(starts[::-1])
        order = np.argsort(-np.concatenate(ages), kind="stable")
        if held_out is not None:
            order = order[-max(1, int(round(held_out * len(order)))) :]
        ex = None if exogs is None else np.concatenate(exs)[order]
        return np.concatenate(raws)[order], ex, np.concatenate(idx)[order]

    def _training_windows(self, series, exogs, steps):
        """Scaled inputs ``[n, lookback, features]`` and targets ``[n, steps]``."""
        need, L = self.n_history_, self.lookback
        raw, xr, idx = self._rows(series, exogs, need + steps)
        w = self._difference(raw)  # [n, season + lookback + steps]
        loc, scale = self._window_stats(w[:, -L - steps : w.shape[1] - steps], idx)
        z = (w - loc[:, None]) / scale[:, None]
        zx = None if xr is None else (xr[:, need - L : need] - self.exog_mean_) / self.exog_scale_
        Y = z[:, -steps:]
        return self._inputs(z[:, :-steps], zx), (Y[:, 0] if steps == 1 else Y)

    def _errors(self, series, exogs, held_out=None):
        """Forecast errors ``[n, horizon]`` in units of each window's scale, and their
        mean absolute value in the series' units.

        Over every window, or the last ``held_out`` share of them (the
        windows a model fitted with early stopping did not train on).
        """
        need, H = self.n_history_, self.horizon
        raw, xr, idx = self._rows(series, exogs, need + H, held_out)
        hist, truth = raw[:, :need], raw[:, need:]
        hist_ex = future = None
        if xr is not None:
            hist_ex = xr[:, :need]
            if self.strategy == "recursive" and H > 1:
                future = xr[:, need : need + H - 1]
        forecast, scale = self._forecast(hist, idx, hist_ex, future)
        # The mean error in each series' own scale: comparable across scalings and series.
        series_scale = np.atleast_1d(self.scale_)[idx]
        mae = float(np.mean(np.abs(truth - forecast) / series_scale[:, None]))
        return (truth - forecast) / scale[:, None], mae

    def _quantiles(self, errors):
        """The interval's quantiles ``[2, horizon]`` of :meth:`_errors`' scaled errors."""
        alpha = (1 - self.interval) / 2
        return np.quantile(errors[0], [alpha, 1 - alpha], axis=0)

    # -- forecasting ---------------------------------------------------------------

    def _forecast(self, hist, idx, hist_ex=None, future_ex=None):
        """Forecasts ``[n, horizon]`` in the series' units after each row of ``hist``
        ``[n, n_history_]`` (of the series ``idx [n]``), and each window's scale ``[n]``."""
        L, H = self.lookback, self.horizon
        w = self._difference(hist)
        loc, scale = self._window_stats(w[:, -L:], idx)
        z = (w - loc[:, None]) / scale[:, None]
        zx = None
        if hist_ex is not None:
            zx = (hist_ex[:, -L:] - self.exog_mean_) / self.exog_scale_
        if self.strategy == "direct":
            out = self.estimator_.predict(self._inputs(z, zx)).reshape(len(z), H)
        else:
            out = np.empty((len(z), H))
            for h in range(H):
                out[:, h] = self.estimator_.predict(self._inputs(z, zx))
                z = np.concatenate([z, out[:, h : h + 1]], axis=1)
                if zx is not None and h < H - 1:
                    fx = (future_ex[:, h] - self.exog_mean_) / self.exog_scale_
                    zx = np.concatenate([zx[:, 1:], fx[:, None]], axis=1)
        return self._integrate(out * scale[:, None] + loc[:, None], hist), scale

    def predict(self, history=None, exog_history=None, future_exog=None, return_interval=False):
        """Forecast the ``horizon`` values after ``history``.

        Parameters
        ----------
        history : array-like of shape (>= n_history_,), optional
            Recent values of the series; default the end of the series fitted.
            A model fitted on many series takes a list of them, one per
            series, in the order of ``fit``.
        exog_history : array-like of shape (len(history), k), optional
            Their extra features (models fitted with ``exog``).
        future_exog : array-like of shape (horizon - 1, k), optional
            The extra features of the steps being forecast, except the last;
            needed by the recursive strategy with ``exog``.
        return_interval : bool, default=False

        Returns
        -------
        forecast : ndarray of shape (horizon,), or (n_series, horizon)
            for a model fitted on many series; a pandas Series indexed by the
            next periods when the series (``history``, or the one fitted, if
            no history is given) had a DatetimeIndex or PeriodIndex
        lower, upper : ndarray of the same shape
            With ``return_interval``: the interval of coverage ``interval``.
        """
        check_is_fitted(self, "estimator_")
        need, panel = self.n_history_, self.n_series_ is not None
        time_index = self.time_index_
        if history is None:
            if exog_history is not None:
                raise ValueError("exog_history goes with history: pass both or neither")
            hist, exog_history = np.atleast_2d(self.history_), self.exog_history_
        else:
            series, given_panel = _panel(history)
            time_index = None if given_panel else _time_index(history, "history")
            if given_panel != panel or (panel and len(series) != self.n_series_):
                raise ValueError(
                    f"history must be a list of {self.n_series_} series, as fitted"
                    if panel
                    else "history must be one series, as fitted"
                )
            for i, s in enumerate(series):
                if len(s) < need:
                    raise ValueError(
                        f"history{f'[{i}]' if panel else ''} has {len(s)} values; the model "
                        f"needs the last {need} (lookback, season and differencing)"
                    )
            hist = np.stack([s[-need:] for s in series])
            exog_history = _exog(exog_history, len(series[0]), "exog_history")
        if (exog_history is None) != (self.n_exog_ == 0):
            raise ValueError(
                f"the model was fitted with {self.n_exog_} exogenous features; "
                "pass exog_history with history exactly when it has some"
            )
        future = None
        if self.strategy == "recursive" and self.n_exog_ and self.horizon > 1:
            if future_exog is None:
                raise ValueError(
                    "the recursive strategy with exog needs future_exog: the extra features "
                    f"of the next {self.horizon - 1} steps"
                )
            future = _exog(future_exog, self.horizon - 1, "future_exog")[None]
        hist_ex = None if exog_history is None else exog_history[-need:][None]
        forecast, scale = self._forecast(hist, np.arange(len(hist)), hist_ex, future)
        lower = forecast + self.residual_quantiles_[0] * scale[:, None]
        upper = forecast + self.residual_quantiles_[1] * scale[:, None]
        if not panel:
            forecast, lower, upper = forecast[0], lower[0], upper[0]
        if time_index is not None:  # a pandas series in: its future periods out
            import pandas as pd

            future_index = _future_index(time_index, self.horizon)
            forecast, lower, upper = (
                pd.Series(a, index=future_index, name=name)
                for a, name in ((forecast, "forecast"), (lower, "lower"), (upper, "upper"))
            )
        return (forecast, lower, upper) if return_interval else forecast

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
            "mean_": files.json_value(self.mean_.tolist() if self.n_series_ else self.mean_),
            "scale_": files.json_value(self.scale_.tolist() if self.n_series_ else self.scale_),
            "n_exog_": int(self.n_exog_),
            "scaling_": self.scaling_,
            "n_series_": self.n_series_,
            "time_index_": self.time_index_,
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
        keys = {"mean_", "scale_", "n_exog_", "scaling_", "n_series_", "time_index_"}
        if not isinstance(fitted, dict) or set(fitted) != keys:
            raise ValueError(f"the forecaster's fitted fields are not {sorted(keys)}")
        scaling, n_series, k = fitted["scaling_"], fitted["n_series_"], fitted["n_exog_"]
        if scaling not in SCALINGS[1:] or est.scaling not in ("auto", scaling):
            raise ValueError(f"scaling_ {scaling!r} does not fit scaling={est.scaling!r}")
        if n_series is not None and (
            isinstance(n_series, bool) or not isinstance(n_series, int) or n_series < 1
        ):
            raise ValueError("n_series_ is not a count")
        count = 1 if n_series is None else n_series
        mean, scale = (
            np.atleast_1d(np.asarray(fitted[key], dtype=np.float64)) for key in ("mean_", "scale_")
        )
        if mean.shape != (count,) or scale.shape != (count,):
            raise ValueError(f"mean_ and scale_ are not {count} numbers each")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("the forecaster's scaling is not finite numbers with scale_ > 0")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0 or (k and n_series):
            raise ValueError("n_exog_ is not a count (of one series' features)")
        if est.D and not est._season:
            raise ValueError("D=1 without a seasonal_period")
        need, H = est.n_history_, est.horizon
        shapes = {
            "history_": (need,) if n_series is None else (n_series, need),
            "residual_quantiles_": (2, H),
        }
        if k:
            shapes.update(exog_history_=(need, k), exog_mean_=(k,), exog_scale_=(k,))
        if set(shapes) != {key for key in cls._SAVED_ARRAYS if key in arrays}:
            raise ValueError("the forecaster's arrays do not match its exogenous features")
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
            files.finite_array(arrays[key], key)
        if k and not np.all(arrays["exog_scale_"] > 0):
            raise ValueError("exog_scale_ is not positive")
        outputs = H if est.strategy == "direct" else 1
        if inner._step_features != 1 + (est._season > 0) + k or inner._n_outputs != outputs:
            raise ValueError(
                "the forecaster's model does not fit its lookback, horizon and features"
            )
        time_index = fitted["time_index_"]
        if time_index is not None:
            kind = time_index.get("kind") if isinstance(time_index, dict) else None
            if kind not in ("DatetimeIndex", "PeriodIndex") or set(time_index) != {
                "kind",
                "freq",
                "end",
            }:
                raise ValueError("time_index_ is not a DatetimeIndex's or PeriodIndex's end")
            try:
                _future_index(time_index, 1)
            except (TypeError, ValueError, ImportError) as exc:
                raise ValueError(f"time_index_ does not name periods: {exc}") from exc
        est.time_index_ = time_index
        est.estimator_, est.n_exog_, est.scaling_, est.n_series_ = inner, k, scaling, n_series
        est.mean_, est.scale_ = (
            (mean, scale) if n_series is not None else (float(mean[0]), float(scale[0]))
        )
        for key in cls._SAVED_ARRAYS:
            setattr(est, key, arrays[key].astype(np.float64) if key in arrays else None)
        return est


def mase(y_train, y_test, forecast, m=1):
    """Mean absolute scaled error: the forecast's mean absolute error over that of the
    in-sample seasonal-naive forecast (``m`` steps back; 1: the naive one)."""
    scale = np.mean(np.abs(y_train[m:] - y_train[:-m]))
    return float(np.mean(np.abs(y_test - forecast)) / scale)


def smape(y_test, forecast):
    """Symmetric mean absolute percentage error, as a fraction in [0, 2] (M4's, over 100)."""
    denominator = np.abs(y_test) + np.abs(forecast)
    ratio = np.divide(
        2 * np.abs(y_test - forecast),
        denominator,
        where=denominator > 0,
        out=np.zeros_like(denominator),
    )
    return float(np.mean(ratio))


def cross_validate_forecast(forecaster, y, exog=None, n_splits=5):
    """Score ``forecaster`` on successive origins (scikit-learn's ``TimeSeriesSplit``).

    For each split the forecaster is fitted (a clone) on the series up to the
    split and forecasts the next ``horizon`` values, with its interval.

    Returns
    -------
    dict of ndarray of shape (n_splits,), one value per origin
        ``"mae"``, ``"rmse"``; ``"mase"`` (over the in-sample seasonal-naive
        error, ``seasonal_period`` steps back, or the naive one); ``"smape"``
        (a fraction in [0, 2]); ``"coverage"``: the share of the values
        inside the forecast's interval (nominal: ``interval``).
    """
    forecaster._validate_params()
    y = _series(y)
    ex = _exog(exog, len(y))
    splits = TimeSeriesSplit(n_splits=n_splits, test_size=forecaster.horizon)
    m = forecaster.seasonal_period or 1
    scores = {key: [] for key in ("mae", "rmse", "mase", "smape", "coverage")}
    for train, test in splits.split(y):
        f = clone(forecaster).fit(y[train], None if ex is None else ex[train])
        future = None
        if f.strategy == "recursive" and ex is not None and f.horizon > 1:
            future = ex[test[:-1]]
        forecast, lower, upper = f.predict(future_exog=future, return_interval=True)
        truth = y[test]
        err = forecast - truth
        scores["mae"].append(float(np.mean(np.abs(err))))
        scores["rmse"].append(float(np.sqrt(np.mean(err**2))))
        scores["mase"].append(mase(y[train], truth, forecast, m))
        scores["smape"].append(smape(truth, forecast))
        scores["coverage"].append(float(np.mean((truth >= lower) & (truth <= upper))))
    return {key: np.array(values) for key, values in scores.items()}
