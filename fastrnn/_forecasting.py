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
from scipy.stats import norm
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import TimeSeriesSplit
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from fastrnn import _forecast_data as data
from fastrnn import _persistence as files
from fastrnn import _validation as val
from fastrnn._doc_link import DocLinked

#: The ``strategy`` choices of :class:`RNNForecaster`.
STRATEGIES = ("mimo", "direct", "recursive")
#: Its ``uncertainty`` choices.
UNCERTAINTIES = ("auto", "residuals", "quantile", "gaussian")
#: Its ``scaling`` choices.
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
        The series, oldest value first.
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
    y = data.series(series, "series")
    lookback = val.check_positive_int(lookback, "lookback")
    horizon = val.check_positive_int(horizon, "horizon")
    stride = val.check_positive_int(stride, "stride")
    ex = data.exog(exog, len(y))
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


class RNNForecaster(DocLinked, files.SavedModel, BaseEstimator):
    """Forecast the next ``horizon`` values of one series or many with a recurrent network.

    Parameters
    ----------
    lookback : int, default=12
        Past steps the network sees.
    horizon : int, default=1
        Steps ahead to forecast.
    strategy : {"mimo", "direct", "recursive"}, default="mimo"
        "mimo" (multi-input multi-output): one network outputs all
        ``horizon`` values at once. "direct": one network per step ahead
        (``horizon`` networks, each fitted on its own). "recursive": a
        one-step network whose forecasts are fed back as inputs (with
        ``exog``, the future exogenous values must then be given). "mimo"
        is the default by measurement: on the evaluation panel of
        ``fastrnn bench --forecast`` (with residual intervals) its mean MASE
        was 0.673, against 0.751 for "direct" (at ten times the fitting
        time) and 0.776 for "recursive", whose errors compound.
    estimator : RNNRegressor, optional
        The regressor to fit on the windows (cloned; ``uncertainty`` sets its
        ``loss`` unless it is "residuals"); default
        ``RNNRegressor(early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=10, random_state=random_state)``.
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
        back (and, with ``season_features``, its position in the season),
        and ``D`` can difference by it.
    d : {0, 1}, default=0
        Difference the series once before windowing (forecasts are
        integrated back).
    D : {0, 1, "auto"}, default="auto"
        Difference it by ``seasonal_period`` first. "auto": with a season,
        also fit on the seasonal differences (with "global" scaling, which
        suits a series the differencing made stationary) and keep whichever
        has the smaller error on the newest windows, held out (see
        :attr:`D_`); without a season, 0. On the evaluation panel it chose
        the differences for the one series with a strong, steady season
        (``elec_equip``: MASE 0.541 -> 0.207), at a third more fitting time
        for a seasonal series.
    season_features : bool, default=True
        Show each step's position in its cycles as a sine and a cosine: the
        calendar's (a month's place in the year; a day's in the week and the
        year; an hour's in the day and the week) when the series has a time
        index, and the ``seasonal_period``'s. The steps of a series without
        times are numbered from its first value, in ``fit`` and in
        ``predict(history)`` alike.
    series_id : bool, default=False
        With many series: also show the network which series a window is
        from, as a one-hot input per step (its columns of the first layer's
        input weights are a learned embedding of each series).
    uncertainty : {"auto", "quantile", "gaussian", "residuals"}, default="auto"
        Where the intervals come from. "quantile": the network also predicts
        the interval's quantiles, trained with the pinball loss (its middle
        output, the median, is the forecast). "gaussian": it predicts a mean
        and a standard deviation per step (Gaussian likelihood). Both let
        the width follow the window, and are widened where the held-out
        windows need it; with ``d`` or ``D`` their bounds are integrated
        like the forecast (wider than exact, not narrower). "residuals": the
        quantiles of the forecast errors per step ahead on the held-out
        windows (or in sample), scaled by each window's scale. "auto":
        "quantile", except with the recursive strategy (which feeds back one
        value, not a distribution): "residuals". On the evaluation panel of
        ``fastrnn bench --forecast`` the quantile head had both the smaller
        error (mean MASE 0.626 against 0.673 with residuals, 0.701 with the
        Gaussian head) and the better coverage of 80% intervals (75%
        against 68% and 70%).
    random_state : int, RandomState instance or None, default=None
        The ``random_state`` of the default estimator (a given ``estimator``
        keeps its own).

    Attributes
    ----------
    estimators_ : list of RNNRegressor
        Fitted on the scaled windows: one, or one per step ahead ("direct").
    estimator_ : RNNRegressor
        The first of them.
    scaling_ : str
        The scaling used ("auto" chooses one).
    D_ : int
        The seasonal differencing used.
    validation_loss_curve_ : list of float
        The held-out windows' loss per epoch in the fit that chose the
        scaling, differencing and number of epochs (the first network's;
        empty without holding out).
    mean_, scale_ : float, or ndarray of shape (n_series,)
        Mean and standard deviation of each (differenced) training series:
        the scaling of "global", and the fallback of a window with no spread.
    history_ : ndarray of shape (``n_history_``,) or (n_series, ``n_history_``)
        The end of each training series that a forecast starts from (a
        series shorter than that is padded in front with NaN).
    history_start_ : int or ndarray of shape (n_series,)
        The position of ``history_``'s first value on each series' time
        axis (see ``season_features``).
    interval_offsets_ : ndarray of shape (2, horizon)
        What the interval adds at each step ahead, in units of each window's
        scale: the lower and upper quantiles of the errors (on the held-out
        windows, or in-sample) around the forecast; with a distribution
        head, how far its bounds widen to cover ``interval`` of the held-out
        values (conformalized quantile regression; never narrower).
    cycles_ : tuple of float
        The cycles whose phase each step shows (``season_features``).
    n_series_ : int or None
        The number of series of a many-series fit; None for one series.
    series_ids_ : list or None
        The ids of a long DataFrame's series, in the order of ``n_series_``.
    time_index_ : dict or None
        The kind, frequency and end (one, or each series') of the fitted
        time axis.

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
        "strategy": [StrOptions(set(STRATEGIES))],
        "estimator": [HasMethods(["fit", "predict"]), None],
        "interval": [Interval(numbers.Real, 0, 1, closed="neither")],
        "scaling": [StrOptions(set(SCALINGS))],
        "seasonal_period": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "d": [Interval(numbers.Integral, 0, 1, closed="both")],
        "D": [Interval(numbers.Integral, 0, 1, closed="both"), StrOptions({"auto"})],
        "season_features": ["boolean"],
        "series_id": ["boolean"],
        "uncertainty": [StrOptions(set(UNCERTAINTIES))],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        lookback=12,
        horizon=1,
        strategy="mimo",
        estimator=None,
        interval=0.9,
        scaling="auto",
        seasonal_period=None,
        d=0,
        D="auto",
        season_features=True,
        series_id=False,
        uncertainty="auto",
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
        self.season_features = season_features
        self.series_id = series_id
        self.uncertainty = uncertainty
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
        return self.lookback + m + self.d + self.D_ * m

    @property
    def _shortest_history(self):
        """The fewest values a history of one of many series may have: one step to read."""
        return self.d + self.D_ * self._season + 1

    def _n_features(self, n_exog, cycles, n_series):
        """Features per step: the value, its season-back lag, exog, phases, series id."""
        ids = n_series if self.series_id and n_series else 0
        return 1 + (self._season > 0) + n_exog + 2 * len(cycles) + ids

    def _difference(self, a):
        """``a [..., n]`` differenced (``D`` by the season, then ``d``) along its last axis."""
        m = self._season
        if self.D_:
            a = a[..., m:] - a[..., :-m]
        if self.d:
            a = np.diff(a, axis=-1)
        return a

    def _integrate(self, w, history):
        """Undo :meth:`_difference` for ``w [n, h]`` following ``history [n, n_history_]``."""
        m = self._season
        if self.d:
            seasonal = history[:, m:] - history[:, :-m] if self.D_ else history
            w = np.cumsum(w, axis=1) + seasonal[:, -1:]
        if self.D_:
            y = np.concatenate([history[:, -m:], np.empty_like(w)], axis=1)
            for j in range(w.shape[1]):
                y[:, m + j] = w[:, j] + y[:, j]
            w = y[:, m:]
        return w

    def _window_stats(self, win, idx):
        """Each window's location and scale ``([n], [n])`` under ``scaling_``; ``idx``:
        the series each window is from (whose scale "global" uses, and a flat window).
        A short series' window is padded in front with NaN (left out)."""
        n = len(win)
        series_mean, series_scale = np.atleast_1d(self.mean_), np.atleast_1d(self.scale_)
        if self.scaling_ == "global":
            return series_mean[idx], series_scale[idx]
        padded = np.isnan(win[:, 0]).any()
        mean, std = (np.nanmean, np.nanstd) if padded else (np.mean, np.std)
        if self.scaling_ == "window":
            loc, size = mean(win, axis=1), std(win, axis=1)
        elif self.scaling_ == "last":
            loc, size = win[:, -1], np.abs(win[:, -1])
        else:  # "mean"
            loc, size = np.zeros(n), mean(np.abs(win), axis=1)
        # A window without spread (or a zero last value) falls back to the series' scale.
        top = np.nanmax(np.abs(win), axis=1) if padded else np.abs(win).max(axis=1)
        flat = size <= 1e-8 * np.maximum(1.0, top)
        return loc, np.where(flat, series_scale[idx], size)

    def _inputs(self, z, zx, idx, start):
        """Network inputs for the last ``lookback`` steps of ``z``.

        ``z [n, >= lookback + season]`` is the scaled, differenced series;
        ``zx [n, lookback, k]`` the scaled exogenous features or None;
        ``idx [n]`` each row's series and ``start [n]`` the position of its
        raw history's first value. Rows of short series (NaN in front)
        become a list of shorter sequences (the kernels take ragged
        batches); otherwise an array ``[n, lookback, features]``.
        """
        L, m, n = self.lookback, self._season, len(z)
        cols = [z[:, -L:]]
        if m:
            cols.append(z[:, -L - m : z.shape[1] - m])
        parts = [np.stack(cols, axis=2)]
        if zx is not None:
            parts.append(zx)
        if self.cycles_:
            # The window's last step is the history's last: n_history_ - 1 past its start.
            positions = np.asarray(start)[:, None] + (self.n_history_ - L + np.arange(L))
            parts.append(data.season_features(positions, self.cycles_))
        if self.series_id and self.n_series_:
            one_hot = np.zeros((n, L, self.n_series_))
            one_hot[np.arange(n), :, idx] = 1.0
            parts.append(one_hot)
        X = np.concatenate(parts, axis=2) if len(parts) > 1 else parts[0]
        steps = np.count_nonzero(~np.isnan(X[:, :, 0]), axis=1)
        if np.isnan(X).any():  # a lag from before a short series' start: none (0)
            X = np.nan_to_num(X, nan=0.0)
        if np.all(steps == L):
            return X
        return [X[i, L - steps[i] :] for i in range(n)]

    # -- fitting -----------------------------------------------------------------

    def fit(self, y, exog=None, *, id_col="unique_id", time_col="ds", target_col="y"):
        """Fit on the series ``y`` (and extra features ``exog`` per step).

        Parameters
        ----------
        y : array-like of shape (n,), a list of them, or a long DataFrame
            One series (a pandas Series with a DatetimeIndex or PeriodIndex
            of a regular frequency gets its forecasts indexed by the periods
            that follow it), or many: a list of series of any lengths, or a
            DataFrame with one row per series and time (columns ``id_col``,
            ``time_col``, ``target_col``). One network learns from the
            windows of every series (a global model), each window scaled on
            its own; a series shorter than ``n_history_`` gives one shorter
            window (padded: the kernels take ragged batches).
        exog : array-like of shape (n,) or (n, k), optional
            Extra features per step of the series, shown to the network beside
            it (each feature standardised); with one series only.
        id_col, time_col, target_col : str
            The columns of a long DataFrame (statsforecast's names by
            default: "unique_id", "ds" and "y").

        Returns
        -------
        RNNForecaster
            The fitted forecaster, ``self``. A fit that raises leaves a fitted
            forecaster as it was.
        """
        # A fit that raises leaves a fitted forecaster as it was (the fit sets
        # fields one by one; the old regressor is never refitted, only replaced).
        before = dict(self.__dict__)
        try:
            return self._fit(y, exog, (id_col, time_col, target_col))
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _template(self):
        """The regressor to clone for each network, its loss set by ``uncertainty``."""
        from fastrnn._estimators import RNNRegressor

        if self.estimator is None:
            est = RNNRegressor(**_DEFAULT_ESTIMATOR, random_state=self.random_state)
        else:
            est = clone(self.estimator)
        if self._uncertainty == "quantile":
            alpha = (1 - self.interval) / 2
            est.set_params(loss="quantile", quantiles=(alpha, 0.5, 1 - alpha))
        elif self._uncertainty == "gaussian":
            est.set_params(loss="gaussian")
        return est

    @property
    def _uncertainty(self):
        """``uncertainty`` with "auto" resolved: the strategy decides."""
        if self.uncertainty != "auto":
            return self.uncertainty
        return "residuals" if self.strategy == "recursive" else "quantile"

    def _fit(self, y, exog, columns):
        self._validate_params()
        if self.D == 1 and not self._season:
            raise ValueError("D=1 differences by the season: give seasonal_period > 1")
        if self.strategy == "recursive" and self.uncertainty in ("quantile", "gaussian"):
            raise ValueError(
                f"uncertainty={self.uncertainty!r} needs the mimo or direct strategy (a "
                "recursive forecast feeds back one value, not a distribution)"
            )
        panel = data.read(y, "y", *columns)
        many, series = panel.form != "one", panel.values
        if many and exog is not None:
            raise ValueError(
                "exog goes with one series; for many, fit them without exog (or one "
                "forecaster per series)"
            )
        if self.series_id and not many:
            raise ValueError("series_id tells many series apart: fit a list or a long DataFrame")
        exogs = None if exog is None else [data.exog(exog, len(series[0]))]
        # The seasonal differencings to try: D, or with "auto" none and (where
        # every series is long enough for it) one.
        if self.D != "auto":
            differencings = [self.D]
        else:
            differencings = [0] + [1] * bool(self._season)
        self.D_ = differencings[0]
        self._check_lengths(series, panel.ids, many)
        if len(differencings) > 1:
            try:
                self.D_ = 1
                self._check_lengths(series, panel.ids, many)
            except ValueError:
                differencings = [0]
        ex = None if exogs is None else exogs[0]
        self.exog_mean_ = None if ex is None else ex.mean(axis=0)
        self.exog_scale_ = None if ex is None else _scale(ex)
        self.n_exog_ = 0 if ex is None else ex.shape[1]
        self.n_series_ = len(series) if many else None
        self.series_ids_ = panel.ids
        self.time_index_ = panel.time
        self.cycles_ = self._cycles(panel.time)
        starts = panel.starts
        steps = self.horizon if self.strategy != "recursive" else 1

        est = self._template()
        early = bool(getattr(est, "early_stopping", False))
        scalings = _AUTO_SCALINGS if self.scaling == "auto" else (self.scaling,)
        if not early and len(scalings) == 1 and len(differencings) == 1:
            self.scaling_ = self.scaling
            self._set_differencing(differencings[0], series, panel, ex)
            X, Y = self._training_windows(series, exogs, starts, steps)
            self._set_networks(self._fit_networks(est, X, Y))
            self.interval_offsets_ = self._offsets(self._errors(series, exogs, starts))
            self.validation_loss_curve_ = []
            return self
        # Hold out the newest windows (early stopping does): a model fitted
        # without them says how wrong a forecast is on data it has not seen
        # (in-sample errors are too small: the intervals would cover too
        # little), which scaling and differencing forecast better ("auto"),
        # and how many epochs to train; the model kept is then trained that
        # long on every window, the newest included. Seasonal differencing is
        # tried with global scaling only (a third fit, not a fourth): the
        # differences of a seasonal series are what returns to its mean.
        held_out = est.validation_fraction if early else _DEFAULT_ESTIMATOR["validation_fraction"]
        probe = clone(est).set_params(early_stopping=True, validation_fraction=held_out)
        candidates = [(sc, 0 if len(differencings) > 1 else differencings[0]) for sc in scalings]
        if len(differencings) > 1:
            candidates.append((scalings[-1], 1))
        best = None
        for scaling, D in candidates:
            self.scaling_ = scaling
            self._set_differencing(D, series, panel, ex)
            X, Y = self._training_windows(series, exogs, starts, steps)
            if len(Y) < 2:
                raise ValueError(
                    f"the series give {len(Y)} training window; holding out the newest "
                    "(to calibrate the intervals and stop early) needs 2 or more: give more "
                    "values, a shorter lookback, or an estimator without early_stopping"
                )
            self._set_networks(self._fit_networks(probe, X, Y))
            errors = self._errors(series, exogs, starts, held_out)
            mae = errors[1]
            epochs = [int(np.argmin(e.validation_loss_curve_)) + 1 for e in self.estimators_]
            if best is None or mae < best[0]:
                curve = [float(v) for v in self.estimators_[0].validation_loss_curve_]
                best = (mae, scaling, D, self._offsets(errors), epochs, X, Y, curve)
        _, self.scaling_, D, quantiles, epochs, X, Y, self.validation_loss_curve_ = best
        self._set_differencing(D, series, panel, ex)
        self._set_networks(self._fit_networks(est, X, Y, epochs if early else None))
        if not early:
            quantiles = self._offsets(self._errors(series, exogs, starts))
        self.interval_offsets_ = quantiles
        return self

    def _check_lengths(self, series, ids, many):
        """Refuse a series too short for a window (one of many: for one step) and a horizon."""
        need, H = self.n_history_, self.horizon
        least = (self._shortest_history if many else need) + H
        reads = ", the differencing" if self.d or self.D_ else ""
        if many:  # a short one is padded; one step to read is the least
            reads = f"one step to read{reads}"
        else:
            season = f", the season of {self._season}" if self._season else ""
            reads = f"lookback={self.lookback}{season}{reads}"
        for i, s in enumerate(series):
            if len(s) < least:
                name = "the series" if not many else f"series {(ids or range(i + 1))[i]!r}"
                raise ValueError(
                    f"{name} has {len(s)} values; {reads} plus horizon={H} needs at least "
                    f"{least} values"
                )

    def _set_differencing(self, D, series, panel, ex):
        """Set ``D_`` and what depends on it: each series' scaling, the history kept."""
        self.D_ = D
        need, many = self.n_history_, panel.form != "one"
        diffs = [self._difference(s) for s in series]
        mean = np.array([w.mean() for w in diffs])
        scale = np.array([float(_scale(w)) for w in diffs])
        self.mean_, self.scale_ = (mean, scale) if many else (float(mean[0]), float(scale[0]))
        history = np.stack([_padded(s, need) for s in series])
        start = panel.starts + np.array([len(s) for s in series]) - need
        self.history_ = history if many else history[0]
        self.history_start_ = start if many else int(start[0])
        self.exog_history_ = None if ex is None else ex[-need:]

    def _cycles(self, time):
        """The cycles whose phases the steps show (``season_features``)."""
        if not self.season_features:
            return ()
        cycles = data.calendar_cycles(time)
        m = self._season
        if m and not any(abs(c - m) < 1e-6 for c in cycles):
            cycles += (float(m),)
        return cycles

    def _fit_networks(self, template, X, Y, epochs=None):
        """Clones of ``template`` fitted on ``X``: one on ``Y``, or one per column
        ("direct"), each trained for its ``epochs`` when given."""
        targets = (
            [Y[:, j] for j in range(Y.shape[1])]
            if self.strategy == "direct" and Y.ndim == 2
            else [Y]
        )
        fitted = []
        for j, target in enumerate(targets):
            est = clone(template)
            with warnings.catch_warnings():
                if epochs is not None:
                    est.set_params(early_stopping=False, max_iter=epochs[j])
                    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is the point
                fitted.append(est.fit(X, target))
        return fitted

    def _set_networks(self, estimators):
        self.estimators_ = estimators
        self.estimator_ = estimators[0]

    def _rows(self, series, exogs, starts, length, held_out=None):
        """Every stretch of ``length`` values of every series, oldest first.

        Returns ``(raw [n, length], exog rows [n, length, k] or None, series
        index [n], position of each row's first value [n])``, ordered by how
        far each stretch ends from its series' end, farthest first: the last
        rows are the newest of every series (the ones early stopping holds
        out). A series shorter than ``length`` gives one row, padded in
        front with NaN. ``held_out``: only the last share of them.
        """
        raws, exs, idx, ages, firsts = [], [], [], [], []
        for i, y in enumerate(series):
            if len(y) >= length:
                first = np.arange(len(y) - length + 1)
                raws.append(y[first[:, None] + np.arange(length)])
            else:
                first = np.array([len(y) - length])
                raws.append(_padded(y, length)[None])
            if exogs is not None:
                exs.append(exogs[i][first[:, None] + np.arange(length)])
            idx.append(np.full(len(first), i))
            ages.append(len(y) - length - first)
            firsts.append(starts[i] + first)
        order = np.argsort(-np.concatenate(ages), kind="stable")
        if held_out is not None:
            order = order[-max(1, int(round(held_out * len(order)))) :]
        ex = None if exogs is None else np.concatenate(exs)[order]
        return (
            np.concatenate(raws)[order],
            ex,
            np.concatenate(idx)[order],
            np.concatenate(firsts)[order],
        )

    def _training_windows(self, series, exogs, starts, steps):
        """Scaled inputs (see :meth:`_inputs`) and targets ``[n, steps]``."""
        need, L = self.n_history_, self.lookback
        raw, xr, idx, first = self._rows(series, exogs, starts, need + steps)
        w = self._difference(raw)  # [n, season + lookback + steps]
        loc, scale = self._window_stats(w[:, -L - steps : w.shape[1] - steps], idx)
        z = (w - loc[:, None]) / scale[:, None]
        zx = None if xr is None else (xr[:, need - L : need] - self.exog_mean_) / self.exog_scale_
        Y = z[:, -steps:]
        return self._inputs(z[:, :-steps], zx, idx, first), (Y[:, 0] if steps == 1 else Y)

    def _errors(self, series, exogs, starts, held_out=None):
        """``(errors, mae, scores)``: forecast errors ``[n, horizon]`` in units of each
        window's scale; their mean absolute value in the series' units; and with a
        distribution head, how far each value falls outside its interval ``[n,
        horizon]`` (negative inside; window-scale units), else None.

        Over every window, or the last ``held_out`` share of them (the
        windows a model fitted with early stopping did not train on).
        """
        need, H = self.n_history_, self.horizon
        raw, xr, idx, first = self._rows(series, exogs, starts, need + H, held_out)
        hist, truth = raw[:, :need], raw[:, need:]
        hist_ex = future = None
        if xr is not None:
            hist_ex = xr[:, :need]
            if self.strategy == "recursive" and H > 1:
                future = xr[:, need : need + H - 1]
        forecast, scale, bounds = self._forecast(hist, idx, first, hist_ex, future)
        # The mean error in each series' own scale (of its values, not of its
        # differences): comparable across scalings, differencings and series.
        series_scale = np.array([float(_scale(y)) for y in series])[idx]
        mae = float(np.mean(np.abs(truth - forecast) / series_scale[:, None]))
        scores = None
        if bounds is not None:
            scores = np.maximum(bounds[0] - truth, truth - bounds[1]) / scale[:, None]
        return (truth - forecast) / scale[:, None], mae, scores

    def _offsets(self, errors):
        """The interval's offsets ``[2, horizon]`` from :meth:`_errors`, in window-scale
        units: the quantiles of the errors (added to the forecast), or with a
        distribution head, how far its bounds must widen to cover ``interval`` of
        the values (conformalized quantile regression: added to its bounds)."""
        errors, _, scores = errors
        if scores is None:
            alpha = (1 - self.interval) / 2
            return np.quantile(errors, [alpha, 1 - alpha], axis=0)
        # Widen only: the heads' bounds were trained for the level; a few
        # held-out windows that fall inside them are too few to narrow them
        # (on the evaluation panel narrowing lost more coverage than it saved).
        n = len(scores)
        margin = np.quantile(scores, min(1.0, self.interval * (n + 1) / n), axis=0)
        margin = np.maximum(margin, 0.0)
        return np.stack([-margin, margin])

    # -- forecasting ---------------------------------------------------------------

    def _outputs(self, X, n):
        """The networks' forecasts ``[n, steps]`` in scaled units, and the interval's
        bounds from the distribution heads (None with ``uncertainty="residuals"``)."""
        if self._uncertainty == "residuals":
            out = [e.predict(X).reshape(n, -1) for e in self.estimators_]
            return np.concatenate(out, axis=1), None, None
        if self._uncertainty == "quantile":
            q = np.concatenate(
                [e.predict_quantiles(X).reshape(n, -1, 3) for e in self.estimators_], axis=1
            )
            return q[..., 1], q[..., 0], q[..., 2]
        means, stds = zip(*(e.predict(X, return_std=True) for e in self.estimators_))
        mean = np.concatenate([m.reshape(n, -1) for m in means], axis=1)
        std = np.concatenate([s.reshape(n, -1) for s in stds], axis=1)
        z = float(norm.ppf(0.5 + self.interval / 2))
        return mean, mean - z * std, mean + z * std

    def _forecast(self, hist, idx, start, hist_ex=None, future_ex=None):
        """Forecasts ``[n, horizon]`` in the series' units after each row of ``hist``
        ``[n, n_history_]`` (of the series ``idx [n]``, its first value at position
        ``start [n]``), each window's scale ``[n]``, and the distribution heads'
        ``(lower, upper)`` bounds (or None)."""
        L, H = self.lookback, self.horizon
        n = len(hist)
        w = self._difference(hist)
        loc, scale = self._window_stats(w[:, -L:], idx)
        z = (w - loc[:, None]) / scale[:, None]
        zx = None
        if hist_ex is not None:
            zx = (hist_ex[:, -L:] - self.exog_mean_) / self.exog_scale_
        if self.strategy != "recursive":
            out, lower, upper = self._outputs(self._inputs(z, zx, idx, start), n)
        else:
            out, lower, upper = np.empty((n, H)), None, None
            for h in range(H):
                out[:, h] = self._outputs(self._inputs(z, zx, idx, start + h), n)[0][:, 0]
                z = np.concatenate([z, out[:, h : h + 1]], axis=1)
                if zx is not None and h < H - 1:
                    fx = (future_ex[:, h] - self.exog_mean_) / self.exog_scale_
                    zx = np.concatenate([zx[:, 1:], fx[:, None]], axis=1)

        def unscaled(a):
            return self._integrate(a * scale[:, None] + loc[:, None], hist)

        bounds = None if lower is None else (unscaled(lower), unscaled(upper))
        return unscaled(out), scale, bounds

    def predict(
        self,
        history=None,
        exog_history=None,
        future_exog=None,
        return_interval=False,
        *,
        id_col="unique_id",
        time_col="ds",
        target_col="y",
    ):
        """Forecast the ``horizon`` values after ``history``.

        Parameters
        ----------
        history : array-like of shape (>= ``n_history_``,), optional
            Recent values of the series; default the end of the series fitted.
            A model fitted on many series takes them in the form it was
            fitted on: a list (one per series, in the order of ``fit``) or
            a long DataFrame (the fitted series' ids).
        exog_history : array-like of shape (len(history), k), optional
            Their extra features (models fitted with ``exog``).
        future_exog : array-like of shape (horizon - 1, k), optional
            The extra features of the steps being forecast, except the last;
            needed by the recursive strategy with ``exog``.
        return_interval : bool, default=False
            Also return the prediction interval of coverage ``interval``.
        id_col, time_col, target_col : str
            The columns of a long DataFrame ``history``.

        Returns
        -------
        forecast : ndarray, pandas.Series or pandas.DataFrame
            An array of shape (horizon,), or (n_series, horizon) for a model
            fitted on many series; a pandas Series indexed by the next
            periods when the series (``history``, or the one fitted, if no
            history is given) had a DatetimeIndex or PeriodIndex; for a long
            DataFrame, a long DataFrame (``id_col``, ``time_col``,
            "forecast", and with ``return_interval`` "lower" and "upper").
        lower, upper : ndarray or pandas.Series
            With ``return_interval`` (except for a long DataFrame): the
            bounds of the interval of coverage ``interval``, shaped as
            ``forecast``.
        """
        check_is_fitted(self, "estimators_")
        need, many = self.n_history_, self.n_series_ is not None
        if history is None:
            if exog_history is not None:
                raise ValueError("exog_history goes with history: pass both or neither")
            hist, exog_history = np.atleast_2d(self.history_), self.exog_history_
            start, time, ids = (
                np.atleast_1d(self.history_start_),
                self.time_index_,
                self.series_ids_,
            )
        else:
            columns = (id_col, time_col, target_col)
            hist, start, time, ids, length = self._read_history(history, columns)
            exog_history = data.exog(exog_history, length, "exog_history")
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
            future = data.exog(future_exog, self.horizon - 1, "future_exog")[None]
        hist_ex = None if exog_history is None else exog_history[-need:][None]
        forecast, scale, bounds = self._forecast(hist, np.arange(len(hist)), start, hist_ex, future)
        low, high = (forecast, forecast) if bounds is None else bounds
        lower = low + self.interval_offsets_[0] * scale[:, None]
        upper = high + self.interval_offsets_[1] * scale[:, None]
        if ids is not None:
            return self._long_forecast(
                ids, time, (forecast, lower, upper), return_interval, (id_col, time_col)
            )
        if not many:
            forecast, lower, upper = forecast[0], lower[0], upper[0]
            if time is not None:  # a pandas series in: its future periods out
                import pandas as pd

                future_index = data.future_times(time, self.horizon)
                forecast, lower, upper = (
                    pd.Series(a, index=future_index, name=name)
                    for a, name in ((forecast, "forecast"), (lower, "lower"), (upper, "upper"))
                )
        return (forecast, lower, upper) if return_interval else forecast

    def _read_history(self, history, columns):
        """``(hist [n, n_history_], start [n], time, ids, length of the first)`` of a
        given history."""
        need, many = self.n_history_, self.n_series_ is not None
        panel = data.read(history, "history", *columns)
        given_many = panel.form != "one"
        if given_many != many or (many and len(panel.values) != self.n_series_):
            raise ValueError(
                f"history must be {self.n_series_} series, as fitted (a list, or a long DataFrame)"
                if many
                else "history must be one series, as fitted"
            )
        values, starts = panel.values, panel.starts
        if self.cycles_ and (panel.time is None) != (self.time_index_ is None):
            # The phases count periods on the time axis fitted: another axis
            # would show the network the wrong place in the season.
            raise ValueError(
                "the model was fitted on "
                + ("times: pass history with them" if panel.time is None else "plain values: ")
                + ("" if panel.time is None else "pass history's values without their times")
            )
        if panel.form == "long":
            if self.series_ids_ is None or set(panel.ids) != set(self.series_ids_):
                raise ValueError(
                    "history's series ids are not those fitted"
                    + ("" if self.series_ids_ is None else f" ({self.series_ids_[:5]}...)")
                )
            order = [panel.ids.index(i) for i in self.series_ids_]
            values, starts = [values[i] for i in order], starts[order]
            panel.time["end"] = [panel.time["end"][i] for i in order]
        least = self._shortest_history if many else need
        for i, s in enumerate(values):
            if len(s) < least:
                raise ValueError(
                    f"history{f'[{i}]' if many else ''} has {len(s)} values; the model "
                    f"needs the last {least} (lookback, season and differencing)"
                )
        hist = np.stack([_padded(s, need) for s in values])
        start = starts + np.array([len(s) for s in values]) - need
        ids = self.series_ids_ if panel.form == "long" else None
        return hist, start, panel.time, ids, len(values[0])

    def _long_forecast(self, ids, time, arrays, return_interval, columns):
        """Forecasts ``[n, horizon]`` as a long DataFrame: id, time, forecast, bounds."""
        import pandas as pd

        id_col, time_col = columns
        H = self.horizon
        times = [data.future_times(time, H, end) for end in time["end"]]
        frame = {
            id_col: np.repeat(np.array(ids, dtype=object), H),
            time_col: np.concatenate([np.asarray(t) for t in times]),
            "forecast": arrays[0].ravel(),
        }
        if return_interval:
            frame.update(lower=arrays[1].ravel(), upper=arrays[2].ravel())
        return pd.DataFrame(frame)

    # -- model files ----------------------------------------------------------

    # Fitted arrays a model file holds (None, and not saved, without exog).
    _SAVED_ARRAYS = (
        "history_",
        "exog_history_",
        "exog_mean_",
        "exog_scale_",
        "interval_offsets_",
    )
    _SAVED_FIELDS = {
        "mean_",
        "scale_",
        "n_exog_",
        "scaling_",
        "D_",
        "n_series_",
        "time_index_",
        "cycles_",
        "series_ids_",
        "history_start_",
        "validation_loss_curve_",
    }

    def _to_file(self):
        """The forecaster's own fields, and its regressors' under ``inners``/``estimator{j}.``."""
        check_is_fitted(self, "estimators_")
        inners, arrays = [], {}
        for j, est in enumerate(self.estimators_):
            inner, inner_arrays = files.describe(est)
            inners.append(inner)
            arrays.update({f"estimator{j}.{k}": v for k, v in inner_arrays.items()})
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "estimator"}
        many = self.n_series_ is not None
        fitted = {
            "mean_": files.json_value(self.mean_.tolist() if many else self.mean_),
            "scale_": files.json_value(self.scale_.tolist() if many else self.scale_),
            "n_exog_": int(self.n_exog_),
            "scaling_": self.scaling_,
            "D_": int(self.D_),
            "n_series_": self.n_series_,
            "time_index_": self.time_index_,
            "cycles_": [float(c) for c in self.cycles_],
            "series_ids_": self.series_ids_,
            "validation_loss_curve_": [float(v) for v in self.validation_loss_curve_],
            "history_start_": (
                [int(s) for s in self.history_start_] if many else int(self.history_start_)
            ),
        }
        for key in self._SAVED_ARRAYS:
            value = getattr(self, key)
            if value is not None:
                arrays[key] = np.asarray(value, np.float64)
        fields = {"params": files.json_value(params), "fitted": fitted, "inners": inners}
        return fields, arrays

    @classmethod
    def _from_file(cls, fields, arrays, trust_patterns):
        inners = fields["inners"]
        if not isinstance(inners, list) or not inners:
            raise ValueError("a forecaster's file holds no regressor")
        for inner in inners:  # (checked before, not after, a deep nesting)
            if not isinstance(inner, dict) or inner.get("estimator") != "RNNRegressor":
                raise ValueError("a forecaster's model must be an RNNRegressor")
        est = cls(**fields["params"])
        est._validate_params()
        if len(inners) != (est.horizon if est.strategy == "direct" else 1):
            raise ValueError(f"{len(inners)} regressors do not fit strategy={est.strategy!r}")
        networks = [
            files.rebuild(inner, files.prefixed(arrays, f"estimator{j}."))
            for j, inner in enumerate(inners)
        ]
        est.estimator = clone(networks[0])
        fitted = fields["fitted"]
        if not isinstance(fitted, dict) or set(fitted) != cls._SAVED_FIELDS:
            raise ValueError(f"the forecaster's fitted fields are not {sorted(cls._SAVED_FIELDS)}")
        scaling, n_series, k = fitted["scaling_"], fitted["n_series_"], fitted["n_exog_"]
        if scaling not in SCALINGS[1:] or est.scaling not in ("auto", scaling):
            raise ValueError(f"scaling_ {scaling!r} does not fit scaling={est.scaling!r}")
        if n_series is not None and not _is_count(n_series, 1):
            raise ValueError("n_series_ is not a count")
        many = n_series is not None
        count = n_series if many else 1
        mean, scale = (
            np.atleast_1d(np.asarray(fitted[key], dtype=np.float64)) for key in ("mean_", "scale_")
        )
        if mean.shape != (count,) or scale.shape != (count,):
            raise ValueError(f"mean_ and scale_ are not {count} numbers each")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("the forecaster's scaling is not finite numbers with scale_ > 0")
        if not _is_count(k, 0) or (k and many):
            raise ValueError("n_exog_ is not a count (of one series' features)")
        D = fitted["D_"]
        if D not in (0, 1) or isinstance(D, bool) or est.D not in ("auto", D):
            raise ValueError(f"D_ {D!r} does not fit D={est.D!r}")
        if D and not est._season:
            raise ValueError("D=1 without a seasonal_period")
        est.D_ = D
        cycles = fitted["cycles_"]
        if not isinstance(cycles, list) or not all(
            isinstance(c, float) and np.isfinite(c) and c > 1 for c in cycles
        ):
            raise ValueError("cycles_ is not a list of periods")
        if cycles and not est.season_features:
            raise ValueError("cycles_ without season_features")
        ids = fitted["series_ids_"]
        if ids is not None and (
            not many
            or not isinstance(ids, list)
            or len(ids) != n_series
            or len(set(map(repr, ids))) != len(ids)
            or not all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids)
        ):
            raise ValueError("series_ids_ is not one distinct id (text or number) per series")
        start = fitted["history_start_"]
        if not (
            all(_is_count(s, None) for s in start) and len(start) == n_series
            if many and isinstance(start, list)
            else not many and _is_count(start, None)
        ):
            raise ValueError("history_start_ is not one position per series")
        need, H = est.n_history_, est.horizon
        shapes = {
            "history_": (n_series, need) if many else (need,),
            "interval_offsets_": (2, H),
        }
        if k:
            shapes.update(exog_history_=(need, k), exog_mean_=(k,), exog_scale_=(k,))
        if set(shapes) != {key for key in cls._SAVED_ARRAYS if key in arrays}:
            raise ValueError("the forecaster's arrays do not match its exogenous features")
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
            if key != "history_" or not many:
                files.finite_array(arrays[key], key)
        if many:  # a short series' history is padded in front with NaN
            history = np.asarray(arrays["history_"], np.float64)
            valid = ~np.isnan(history)
            ordered = np.all(np.diff(valid.astype(np.int8), axis=1) >= 0)
            if not (ordered and np.all(np.isfinite(history[valid]))):
                raise ValueError("history_ is not finite values after a NaN padding")
            if valid.sum(axis=1).min() < est._shortest_history:
                raise ValueError("history_ holds too few values to forecast from")
        if k and not np.all(arrays["exog_scale_"] > 0):
            raise ValueError("exog_scale_ is not positive")
        copies = {"quantile": 3, "gaussian": 2}.get(est._uncertainty, 1)
        outputs = (H if est.strategy == "mimo" else 1) * copies
        features = est._n_features(k, cycles, n_series)
        for inner in networks:
            if inner._step_features != features or inner._n_outputs != outputs:
                raise ValueError(
                    "the forecaster's model does not fit its lookback, horizon and features"
                )
            if est._uncertainty != "residuals" and inner.loss != est._uncertainty:
                raise ValueError(f"the regressor's loss is not {est._uncertainty!r}")
        time_index = fitted["time_index_"]
        if time_index is not None:
            _check_time_index(time_index, n_series if ids is not None else None)
        curve = fitted["validation_loss_curve_"]
        if not isinstance(curve, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
            for v in curve
        ):
            raise ValueError("validation_loss_curve_ is not a list of numbers")
        est.validation_loss_curve_ = [float(v) for v in curve]
        est.time_index_, est.cycles_, est.series_ids_ = time_index, tuple(cycles), ids
        est._set_networks(networks)
        est.n_exog_, est.scaling_, est.n_series_ = k, scaling, n_series
        est.mean_, est.scale_ = (mean, scale) if many else (float(mean[0]), float(scale[0]))
        est.history_start_ = np.array(start, np.int64) if many else start
        for key in cls._SAVED_ARRAYS:
            setattr(est, key, arrays[key].astype(np.float64) if key in arrays else None)
        return est


def _is_count(value, least):
    """Whether ``value`` is an int (not a bool) of at least ``least`` (None: any)."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and (least is None or value >= least)
    )


def _check_time_index(time_index, n_long):
    """Refuse a file's ``time_index_`` that does not name times (``n_long``: a long
    DataFrame's series count, whose ends are a list)."""
    kind = time_index.get("kind") if isinstance(time_index, dict) else None
    if kind not in ("DatetimeIndex", "PeriodIndex", "integer") or set(time_index) != {
        "kind",
        "freq",
        "end",
    }:
        raise ValueError("time_index_ is not a time axis's kind, frequency and end")
    ends = time_index["end"]
    if n_long is not None:
        if not isinstance(ends, list) or len(ends) != n_long:
            raise ValueError("time_index_ has not one end per series")
    else:
        ends = [ends]
    for end in ends:
        if kind == "integer" and not _is_count(end, None):
            raise ValueError("time_index_'s end is not an integer time")
        try:
            data.future_times(time_index, 1, end)
        except (TypeError, ValueError, ImportError) as exc:
            raise ValueError(f"time_index_ does not name periods: {exc}") from exc


def _padded(y, length):
    """The last ``length`` values of ``y``, NaN in front where it is shorter."""
    if len(y) >= length:
        return y[-length:]
    return np.concatenate([np.full(length - len(y), np.nan), y])


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

    Parameters
    ----------
    forecaster : RNNForecaster
        The forecaster to score, unfitted or fitted (it is cloned, never
        changed).
    y : array-like of shape (n,)
        One series, oldest value first.
    exog : array-like of shape (n,) or (n, k), optional
        Extra features per step of the series; the recursive strategy gets
        those of each test window as its ``future_exog``.
    n_splits : int, default=5
        Forecast origins: the last ``n_splits * horizon`` values are
        forecast, ``horizon`` at a time.

    Returns
    -------
    dict of ndarray of shape (n_splits,), one value per origin
        ``"mae"``, ``"rmse"``; ``"mase"`` (over the in-sample seasonal-naive
        error, ``seasonal_period`` steps back, or the naive one); ``"smape"``
        (a fraction in [0, 2]); ``"coverage"``: the share of the values
        inside the forecast's interval (nominal: ``interval``).
    """
    forecaster._validate_params()
    y = data.series(y)
    ex = data.exog(exog, len(y))
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
