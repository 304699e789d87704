"""RNNForecaster over many series and with its newer options: long DataFrames, short
series, series ids, season and calendar features, strategies, distribution heads."""

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNForecaster, RNNRegressor

pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _small(**params):
    return RNNForecaster(
        estimator=RNNRegressor(hidden_size=8, max_iter=30, random_state=0), **params
    )


def _panel(lengths=(60, 48, 36), season=12):
    t = np.arange(max(lengths), dtype=float)
    return [
        (i + 1) * 10 + (i + 1) * np.sin(2 * np.pi * t[:n] / season) + 0.05 * i * t[:n]
        for i, n in enumerate(lengths)
    ]


def _long(series, ids=("a", "b", "c"), start="2001-01", freq="M"):
    rows = []
    for i, y in zip(ids, series):
        times = pd.period_range(start, periods=len(y), freq=freq).to_timestamp()
        rows.append(pd.DataFrame({"unique_id": i, "ds": times, "y": y}))
    return pd.concat(rows, ignore_index=True)


def test_a_long_dataframe_gives_a_long_forecast_per_series():
    series = _panel()
    df = _long(series).sample(frac=1.0, random_state=0)  # row order does not matter
    f = _small(lookback=12, horizon=4).fit(df)
    assert f.n_series_ == 3 and sorted(f.series_ids_) == ["a", "b", "c"]
    out = f.predict(return_interval=True)
    assert list(out.columns) == ["unique_id", "ds", "forecast", "lower", "upper"]
    assert len(out) == 12 and set(out["unique_id"]) == {"a", "b", "c"}
    first = out[out["unique_id"] == "a"]
    expected = pd.date_range("2006-01-01", periods=4, freq="MS")
    np.testing.assert_array_equal(pd.DatetimeIndex(first["ds"]), expected)
    assert np.all(out["lower"] <= out["forecast"]) and np.all(out["forecast"] <= out["upper"])
    # The same frame as history gives the same forecasts; other names by keyword.
    renamed = df.rename(columns={"unique_id": "store", "ds": "month", "y": "sales"})
    again = f.predict(renamed, id_col="store", time_col="month", target_col="sales")
    np.testing.assert_allclose(again["forecast"].to_numpy(), out["forecast"].to_numpy())
    assert list(again.columns[:2]) == ["store", "month"]


def test_a_long_dataframe_with_integer_times_is_the_list_of_its_series():
    series = _panel()
    df = pd.concat(
        [pd.DataFrame({"id": i, "t": np.arange(len(y)), "v": y}) for i, y in enumerate(series)]
    )
    long = _small(lookback=12, horizon=3).fit(df, id_col="id", time_col="t", target_col="v")
    listed = _small(lookback=12, horizon=3).fit(series)
    out = long.predict(id_col="id", time_col="t")
    np.testing.assert_allclose(out["forecast"].to_numpy().reshape(3, 3), listed.predict())
    np.testing.assert_array_equal(out["t"].to_numpy()[:3], [60, 61, 62])


@pytest.mark.parametrize(
    "frame, message",
    [
        (lambda df: df.drop(columns="unique_id"), "no id column 'unique_id'"),
        (lambda df: df.drop(columns="ds"), "no column 'ds'"),
        (lambda df: df.drop(index=5), "series 'a' of y skips or repeats times"),
        (lambda df: pd.concat([df, df.iloc[[3]]]), "skips or repeats times"),
        (lambda df: df.assign(y=df["y"].where(df.index != 7)), "NaN"),
        (lambda df: df.assign(ds="soon"), "neither dates, periods nor integers"),
    ],
)
def test_bad_long_dataframes_are_refused_by_name(frame, message):
    with pytest.raises(ValueError, match=message):
        _small(lookback=6, horizon=2).fit(frame(_long(_panel())))


def test_short_series_join_a_global_fit_padded():
    # Two series shorter than the lookback: each gives one shorter window.
    series = _panel(lengths=(80, 70, 15, 9))
    f = _small(lookback=24, horizon=4).fit(series)
    assert f.history_.shape == (4, 24)
    assert np.isnan(f.history_[3, :15]).all() and np.isfinite(f.history_[3, 15:]).all()
    forecast = f.predict()
    assert forecast.shape == (4, 4) and np.all(np.isfinite(forecast))
    # The short series is forecast near its own level, not the others'.
    assert abs(forecast[3].mean() - series[3].mean()) < 3 * series[3].std()
    with pytest.raises(ValueError, match="series 3 has 4 values"):
        _small(lookback=24, horizon=4).fit(series[:3] + [series[3][:4]])


def test_a_padded_model_saves_and_loads(tmp_path):
    series = _panel(lengths=(40, 10))
    f = _small(lookback=12, horizon=3, seasonal_period=12, series_id=True).fit(series)
    f.save(tmp_path / "f.npz")
    g = fastrnn.load(tmp_path / "f.npz")
    for a, b in zip(g.predict(return_interval=True), f.predict(return_interval=True)):
        np.testing.assert_array_equal(a, b)


def test_series_ids_are_one_hot_inputs():
    series = _panel()
    f = _small(lookback=12, horizon=2, series_id=True).fit(series)
    assert f.estimator_.n_features_in_ == 1 + 3  # the value, then one column per series
    with pytest.raises(ValueError, match="series_id tells many series apart"):
        _small(lookback=12, horizon=2, series_id=True).fit(series[0])


def test_season_features_come_from_the_calendar_or_the_period():
    y = _panel(lengths=(72,))[0]
    monthly = pd.Series(y, index=pd.period_range("2000-01", periods=72, freq="M"))
    assert _small(lookback=12).fit(monthly).cycles_ == (12.0,)
    daily = pd.Series(y, index=pd.date_range("2000-01-01", periods=72, freq="D"))
    assert _small(lookback=12).fit(daily).cycles_ == (7.0, 365.2425)
    assert _small(lookback=12, seasonal_period=6).fit(y).cycles_ == (6.0,)
    off = _small(lookback=12, seasonal_period=6, season_features=False).fit(y)
    assert off.cycles_ == () and off.estimator_.n_features_in_ == 2  # value and its lag
    on = _small(lookback=12, seasonal_period=6).fit(y)
    assert on.estimator_.n_features_in_ == 4  # and the phase's sine and cosine
    # An array's steps count from its first value, in fit and in predict(history).
    np.testing.assert_allclose(on.predict(y), on.predict())


def test_a_pure_season_is_forecast_by_its_phase():
    t = np.arange(240)
    y = np.where(t % 12 < 3, 5.0, 0.0) + np.sin(2 * np.pi * t / 12)
    f = RNNForecaster(lookback=12, horizon=12, seasonal_period=12, random_state=0).fit(y)
    truth = np.where(np.arange(240, 252) % 12 < 3, 5.0, 0.0) + np.sin(
        2 * np.pi * np.arange(240, 252) / 12
    )
    assert np.sqrt(np.mean((f.predict() - truth) ** 2)) < 0.1 * np.std(y)


def test_direct_fits_a_network_per_step():
    y = _panel(lengths=(120,))[0]
    f = _small(lookback=12, horizon=3, strategy="direct").fit(y)
    assert len(f.estimators_) == 3 and f.estimator_ is f.estimators_[0]
    assert all(e.predict(np.zeros((1, 12, 1))).shape == (1,) for e in f.estimators_)
    forecast = f.predict()
    assert forecast.shape == (3,) and np.all(np.isfinite(forecast))


@pytest.mark.parametrize("uncertainty", ["quantile", "gaussian"])
def test_distribution_heads_give_ordered_intervals(uncertainty):
    rng = np.random.default_rng(0)
    y = np.sin(np.arange(300) / 4) + 0.2 * rng.standard_normal(300)
    f = _small(lookback=16, horizon=4, uncertainty=uncertainty, interval=0.8).fit(y)
    forecast, lower, upper = f.predict(return_interval=True)
    assert np.all(lower < forecast) and np.all(forecast < upper)
    if uncertainty == "quantile":
        assert f.estimator_.loss == "quantile"
        np.testing.assert_allclose(f.estimator_.quantiles, (0.1, 0.5, 0.9))
    # Widths near the noise's 80% band (2 * 1.28 * 0.2), not the series' range.
    assert 0.2 < np.mean(upper - lower) < 1.5


def test_a_recursive_distribution_head_is_refused():
    with pytest.raises(ValueError, match="needs the mimo or direct strategy"):
        _small(strategy="recursive", uncertainty="quantile").fit(np.arange(50.0))


def test_one_training_window_is_refused_by_name():
    with pytest.raises(ValueError, match="1 training window; holding out the newest"):
        RNNForecaster(lookback=12, horizon=6).fit(np.arange(18.0))


def test_a_long_dataframe_model_saves_and_loads(tmp_path):
    df = _long(_panel(), ids=(7, 8, 9))  # integer ids survive the file too
    f = _small(lookback=12, horizon=3, seasonal_period=12).fit(df)
    f.save(tmp_path / "f.npz")
    g = fastrnn.load(tmp_path / "f.npz")
    assert g.series_ids_ == [7, 8, 9] and g.time_index_ == f.time_index_
    pd.testing.assert_frame_equal(g.predict(return_interval=True), f.predict(return_interval=True))


def test_a_history_on_another_time_axis_is_refused():
    y = _panel(lengths=(72,))[0]
    monthly = pd.Series(y, index=pd.period_range("2000-01", periods=72, freq="M"))
    f = _small(lookback=12).fit(monthly)
    with pytest.raises(ValueError, match="fitted on times: pass history with them"):
        f.predict(y)
    g = _small(lookback=12, seasonal_period=12).fit(y)
    with pytest.raises(ValueError, match="fitted on plain values"):
        g.predict(monthly)
