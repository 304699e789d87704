"""make_windows and RNNForecaster: sunspots 5 years ahead, both strategies, intervals, CV."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastrnn import RNNForecaster, RNNRegressor, cross_validate_forecast, make_windows
from tests.helpers import resigned

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_windows_shapes_exog_and_stride():
    series = np.arange(10.0)
    exog = np.column_stack([series * 10, -series])
    X, y = make_windows(series, lookback=4, horizon=2, stride=3, exog=exog)
    assert X.shape == (2, 4, 3) and y.shape == (2, 2)  # windows start at 0 and 3
    np.testing.assert_array_equal(X[1, :, 0], [3, 4, 5, 6])
    np.testing.assert_array_equal(X[1, :, 1], [30, 40, 50, 60])
    np.testing.assert_array_equal(y[1], [7, 8])
    X1, y1 = make_windows(series, 3)
    assert X1.shape == (7, 3, 1) and y1.shape == (7,) and y1[0] == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"series": np.arange(5.0), "lookback": 5}, "needs at least"),
        ({"series": [1.0, np.nan, 2, 3], "lookback": 1}, "NaN"),
        ({"series": np.ones((4, 2)), "lookback": 1}, "one series"),
        ({"series": np.ones(6), "lookback": 2, "exog": np.ones(5)}, "6 rows"),
        ({"series": np.ones(6), "lookback": 0}, "lookback must be >= 1"),
    ],
)
def test_bad_windows_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_windows(**kwargs)


@pytest.fixture(scope="module")
def sunspots():
    datasets = pytest.importorskip("statsmodels.datasets")
    return datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(float)


@pytest.mark.parametrize("strategy", ["mimo", "recursive"])
def test_sunspots_five_years_ahead_beat_naive_forecasts(sunspots, strategy):
    H, L, test = 5, 22, 50
    train = sunspots[:-test]
    model = RNNForecaster(
        lookback=L,
        horizon=H,
        strategy=strategy,
        estimator=RNNRegressor(
            hidden_size=32, max_iter=150, learning_rate_init=0.01, random_state=0
        ),
    ).fit(train)
    origins = range(len(sunspots) - test, len(sunspots) - H + 1)
    errors = {"model": [], "persistence": [], "seasonal naive": []}
    for t in origins:
        truth = sunspots[t : t + H]
        errors["model"].append(model.predict(sunspots[:t]) - truth)
        errors["persistence"].append(np.full(H, sunspots[t - 1]) - truth)
        errors["seasonal naive"].append(sunspots[t - 11 : t - 11 + H] - truth)  # 11-year cycle
    mae = {k: float(np.mean(np.abs(v))) for k, v in errors.items()}
    assert mae["model"] < 0.9 * min(mae["persistence"], mae["seasonal naive"]), mae
    forecast, lower, upper = model.predict(return_interval=True)
    assert forecast.shape == lower.shape == upper.shape == (H,)
    assert np.all(lower <= forecast) and np.all(forecast <= upper)


def test_exogenous_features_and_explicit_history():
    rng = np.random.default_rng(0)
    t = np.arange(400)
    driver = np.sin(t / 7)
    y = np.roll(driver, 2) + 0.05 * rng.standard_normal(400)  # y follows exog two steps later
    est = RNNRegressor(hidden_size=16, max_iter=40, random_state=0)
    direct = RNNForecaster(lookback=10, horizon=2, estimator=est).fit(y[:300], driver[:300])
    got = direct.predict(y[:350], exog_history=driver[:350])
    np.testing.assert_allclose(got, y[350:352], atol=0.3)
    with pytest.raises(ValueError, match="exogenous"):
        direct.predict(y[:350])
    recursive = RNNForecaster(lookback=10, horizon=3, strategy="recursive", estimator=est)
    recursive.fit(y[:300], driver[:300])
    with pytest.raises(ValueError, match="future_exog"):
        recursive.predict()
    assert recursive.predict(future_exog=driver[300:302]).shape == (3,)


def test_cross_validation_uses_successive_origins():
    y = np.sin(np.arange(200) / 5)
    f = RNNForecaster(
        lookback=10, horizon=3, estimator=RNNRegressor(hidden_size=8, max_iter=20, random_state=0)
    )
    scores = cross_validate_forecast(f, y, n_splits=3)
    assert set(scores) == {"mae", "rmse", "mase", "smape", "coverage"}
    assert all(v.shape == (3,) for v in scores.values())
    assert np.all(scores["mae"] <= scores["rmse"] + 1e-12)
    assert np.all((0 <= scores["coverage"]) & (scores["coverage"] <= 1))
    assert np.all((0 <= scores["smape"]) & (scores["smape"] <= 2))


def test_mase_and_smape():
    from fastrnn._forecasting import mase, smape

    train = np.array([1.0, 3.0, 2.0, 4.0, 3.0])  # seasonal-naive errors, 2 back: 1, 1, 1
    assert mase(train, np.array([5.0, 4.0]), np.array([4.0, 4.0]), m=2) == pytest.approx(0.5)
    assert smape(np.array([1.0, 0.0]), np.array([3.0, 0.0])) == pytest.approx(0.5)


def test_history_shorter_than_lookback_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        f = RNNForecaster(lookback=5, estimator=RNNRegressor(max_iter=1)).fit(np.arange(30.0))
    with pytest.raises(ValueError, match="history has 3 values; the model needs the last 5"):
        f.predict(np.arange(3.0))


@pytest.mark.parametrize(
    "with_exog, options",
    [
        (False, {}),
        (True, {}),
        (False, dict(scaling="last", seasonal_period=6, D=1, d=1)),
        (True, dict(scaling="mean", seasonal_period=4, strategy="recursive")),
        (False, dict(scaling="global", d=1)),
        (False, dict(strategy="direct", uncertainty="quantile", seasonal_period=6)),
        (True, dict(uncertainty="gaussian", season_features=False, seasonal_period=6)),
    ],
)
def test_save_and_load_round_trip(tmp_path, with_exog, options):
    import fastrnn

    y = np.sin(np.arange(120) / 4) + 2
    exog = np.cos(np.arange(120) / 4) if with_exog else None
    f = RNNForecaster(
        lookback=8,
        horizon=3,
        estimator=RNNRegressor(hidden_size=6, max_iter=5, random_state=0),
        **options,
    )
    future = np.ones((2, 1)) if options.get("strategy") == "recursive" and with_exog else None
    f.fit(y, exog)
    f.save(tmp_path / "f.npz")
    g = fastrnn.load(tmp_path / "f.npz")
    assert g.get_params()["estimator"].get_params() == f.estimator_.get_params()
    assert g.get_params(deep=False).keys() == f.get_params(deep=False).keys()
    for key, value in options.items():
        assert getattr(g, key) == value
    for a, b in zip(
        g.predict(future_exog=future, return_interval=True),
        f.predict(future_exog=future, return_interval=True),
    ):
        np.testing.assert_array_equal(a, b)


def _edit(path, change):
    resigned(path, change)


@pytest.mark.parametrize(
    "change",
    [
        lambda c, a: c.update(fitted=[1]),
        lambda c, a: c["fitted"].pop("mean_"),
        lambda c, a: c["fitted"].update(scale_="x"),
        lambda c, a: c["fitted"].update(n_exog_=2),
        lambda c, a: c["params"].update(lookback=9),
        lambda c, a: a.update(interval_offsets_=np.zeros((2, 1))),
        lambda c, a: a.update(history_=np.full(8, np.nan)),
        lambda c, a: c.update(inners=c["inners"] * 2),
        lambda c, a: c["fitted"].update(cycles_=["12"]),
        lambda c, a: c["fitted"].update(history_start_=1.5),
        lambda c, a: c["fitted"].update(series_ids_=["a"]),
        lambda c, a: c["params"].update(uncertainty="gaussian"),
    ],
)
def test_an_edited_forecaster_file_is_refused(tmp_path, change):
    import fastrnn

    f = RNNForecaster(
        lookback=8, horizon=3, estimator=RNNRegressor(hidden_size=4, max_iter=2, random_state=0)
    )
    f.fit(np.sin(np.arange(60) / 4)).save(tmp_path / "f.npz")
    _edit(tmp_path / "f.npz", change)
    with pytest.raises(ValueError, match="inconsistent model"):
        fastrnn.load(tmp_path / "f.npz")


def test_a_constant_series_forecasts_the_constant():
    # Its standard deviation is rounding noise (~3e-17 here): it must not be divided by.
    y = np.full(50, 0.1)
    est = RNNRegressor(hidden_size=4, max_iter=40, random_state=0)
    f = RNNForecaster(lookback=4, horizon=2, estimator=est).fit(y)
    assert f.scale_ == 1.0
    np.testing.assert_allclose(f.predict(), 0.1, atol=0.02)


def _quick(**options):
    est = RNNRegressor(hidden_size=8, max_iter=30, random_state=0)
    return RNNForecaster(estimator=est, **options)


@pytest.mark.parametrize("scaling", ["window", "last", "mean"])
def test_window_scaling_inverts_exactly(scaling):
    # Each window is scaled by its own size (and, for "window", its own mean):
    # the forecast from a scaled (and shifted) history is the scaled (and
    # shifted) forecast, intervals too, with the same network.
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.standard_normal(150)) + 50
    a, b = 3.5, (-20.0 if scaling == "window" else 0.0)
    f = _quick(lookback=10, horizon=4, scaling=scaling).fit(y)
    moved = f.predict(a * y + b, return_interval=True)
    for got, want in zip(moved, f.predict(y, return_interval=True)):
        np.testing.assert_allclose(got, a * want + b, rtol=1e-6)


def test_a_trend_and_a_season_are_forecast_with_the_defaults():
    t = np.arange(240.0)
    # A trend the network never saw the level of: window scaling follows it.
    trend = 5 + 0.8 * t
    f = RNNForecaster(horizon=6, random_state=0).fit(trend[:200])
    assert f.scaling_ == "window"  # what "auto" chose: the global scale fails on a trend
    np.testing.assert_allclose(f.predict(), trend[200:206], rtol=0.01)
    # A pure season with a trend, 12 steps a season.
    season = 10 * np.sin(2 * np.pi * t / 12) + 0.1 * t
    f = RNNForecaster(lookback=24, horizon=12, seasonal_period=12, random_state=0)
    error = f.fit(season[:216]).predict() - season[216:228]
    assert np.sqrt(np.mean(error**2)) < 0.1 * np.std(season)


def test_differencing_integrates_back():
    # d=1 and D=1 on a series that is exactly linear plus a fixed season: the
    # differenced series is constant, and the forecast is the continuation.
    t = np.arange(120.0)
    y = 2 * t + np.tile([3.0, -1.0, 4.0, 0.0], 30)
    f = _quick(lookback=6, horizon=8, seasonal_period=4, d=1, D=1).fit(y)
    assert f.n_history_ == 6 + 4 + 1 + 4
    t2 = np.arange(120.0, 128.0)
    np.testing.assert_allclose(f.predict(), 2 * t2 + np.tile([3.0, -1.0, 4.0, 0.0], 2), atol=0.05)


def test_the_intervals_come_from_windows_the_model_did_not_train_on():
    rng = np.random.default_rng(1)
    y = np.sin(np.arange(300) / 5) + 0.3 * rng.standard_normal(300)
    f = RNNForecaster(lookback=20, horizon=5, interval=0.8, random_state=0).fit(y[:250])
    # The default estimator stops early on the newest windows, then the kept
    # model trains that many epochs on every window.
    assert not f.estimator_.early_stopping and f.estimator_.max_iter >= 1
    hits = []
    for origin in range(250, 295, 9):
        g = RNNForecaster(lookback=20, horizon=5, interval=0.8, random_state=0)
        forecast, lower, upper = g.fit(y[:origin]).predict(return_interval=True)
        truth = y[origin : origin + 5]
        hits.append(np.mean((truth >= lower) & (truth <= upper)))
        assert np.all(lower <= forecast) and np.all(forecast <= upper)
    assert 0.6 <= np.mean(hits) <= 1.0


@pytest.mark.parametrize(
    "options, y, match",
    [
        (dict(D=1), np.arange(50.0), "D=1 differences by the season"),
        (
            dict(lookback=10, horizon=5, seasonal_period=12),
            np.arange(25.0),
            "needs at least 27 values",
        ),
        (dict(scaling="robust"), np.arange(50.0), "scaling"),
        (dict(d=2), np.arange(50.0), "'d'"),
        ({}, np.r_[np.arange(30.0), np.nan, np.arange(5.0)], "NaN or infinity"),
    ],
)
def test_bad_forecaster_options_and_series_are_refused(options, y, match):
    with pytest.raises(ValueError, match=match):
        _quick(**options).fit(y)


def test_one_model_over_many_series():
    # Series of different lengths, levels and scales: one network, windows
    # scaled each on its own; a forecast per series, in the order given.
    t = np.arange(200.0)
    series = [
        100 + 20 * np.sin(2 * np.pi * t[:150] / 12),
        0.5 * np.sin(2 * np.pi * t[:90] / 12 + 1) - 3,
        5 + 0.2 * t[:120] + np.sin(2 * np.pi * t[:120] / 12),
    ]
    f = RNNForecaster(lookback=24, horizon=6, random_state=0).fit(series)
    assert f.n_series_ == 3 and f.history_.shape == (3, 24)
    forecast, lower, upper = f.predict(return_interval=True)
    assert forecast.shape == lower.shape == upper.shape == (3, 6)
    assert np.all(lower <= forecast) and np.all(forecast <= upper)
    truths = [
        100 + 20 * np.sin(2 * np.pi * np.arange(150, 156) / 12),
        0.5 * np.sin(2 * np.pi * np.arange(90, 96) / 12 + 1) - 3,
        5 + 0.2 * np.arange(120, 126) + np.sin(2 * np.pi * np.arange(120, 126) / 12),
    ]
    for got, want, s in zip(forecast, truths, series):
        assert np.sqrt(np.mean((got - want) ** 2)) < 0.25 * np.std(s)
    # Explicit histories, one per series, give the same forecasts.
    np.testing.assert_allclose(f.predict([s + 0 for s in series]), forecast)
    with pytest.raises(ValueError, match="must be 3 series"):
        f.predict(series[0])
    # A history shorter than the lookback is read as far as it goes (padded).
    short = f.predict([series[0], series[1][-5:], series[2]])
    assert np.all(np.isfinite(short)) and np.array_equal(short[[0, 2]], forecast[[0, 2]])
    with pytest.raises(ValueError, match="series 1 has 6 values; one step to read plus"):
        RNNForecaster(lookback=24, horizon=6).fit([series[0], series[1][:6]])
    with pytest.raises(ValueError, match="exog goes with one series"):
        RNNForecaster(lookback=24, horizon=6).fit(series, exog=np.ones(150))


def test_a_many_series_model_saves_and_loads(tmp_path):
    import fastrnn

    t = np.arange(80.0)
    series = [np.sin(t / 3) + 10, 2 * np.cos(t[:60] / 3)]
    est = RNNRegressor(hidden_size=6, max_iter=5, random_state=0)
    f = RNNForecaster(lookback=8, horizon=3, estimator=est, scaling="global").fit(series)
    f.save(tmp_path / "panel.npz")
    g = fastrnn.load(tmp_path / "panel.npz")
    assert g.n_series_ == 2 and g.scaling_ == "global"
    np.testing.assert_array_equal(g.mean_, f.mean_)
    for a, b in zip(g.predict(return_interval=True), f.predict(return_interval=True)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["datetime", "period"])
def test_a_time_indexed_series_gets_its_forecast_indexed_by_the_next_periods(tmp_path, kind):
    pd = pytest.importorskip("pandas")
    import fastrnn

    values = np.sin(np.arange(60) / 3) + 5
    if kind == "datetime":
        index = pd.date_range("2020-01-01", periods=60, freq="MS")
        future = pd.date_range("2025-01-01", periods=4, freq="MS")
    else:
        index = pd.period_range("2010Q1", periods=60, freq="Q")
        future = pd.period_range("2025Q1", periods=4, freq="Q")
    y = pd.Series(values, index=index)
    f = _quick(lookback=8, horizon=4).fit(y)
    forecast, lower, upper = f.predict(return_interval=True)
    assert isinstance(forecast, pd.Series) and forecast.index.equals(future)
    assert lower.index.equals(future) and upper.index.equals(future)
    # Plain values lack the calendar the network reads; without it they are welcome.
    with pytest.raises(ValueError, match="fitted on times"):
        f.predict(values)
    plain = _quick(lookback=8, horizon=4, season_features=False).fit(y)
    np.testing.assert_array_equal(plain.predict().to_numpy(), plain.predict(values))
    # A later history: the periods after its own end.
    later = f.predict(y.iloc[:50])
    assert later.index[0] == index[50]
    f.save(tmp_path / "f.npz")
    assert fastrnn.load(tmp_path / "f.npz").predict().index.equals(future)


def test_an_irregular_time_index_is_refused():
    pd = pytest.importorskip("pandas")
    stamps = pd.to_datetime(["2020-01-01", "2020-01-05", "2020-02-17"]).append(
        pd.date_range("2021-01-01", periods=57, freq="D")
    )
    y = pd.Series(np.arange(60.0), index=stamps)
    with pytest.raises(ValueError, match="no regular frequency"):
        _quick(lookback=8, horizon=2).fit(y)


def test_a_failed_refit_leaves_the_forecaster_as_it_was():
    pd = pytest.importorskip("pandas")
    y = pd.Series(np.sin(np.arange(60) / 3), index=pd.date_range("2020", periods=60, freq="MS"))
    f = _quick(lookback=8, horizon=3).fit(y)
    before = f.predict(return_interval=True)
    state = dict(f.__dict__)
    for bad, exog in (
        ([np.arange(40.0), np.arange(40.0)], np.ones(40)),  # many series with exog
        (np.r_[np.arange(30.0), np.nan], None),
        (np.arange(5.0), None),  # too short
    ):
        with pytest.raises(ValueError):
            f.fit(bad, exog)
        assert f.__dict__.keys() == state.keys()
        assert all(f.__dict__[k] is state[k] for k in state)
    for a, b in zip(f.predict(return_interval=True), before):
        pd.testing.assert_series_equal(a, b)
