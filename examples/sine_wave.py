"""The next value of a sine wave: LSTM(50) -> Dense(1)
===================================================

Keras' ``LSTM(50) -> Dense(1)`` recipe. Run it: ``python
examples/sine_wave.py [--epochs N] [--png FILE]``. Windows of the last
``--lookback`` values of a noisy sine wave predict the next value; the model
is fitted on the first 80% of the series with the rest as
``validation_data``, and the prediction is drawn over the truth (matplotlib
optional: without it, no picture).
"""

import argparse

import numpy as np
from _recipe import pyplot, save, timed_fit

from fastrnn import RNNRegressor, make_windows


def sine_data(lookback):
    """Windows of a noisy sine wave and the value after each: the first 80% to fit on,
    the rest to validate on, ``(X_train, y_train, X_val, y_val)``."""
    t = np.arange(1000)
    rng = np.random.default_rng(0)
    series = np.sin(2 * np.pi * t / 50) + 0.05 * rng.standard_normal(t.size)
    X, y = make_windows(series, lookback)  # X: [windows, lookback, 1]
    split = int(0.8 * len(X))
    return X[:split], y[:split], X[split:], y[split:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--lookback", type=int, default=20)
    p.add_argument("--png", default="sine_wave.png")
    args = p.parse_args(argv)

    X_train, y_train, X_val, y_val = sine_data(args.lookback)
    model = RNNRegressor(  # Sequential([LSTM(50), Dense(1)]), adam, mse
        cell="lstm",
        hidden_size=50,
        max_iter=args.epochs,
        tol=None,  # every epoch, as Keras' epochs=
        batch_size=32,
        random_state=0,
    )
    took = timed_fit(model, X_train, y_train, validation_data=(X_val, y_val))
    pred = model.predict(X_val)
    rmse = float(np.sqrt(np.mean((pred - y_val) ** 2)))
    print(
        f"fitted {model.n_iter_} epochs in {took:.2f} s; held-out RMSE {rmse:.3f} "
        f"(the noise alone is 0.05)"
    )
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.plot(y_val[:200], label="truth")
        ax.plot(pred[:200], label="prediction", linestyle="--")
        ax.set_xlabel("step (held-out part)")
        ax.legend()
        save(fig, args.png)
    return {"seconds": took, "held-out RMSE": rmse}


# %%
# Run with the command line's defaults (what the gallery shows).


if __name__ == "__main__":
    main()
