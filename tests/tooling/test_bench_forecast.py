"""The forecasting evaluation (``bench/forecast.py``, ``fastrnn bench --forecast``)."""

import numpy as np
import pytest

from fastrnn._bench import forecast as fb


def test_mase_is_the_error_over_the_in_sample_seasonal_naive_error():
    train = np.array([1.0, 2.0, 3.0, 4.0, 5.0])  # naive errors: 1 each
    assert fb.mase(train, np.array([6.0, 7.0]), np.array([6.5, 6.0]), 1) == pytest.approx(0.75)


def test_seasonal_naive_repeats_the_last_season():
    rng = np.random.default_rng(0)
    y = np.tile([1.0, 5.0, 2.0, 8.0], 10) + 0.1 * rng.standard_normal(40)
    forecast, lower, upper = fb.seasonal_naive(y, 4, 6)
    np.testing.assert_array_equal(forecast, np.r_[y[-4:], y[-4:-2]])
    assert np.all(lower < forecast) and np.all(forecast < upper)
    # Two seasons ahead, the interval is wider (the errors add up).
    assert upper[4] - lower[4] > upper[0] - lower[0]


def test_fastrnn_and_the_table():
    t = np.arange(160.0)
    panel = {"trend": (lambda: 0.5 * t + np.sin(t), 1, 4)}
    models = {"seasonal naive": fb.seasonal_naive, "fastrnn": fb.fastrnn_defaults}
    rows = fb.evaluate(panel, models, origins=1)
    assert {r["model"] for r in rows} == set(models)
    table = fb.markdown(rows)
    assert table.startswith("| series | seasonal naive | fastrnn |")
    assert "mean MASE" in table and "mean 80% coverage" in table


def test_unknown_names_are_refused(capsys):
    with pytest.raises(SystemExit):
        fb.main(["--models", "prophet"])
    assert "unknown model or series 'prophet'" in capsys.readouterr().err
    from fastrnn._bench import main

    with pytest.raises(SystemExit):
        main(["--forecast", "--series", "m4"])  # `fastrnn bench --forecast` routes here


def test_the_fastrnn_row_takes_options():
    assert fb._options("scaling=global,lookback=24,seasonal_period=m") == {
        "scaling": "global",
        "lookback": 24,
        "seasonal_period": "m",
    }


def test_seasonal_options_are_dropped_for_a_series_without_a_season(monkeypatch):
    seen = {}

    class Recorder:
        def __init__(self, **options):
            seen.update(options)

        def fit(self, y):
            return self

        def predict(self, return_interval):
            return np.zeros(2), np.zeros(2), np.zeros(2)

    import fastrnn

    monkeypatch.setattr(fastrnn, "RNNForecaster", Recorder)
    monkeypatch.setattr(fb, "FASTRNN_OPTIONS", {"seasonal_period": "m", "D": 1})
    fb.fastrnn_defaults(np.arange(30.0), 1, 2)
    assert "seasonal_period" not in seen and "D" not in seen
    fb.fastrnn_defaults(np.arange(30.0), 12, 2)
    assert seen["seasonal_period"] == 12 and seen["D"] == 1


def test_the_one_fit_row_fixes_scaling_and_differencing(monkeypatch):
    seen = {}

    def record(y, m, h, **extra):
        seen.update(extra)

    monkeypatch.setattr(fb, "fastrnn_defaults", record)
    fb.fastrnn_one_fit(np.arange(30.0), 12, 2)
    assert seen == {"scaling": "window", "D": 0}


def test_options_read_booleans():
    assert fb._options("series_id=true,season_features=False") == {
        "series_id": True,
        "season_features": False,
    }


def test_many_series_rows_compare_a_global_model_with_the_baselines():
    t = np.arange(40.0)
    panel = {f"s{i}": (i + 1) * (1 + 0.05 * t) + np.sin(t + i) for i in range(5)}
    models = {k: fb.MANY_MODELS[k] for k in ("naive", "fastrnn (one global model)")}
    rows = fb.evaluate_many(panel, models, origins=1, h=3)
    assert [r["model"] for r in rows] == list(models)
    assert all(np.isfinite(r["mase"]) and 0 <= r["coverage"] <= 1 for r in rows)
    assert rows[0]["series"] == "fertility, 5 countries (yearly)"


def test_the_plot_draws_the_last_origin(tmp_path):
    pytest.importorskip("matplotlib")
    t = np.arange(80.0)
    panel = {"trend": (lambda: 0.5 * t + np.sin(t), 1, 4)}
    rows = fb.evaluate(panel, {"seasonal naive": fb.seasonal_naive}, origins=1)
    assert len(rows[0]["last_origin"]["forecast"]) == 4
    fb.plot(rows, tmp_path / "f.png", models=("seasonal naive",))
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
