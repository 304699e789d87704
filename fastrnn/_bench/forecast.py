"""Forecasting against the classical baselines, on real series that ship offline.

``python bench/forecast.py`` (or ``fastrnn bench --forecast``): a panel of
series from statsmodels' datasets, each forecast from several origins at its
end (rolling origin: train on everything before the origin, forecast the next
``horizon`` values), by fastrnn's :class:`~fastrnn.RNNForecaster` with its
defaults (given each series' season, as the baselines are) and by the
forecasts a practitioner would try first: seasonal
naive, exponential smoothing (ETS), Theta, a seasonal ARIMA and a plain
PyTorch LSTM recipe that scales each window by its last value. Reported per
series and on average: MASE (the error over the in-sample seasonal-naive
error), the coverage of 80% intervals, and fit time.

Needs statsmodels (and torch for the PyTorch recipe): ``pip install
fastrnn[bench]``.
"""

import argparse
import json
import time
import warnings

import numpy as np

from fastrnn._forecasting import make_windows, mase

LEVEL = 0.8  # the intervals' nominal coverage


def _monthly_co2():
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate()
    return monthly.to_numpy()[-240:]  # the last 20 years


def _elec_equip():
    from statsmodels.datasets import elec_equip

    return elec_equip.load_pandas().data.iloc[:, 0].to_numpy()


def _nile():
    from statsmodels.datasets import nile

    return nile.load_pandas().data["volume"].to_numpy()


def _elnino():
    from statsmodels.datasets import elnino

    return elnino.load_pandas().data.iloc[:, 1:].to_numpy().ravel()


def _sunspots():
    from statsmodels.datasets import sunspots

    return sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()


def _macro(column, log):
    def load():
        from statsmodels.datasets import macrodata

        values = macrodata.load_pandas().data[column].to_numpy()
        return np.log(values) if log else values

    return load


# name -> (loader, seasonal period, horizon)
PANEL = {
    "co2 (monthly)": (_monthly_co2, 12, 12),
    "elec_equip (monthly)": (_elec_equip, 12, 12),
    "elnino (monthly)": (_elnino, 12, 12),
    "nile (yearly)": (_nile, 1, 10),
    "sunspots (yearly)": (_sunspots, 1, 10),
    "realgdp, log (quarterly)": (_macro("realgdp", True), 4, 8),
    "cpi, log (quarterly)": (_macro("cpi", True), 4, 8),
    "unemp (quarterly)": (_macro("unemp", False), 4, 8),
}


# -- the baselines ------------------------------------------------------------


def seasonal_naive(y, m, h):
    """Repeat the last season; intervals from the in-sample seasonal-naive errors."""
    forecast = np.array([y[len(y) - m + (i % m)] for i in range(h)])
    errors = y[m:] - y[:-m]
    k = np.arange(h) // m + 1  # seasons ahead: the error of a k-season step adds up
    lo, hi = np.quantile(errors, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return forecast, forecast + lo * np.sqrt(k), forecast + hi * np.sqrt(k)


def ets(y, m, h):
    """statsmodels' ETS: additive damped trend, additive season when ``m > 1``."""
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = "add" if m > 1 and len(y) >= 2 * m + 2 else None
    model = ETSModel(
        pd.Series(y),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal=seasonal,
        seasonal_periods=m if seasonal else None,
    ).fit(disp=False)
    pred = model.get_prediction(start=len(y), end=len(y) + h - 1)
    frame = pred.summary_frame(alpha=1 - LEVEL)
    return frame["mean"].to_numpy(), frame["pi_lower"].to_numpy(), frame["pi_upper"].to_numpy()


def theta(y, m, h):
    """statsmodels' Theta method (deseasonalised when ``m > 1``)."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    res = ThetaModel(y, period=m, deseasonalize=m > 1).fit()
    forecast = np.asarray(res.forecast(h))
    interval = np.asarray(res.prediction_intervals(h, alpha=1 - LEVEL))
    return forecast, interval[:, 0], interval[:, 1]


def arima(y, m, h):
    """A seasonal ARIMA: (1,1,1)(0,1,1)_m (the airline model) or (1,1,1) without season."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = (0, 1, 1, m) if m > 1 else (0, 0, 0, 0)
    res = SARIMAX(y, order=(1, 1, 1), seasonal_order=seasonal).fit(disp=False)
    fc = res.get_forecast(h)
    interval = np.asarray(fc.conf_int(alpha=1 - LEVEL))
    return np.asarray(fc.predicted_mean), interval[:, 0], interval[:, 1]


def torch_lstm(y, m, h, seed=0):
    """The plain PyTorch recipe: an LSTM on windows divided by their last value.

    Lookback ``max(2 m, 2 h)``, 32 hidden units, a linear head to all ``h``
    values, Adam at 0.01, 200 full-batch epochs; intervals from the
    in-sample errors.
    """
    import torch

    torch.manual_seed(seed)
    lookback = max(2 * m, 2 * h)
    X, Y = make_windows(y, lookback, h)
    X, Y = X[:, :, 0], Y.reshape(len(X), h)
    last = X[:, -1:]
    last = np.where(np.abs(last) < 1e-8, 1.0, last)
    Xs = torch.tensor((X / last - 1)[:, :, None], dtype=torch.float32)
    Ys = torch.tensor(Y / last - 1, dtype=torch.float32)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(1, 32, batch_first=True)
            self.head = torch.nn.Linear(32, h)

        def forward(self, x):
            _, (h_n, _) = self.rnn(x)
            return self.head(h_n[-1])

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(200):
        opt.zero_grad()
        loss = torch.mean((net(Xs) - Ys) ** 2)
        loss.backward()
        opt.step()
    with torch.no_grad():
        fitted = (net(Xs).numpy() + 1) * last
        w = y[-lookback:]
        scale = w[-1] if abs(w[-1]) > 1e-8 else 1.0
        forecast = (
            net(torch.tensor((w / scale - 1)[None, :, None], dtype=torch.float32)).numpy()[0] + 1
        ) * scale
    errors = Y - fitted
    lo, hi = np.quantile(errors, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    return forecast, forecast + lo, forecast + hi


# Options of the "fastrnn" row beyond its defaults (``--fastrnn key=value,...``).
FASTRNN_OPTIONS = {}


def fastrnn_defaults(y, m, h, **extra):
    """:class:`~fastrnn.RNNForecaster` with its defaults: only the horizon, the season
    (``seasonal_period=m``, which every baseline is given too) and the intervals'
    level set, plus :data:`FASTRNN_OPTIONS` and ``extra``."""
    from fastrnn import RNNForecaster

    options = {"seasonal_period": "m", **FASTRNN_OPTIONS, **extra}
    options = {k: (m if v == "m" else v) for k, v in options.items()}
    if options.get("seasonal_period") == 1:  # a series without a season: no seasonal options
        options.pop("seasonal_period")
        if options.get("D") == 1:
            options.pop("D")
    f = RNNForecaster(horizon=h, interval=LEVEL, random_state=0, **options).fit(y)
    return f.predict(return_interval=True)


def fastrnn_one_fit(y, m, h):
    """fastrnn at its cheapest sound setting: window scaling, no seasonal differencing
    to choose (one fit and its refit, where the defaults run up to three and a refit)."""
    return fastrnn_defaults(y, m, h, scaling="window", D=0)


def fastrnn_tuned(y, m, h):
    """fastrnn tuned per series the way a practitioner would: a small grid (lookback of
    12 or of two seasons or horizons; 32 or 64 hidden units) scored by
    :func:`~fastrnn.cross_validate_forecast` (2 origins, MASE) on the training part
    alone; the best is refitted on all of it."""
    from fastrnn import RNNForecaster, RNNRegressor, cross_validate_forecast

    season = {"seasonal_period": m} if m > 1 else {}
    best = None
    for lookback in sorted({12, 2 * max(m, h)}):
        for hidden in (32, 64):
            f = RNNForecaster(
                lookback=lookback,
                horizon=h,
                interval=LEVEL,
                estimator=RNNRegressor(
                    hidden_size=hidden,
                    early_stopping=True,
                    validation_fraction=0.2,
                    n_iter_no_change=10,
                    random_state=0,
                ),
                **season,
            )
            try:
                score = float(np.mean(cross_validate_forecast(f, y, n_splits=2)["mase"]))
            except ValueError:  # too short a series for this lookback at 2 origins
                continue
            if best is None or score < best[0]:
                best = (score, f)
    return best[1].fit(y).predict(return_interval=True)


def _options(text):
    """``"scaling=global,lookback=24,series_id=true"`` -> ``{"scaling": "global",
    "lookback": 24, "series_id": True}``."""
    options = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        value = value.strip()
        if value.lstrip("-").isdigit():
            value = int(value)
        elif value.lower() in ("true", "false"):
            value = value.lower() == "true"
        options[key.strip()] = value
    return options


MODELS = {
    "seasonal naive": seasonal_naive,
    "ETS": ets,
    "Theta": theta,
    "ARIMA": arima,
    "PyTorch LSTM": torch_lstm,
    "fastrnn": fastrnn_defaults,
    "fastrnn (one fit)": fastrnn_one_fit,
    "fastrnn (tuned)": fastrnn_tuned,
}


def evaluate(panel, models, origins):
    """Rows ``{series, model, mase, coverage, fit_s}``, averaged over ``origins`` origins."""
    rows = []
    for name, (load, m, h) in panel.items():
        y = np.asarray(load(), dtype=np.float64)
        for model, forecast in models.items():
            scores, covered, seconds, last = [], [], [], None
            for k in range(origins, 0, -1):
                cut = len(y) - k * h
                train, test = y[:cut], y[cut : cut + h]
                tic = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    point, lower, upper = (np.asarray(a, np.float64) for a in forecast(train, m, h))
                seconds.append(time.perf_counter() - tic)
                scores.append(mase(train, test, point, m))
                covered.append(float(np.mean((test >= lower) & (test <= upper))))
                last = {
                    "history": train[-4 * h :].tolist(),
                    "truth": test.tolist(),
                    "forecast": point.tolist(),
                    "lower": lower.tolist(),
                    "upper": upper.tolist(),
                }
            rows.append(
                {
                    "series": name,
                    "model": model,
                    "mase": float(np.mean(scores)),
                    "coverage": float(np.mean(covered)),
                    "fit_s": float(np.mean(seconds)),
                    "last_origin": last,
                }
            )
            print(
                f"{name:28s} {model:16s} MASE {rows[-1]['mase']:.3f}  "
                f"coverage {rows[-1]['coverage']:.2f}  {rows[-1]['fit_s']:.2f} s",
                flush=True,
            )
    return rows


# -- many short series: one global model against a model per series ---------------

MANY_HORIZON = 6


def fertility_panel(least=36):
    """The World Bank's fertility rates (births per woman), one yearly series per country
    (statsmodels' ``fertility``): each country's last stretch without a gap, if it has
    at least ``least`` years."""
    from statsmodels.datasets import fertility

    df = fertility.load_pandas().data
    years = [c for c in df.columns if str(c).isdigit()]
    panel = {}
    for _, row in df.iterrows():
        values = row[years].to_numpy(dtype=np.float64)
        valid = np.flatnonzero(~np.isnan(values))
        if len(valid) == 0:
            continue
        end = valid[-1] + 1
        gaps = np.flatnonzero(np.isnan(values[:end]))
        start = gaps[-1] + 1 if len(gaps) else 0
        if end - start >= least:
            panel[row["Country Name"]] = values[start:end]
    return panel


def _fastrnn_global(trains, h, **options):
    from fastrnn import RNNForecaster

    f = RNNForecaster(horizon=h, interval=LEVEL, random_state=0, **options).fit(trains)
    return f.predict(return_interval=True)


def _each(method):
    """A one-series forecaster applied to every series: ``(trains, h) -> [n, h]`` x 3."""

    def run(trains, h):
        outs = [method(y, 1, h) for y in trains]
        return tuple(np.array([o[i] for o in outs]) for i in range(3))

    return run


MANY_MODELS = {
    "naive": _each(seasonal_naive),
    "ETS": _each(ets),
    "Theta": _each(theta),
    "fastrnn (a model per series)": _each(fastrnn_defaults),
    "fastrnn (one global model)": _fastrnn_global,
    "fastrnn (global + series ids)": lambda trains, h: _fastrnn_global(trains, h, series_id=True),
}


def evaluate_many(panel, models, origins, h=MANY_HORIZON):
    """Rows ``{model, mase, coverage, fit_s}``: MASE averaged over the series and
    ``origins`` origins (the last ``h`` values, the ``h`` before them...), the
    total fit time of each origin averaged."""
    series = list(panel.values())
    rows = []
    for model, forecast in models.items():
        scores, covered, seconds = [], [], []
        for k in range(origins, 0, -1):
            trains = [y[: len(y) - k * h] for y in series]
            tests = [y[len(y) - k * h : len(y) - k * h + h] for y in series]
            tic = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                point, lower, upper = (np.asarray(a, np.float64) for a in forecast(trains, h))
            seconds.append(time.perf_counter() - tic)
            for i, (train, test) in enumerate(zip(trains, tests)):
                scores.append(mase(train, test, point[i], 1))
                covered.append(float(np.mean((test >= lower[i]) & (test <= upper[i]))))
        rows.append(
            {
                "series": f"fertility, {len(series)} countries (yearly)",
                "model": model,
                "mase": float(np.mean(scores)),
                "coverage": float(np.mean(covered)),
                "fit_s": float(np.mean(seconds)),
            }
        )
        print(
            f"{model:30s} MASE {rows[-1]['mase']:.3f}  coverage {rows[-1]['coverage']:.2f}  "
            f"{rows[-1]['fit_s']:.2f} s",
            flush=True,
        )
    return rows


def plot(rows, path, models=("fastrnn", "ETS"), count=4):
    """Draw the last origin's forecasts and 80% intervals of ``models`` on the first
    ``count`` series (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [s for s in dict.fromkeys(r["series"] for r in rows)][:count]
    cell = {(r["series"], r["model"]): r for r in rows if r.get("last_origin")}
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.6 * len(series)), squeeze=False)
    for ax, name in zip(axes[:, 0], series):
        drawn = [m for m in models if (name, m) in cell]
        if not drawn:
            continue
        last = cell[name, drawn[0]]["last_origin"]
        n_hist, h = len(last["history"]), len(last["truth"])
        t_hist, t_future = np.arange(n_hist), np.arange(n_hist, n_hist + h)
        ax.plot(t_hist, last["history"], color="black", lw=1, label="history")
        ax.plot(t_future, last["truth"], color="black", lw=1, ls="--", label="held out")
        for m, color in zip(drawn, ("tab:blue", "tab:orange", "tab:green")):
            o = cell[name, m]["last_origin"]
            ax.plot(t_future, o["forecast"], color=color, label=m)
            ax.fill_between(t_future, o["lower"], o["upper"], color=color, alpha=0.2)
        ax.set_title(name, fontsize=10)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(rows):
    """The table: MASE per series and model (coverage and fit time beside), then means."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    series = list(dict.fromkeys(r["series"] for r in rows))
    cell = {(r["series"], r["model"]): r for r in rows}
    lines = [
        "| series | " + " | ".join(models) + " |",
        "| --- | " + " | ".join("---" for _ in models) + " |",
    ]
    for s in series:
        best = min(cell[s, m]["mase"] for m in models)
        parts = []
        for m in models:
            r = cell[s, m]
            text = f"{r['mase']:.3f} ({r['coverage']:.0%})"
            parts.append(f"**{text}**" if r["mase"] == best else text)
        lines.append(f"| {s} | " + " | ".join(parts) + " |")
    for label, key, fmt in (
        ("mean MASE", "mase", "{:.3f}"),
        ("mean 80% coverage", "coverage", "{:.0%}"),
        ("mean fit, s", "fit_s", "{:.2f}"),
    ):
        values = [np.mean([cell[s, m][key] for s in series]) for m in models]
        lines.append(f"| {label} | " + " | ".join(fmt.format(v) for v in values) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None, prog=None):
    """Run the evaluation; print a line per series and model, then the table."""
    from fastrnn._cli import HelpFormatter

    parser = argparse.ArgumentParser(
        prog=prog or "bench/forecast.py",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--origins", type=int, default=3, help="forecast origins per series")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    parser.add_argument("--series", default=None, help="comma-separated subset of the panel")
    parser.add_argument(
        "--fastrnn",
        type=_options,
        default={},
        help="RNNForecaster options for the fastrnn row, e.g. scaling=global,lookback=24 "
        "(seasonal_period=m: each series' season; with D=1, only where it has one)",
    )
    parser.add_argument(
        "--many",
        action="store_true",
        help="the many-series panel instead: one global model against a model per series "
        f"and the classical baselines ({MANY_HORIZON} years ahead)",
    )
    parser.add_argument("--plot", help="draw a few forecasts with their intervals here (PNG)")
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--markdown", help="write the table here")
    args = parser.parse_args(argv)
    unknown = [k for k in args.models.split(",") if k not in MODELS]
    unknown += [k for k in (args.series or "").split(",") if k and k not in PANEL]
    if unknown:
        parser.error(
            f"unknown model or series {unknown[0]!r}: models {list(MODELS)}, series {list(PANEL)}"
        )
    FASTRNN_OPTIONS.clear()
    FASTRNN_OPTIONS.update(args.fastrnn)
    if args.many:
        rows = evaluate_many(fertility_panel(), MANY_MODELS, args.origins)
        table = markdown(rows)
    else:
        models = {k: MODELS[k] for k in args.models.split(",")}
        panel = PANEL if args.series is None else {k: PANEL[k] for k in args.series.split(",")}
        rows = evaluate(panel, models, args.origins)
        table = markdown(rows)
        if args.plot:
            plot(rows, args.plot)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    return 0
