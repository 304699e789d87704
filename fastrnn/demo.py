"""The README's main job: train an LSTM on a noisy sine wave and report.

Run it with ``fastrnn demo`` (or ``python -m fastrnn.demo``). It uses the layer API directly — an
LSTM, a linear head and Adam over the LSTM's flat parameter buffer — to learn
next-value prediction, then prints what it learned (test error against a
naive forecast, a few predictions) and how fast it trained.
"""

import argparse
import time

import numpy as np

import fastrnn
from fastrnn._kernels import backend_name, get_backend
from fastrnn._optimizers import Adam


def make_sine_windows(n_windows, lookback, rng, noise=0.05):
    """Windows ``X [n, lookback, 1]`` of a noisy sine wave and next values ``y [n]``."""
    t = rng.uniform(0, 200, size=(n_windows, 1)) + np.arange(lookback + 1) * 0.2
    series = np.sin(t) + 0.5 * np.sin(0.31 * t) + noise * rng.standard_normal(t.shape)
    return series[:, :-1, None].astype(np.float32), series[:, -1].astype(np.float32)


def train(X, y, hidden_size, epochs, batch_size, lr, backend, seed):
    """Fit LSTM + linear head by minibatch Adam on squared error; return the parts."""
    rng = np.random.default_rng(seed)
    lstm = fastrnn.nn.LSTM(1, hidden_size, backend=backend, random_state=seed)
    head = np.zeros(hidden_size + 1, dtype=np.float32)  # weights, then bias
    opt_lstm, opt_head = Adam(lr), Adam(lr)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start : start + batch_size]
            out, _ = lstm.forward(X[idx], training=True)
            last = out[:, -1, :]
            err = last @ head[:-1] + head[-1] - y[idx]
            total += float(err @ err)
            derr = 2 * err / len(idx)
            grad_out = np.zeros_like(out)
            grad_out[:, -1, :] = np.outer(derr, head[:-1])
            lstm.zero_grad()
            lstm.backward(grad_out)
            opt_head.update(head, np.append(last.T @ derr, derr.sum()).astype(np.float32))
            opt_lstm.update(lstm.flat_params, lstm.flat_grad)
        losses.append(total / len(X))
    return lstm, head, losses


def main(argv=None, prog=None):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--backend", default="auto", choices=["auto", "cython", "numba", "numpy"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    lookback = 40
    X_train, y_train = make_sine_windows(2000, lookback, rng)
    X_test, y_test = make_sine_windows(500, lookback, rng)
    backend = backend_name(get_backend(args.backend))
    print(f"fastrnn {fastrnn.__version__}: backends {fastrnn.backends()}, using {args.backend!r}")
    print(
        f"Task: predict the next value of a noisy two-tone sine wave from the last {lookback} "
        f"({len(X_train)} training windows, {len(X_test)} test windows)"
    )

    t0 = time.perf_counter()
    lstm, head, losses = train(
        X_train, y_train, args.hidden_size, args.epochs, 64, 0.01, args.backend, args.seed
    )
    elapsed = time.perf_counter() - t0
    for epoch in sorted({0, len(losses) // 2, len(losses) - 1}):
        print(f"  epoch {epoch + 1:3d}  training MSE {losses[epoch]:.5f}")

    t0 = time.perf_counter()
    out, _ = lstm.forward(X_test)
    infer = time.perf_counter() - t0
    pred = out[:, -1, :] @ head[:-1] + head[-1]
    mse = float(np.mean((pred - y_test) ** 2))
    naive = float(np.mean((X_test[:, -1, 0] - y_test) ** 2))
    print(
        f"Test MSE {mse:.5f} against {naive:.5f} for repeating the last value "
        f"({naive / mse:.1f}x better)"
    )
    for i in range(3):
        print(f"  window {i}: predicted {pred[i]:+.3f}, true {y_test[i]:+.3f}")
    n_steps = args.epochs * len(X_train) * lookback
    print(
        f"Speed ({backend} backend): training {elapsed:.2f} s for {args.epochs} epochs "
        f"({n_steps / elapsed / 1e3:.0f}k sequence steps/s, forward + backward); "
        f"inference on {len(X_test)} windows {infer * 1e3:.1f} ms"
    )
    return mse, naive


if __name__ == "__main__":
    main()
