"""A stock-price-like series, SYNTHETIC: LSTM -> Dropout -> Dense
==============================================================

The write-ups' ``LSTM -> Dropout -> Dense`` forecast, on SYNTHETIC DATA. Run
it: ``python examples/stock_forecast.py [--epochs N] [--png FILE]``. The
"prices" are made up here: a geometric random walk with a small upward
drift, not market data. The write-ups' recipe, line for line: scale to [0,
1] with ``MinMaxScaler`` (fitted on the training days only: fitting it on
the whole series would leak the future), windows of the last 60 days predict
the next day, ``LSTM(50) -> Dropout(0.2) -> Dense(1)`` with adam and MSE,
``fit(..., validation_data=...)`` on the next days, and the forecast of the
last days drawn over the truth (matplotlib optional).

What the picture does not say: a random walk's best forecast of tomorrow
is today's value, so the script prints that naive forecast's error next to
the model's, and which is better. With the defaults the model is behind it
(the forecast lags and smooths the walk): the curves that look so close in
the write-ups' pictures are mostly yesterday's price. A model that matches
the naive forecast has learnt what can be learnt here; one that seems to
beat it on a real stock deserves suspicion.
"""

import argparse

import numpy as np
from _recipe import pyplot, save, timed_fit
from sklearn.preprocessing import MinMaxScaler

from fastrnn import RNNRegressor, make_windows


def synthetic_prices(days, rng, start=100.0, drift=3e-4, volatility=0.015):
    """A made-up price series: a geometric random walk with drift (not market data)."""
    returns = drift + volatility * rng.standard_normal(days - 1)
    return start * np.exp(np.concatenate([[0.0], np.cumsum(returns)]))


def stock_data(days, lookback):
    """The scaled windows and the splits: 70% of the days to train on, 15% to validate
    on while training, the last 15% to report; and what unscales a forecast."""
    prices = synthetic_prices(days, np.random.default_rng(0))
    n_train, n_val = int(0.7 * days), int(0.15 * days)
    scaler = MinMaxScaler().fit(prices[:n_train, None])
    scaled = scaler.transform(prices[:, None])[:, 0]
    X, y = make_windows(scaled, lookback)  # window i ends on day i + lookback - 1
    target_day = np.arange(len(y)) + lookback
    train = target_day < n_train
    val = (target_day >= n_train) & (target_day < n_train + n_val)
    test = target_day >= n_train + n_val

    def unscale(a):
        return scaler.inverse_transform(np.asarray(a)[:, None])[:, 0]

    return prices, X, y, target_day, (train, val, test), unscale


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--days", type=int, default=1500)
    p.add_argument("--lookback", type=int, default=60)
    p.add_argument("--png", default="stock_forecast.png")
    args = p.parse_args(argv)

    prices, X, y, target_day, (train, val, test), unscale = stock_data(args.days, args.lookback)
    model = RNNRegressor(  # Sequential([LSTM(50), Dropout(0.2), Dense(1)]), adam, mse
        cell="lstm",
        hidden_size=50,
        head_dropout=0.2,
        max_iter=args.epochs,
        tol=None,  # every epoch, as Keras' epochs=
        batch_size=32,
        random_state=0,
    )
    took = timed_fit(model, X[train], y[train], validation_data=(X[val], y[val]))
    truth = prices[target_day[test]]
    forecast = unscale(model.predict(X[test]))
    naive = prices[target_day[test] - 1]  # tomorrow = today
    rmse = float(np.sqrt(np.mean((forecast - truth) ** 2)))
    naive_rmse = float(np.sqrt(np.mean((naive - truth) ** 2)))
    print("SYNTHETIC prices (a random walk with drift), not market data")
    print(
        f"fitted {model.n_iter_} epochs in {took:.2f} s; validation R^2 by epoch: "
        f"{model.validation_scores_[0]:.3f} -> {model.validation_scores_[-1]:.3f}"
    )
    print(
        f"last {len(truth)} days: model RMSE {rmse:.3f}, naive 'tomorrow = today' RMSE "
        f"{naive_rmse:.3f} (price about {truth.mean():.0f}): the "
        f"{'model' if rmse < naive_rmse else 'naive forecast'} is better"
    )
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        days = target_day[test]
        ax.plot(np.arange(len(prices)), prices, color="lightgray", label="synthetic price")
        ax.plot(days, truth, label="truth (held out)")
        ax.plot(days, forecast, linestyle="--", label="forecast of the next day")
        ax.set_title("SYNTHETIC DATA: geometric random walk with drift")
        ax.set_xlabel("day")
        ax.legend()
        save(fig, args.png)
    return {"seconds": took, "test RMSE": rmse, "naive RMSE": naive_rmse}


# %%
# Run with the command line's defaults (what the gallery shows).


if __name__ == "__main__":
    main()
