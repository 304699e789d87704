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
