"""The classic recipes in fastrnn, Keras 3 and PyTorch, side by side: time and quality.

``python bench/recipes.py [--recipes sine,stock,digits,words,cells] [--json FILE]``

Each recipe's data and settings are those of its script in ``examples/``
(``sine_wave.py``: ``LSTM(50) -> Dense(1)`` with ``validation_data``;
``stock_forecast.py``: ``LSTM(50) -> Dropout(0.2) -> Dense(1)``;
``digit_sequences.py``: ``LSTM(32, return_sequences=True) ->
TimeDistributed(Dense(10, softmax))``; ``next_word.py``: ``Embedding -> LSTM(64)
-> Dense(softmax)`` on n-gram prefixes; ``cell_loop.py``: a loop over
``LSTMCell`` written by hand). fastrnn runs the script itself; the
Keras model is the recipe as its write-ups give it (``Sequential``, Adam at
Keras' default rate, the same epochs and batch size); the PyTorch model is the
same network with a plain training loop (Adam at PyTorch's default rate). The
fit time and the recipe's quality number are printed for each, on the same
held-out data. Needs keras (on its torch backend) and torch.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
os.environ.setdefault("KERAS_BACKEND", "torch")

import cell_loop  # noqa: E402
import digit_sequences  # noqa: E402
import next_word  # noqa: E402
import sine_wave  # noqa: E402
import stock_forecast  # noqa: E402


def _keras_fit(model, X, y, epochs, validation_data=None, loss="mse"):
    import keras

    keras.utils.set_random_seed(0)
    model.compile(optimizer="adam", loss=loss)
    tic = time.perf_counter()
    model.fit(X, y, epochs=epochs, batch_size=32, validation_data=validation_data, verbose=0)
    return time.perf_counter() - tic


def _torch_fit(net, X, y, epochs, loss_fn, dtype="float32"):
    import torch

    torch.manual_seed(0)
    Xt = torch.tensor(X, dtype=torch.float32) if dtype else torch.tensor(X)
    yt = torch.tensor(y)
    opt = torch.optim.Adam(net.parameters())
    tic = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), 32):
            idx = order[start : start + 32]
            opt.zero_grad()
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    return time.perf_counter() - tic


def _torch_lstm_regressor(hidden, dropout=0.0):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(1, hidden, batch_first=True)
            self.drop = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x):
            _, (h, _) = self.rnn(x)
            return self.head(self.drop(h[-1]))[:, 0]

    return Net()


def _predict_torch(net, X):
    import torch

    net.eval()
    with torch.no_grad():
        return net(torch.tensor(X, dtype=torch.float32)).numpy()


def sine(engine):
    epochs, lookback = 60, 20
    X, y, Xv, yv = sine_wave.sine_data(lookback)
    if engine == "fastrnn":
        out = sine_wave.main(["--png", os.path.join(tempfile.gettempdir(), "sine.png")])
        return out["seconds"], out["held-out RMSE"]
    if engine == "keras":
        import keras

        model = keras.Sequential(
            [keras.Input((lookback, 1)), keras.layers.LSTM(50), keras.layers.Dense(1)]
        )
        took = _keras_fit(model, X, y, epochs, (Xv, yv))
        pred = model.predict(Xv, verbose=0)[:, 0]
    else:
        import torch

        net = _torch_lstm_regressor(50)
        took = _torch_fit(net, X, y.astype(np.float32), epochs, torch.nn.functional.mse_loss)
        pred = _predict_torch(net, Xv)
    return took, float(np.sqrt(np.mean((pred - yv) ** 2)))


def stock(engine):
    epochs, days, lookback = 30, 1500, 60
    prices, X, y, target_day, (train, val, test), unscale = stock_forecast.stock_data(
        days, lookback
    )
    if engine == "fastrnn":
        out = stock_forecast.main(["--png", os.path.join(tempfile.gettempdir(), "stock.png")])
        return out["seconds"], out["test RMSE"]
    if engine == "keras":
        import keras

        model = keras.Sequential(
            [
                keras.Input((lookback, 1)),
                keras.layers.LSTM(50),
                keras.layers.Dropout(0.2),
                keras.layers.Dense(1),
            ]
        )
        took = _keras_fit(model, X[train], y[train], epochs, (X[val], y[val]))
        pred = model.predict(X[test], verbose=0)[:, 0]
    else:
        import torch

        net = _torch_lstm_regressor(50, dropout=0.2)
        took = _torch_fit(
            net, X[train], y[train].astype(np.float32), epochs, torch.nn.functional.mse_loss
        )
        pred = _predict_torch(net, X[test])
    truth = prices[target_day[test]]
    return took, float(np.sqrt(np.mean((unscale(pred) - truth) ** 2)))


def digits(engine):
    epochs, steps = 40, 10
    seqs, X, Y, X_test = digit_sequences.digits_data(steps)
    truth = seqs[1000:, 1:]
    if engine == "fastrnn":
        out = digit_sequences.main(["--png", os.path.join(tempfile.gettempdir(), "digits.png")])
        return out["seconds"], out["held-out accuracy, steps 2+"]
    if engine == "keras":
        import keras

        model = keras.Sequential(
            [
                keras.Input((steps, 10)),
                keras.layers.LSTM(32, return_sequences=True),
                keras.layers.TimeDistributed(keras.layers.Dense(10, activation="softmax")),
            ]
        )
        took = _keras_fit(model, X, Y, epochs, loss="categorical_crossentropy")
        predicted = model.predict(X_test, verbose=0).argmax(axis=-1)
    else:
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = torch.nn.LSTM(10, 32, batch_first=True)
                self.head = torch.nn.Linear(32, 10)

            def forward(self, x):
                return self.head(self.rnn(x)[0])  # logits [B, T, 10]

        def loss(logits, target):
            return torch.nn.functional.cross_entropy(logits.reshape(-1, 10), target.reshape(-1))

        net = Net()
        took = _torch_fit(net, X, Y.argmax(axis=-1), epochs, loss)
        predicted = _predict_torch(net, X_test).argmax(axis=-1)
    return took, float((predicted == truth)[:, 1:].mean())


def words(engine):
    """next_word.py: the n-gram prefixes of the Zen of Python, ``Embedding(V, 16) ->
    LSTM(64) -> Dense(V, softmax)``, 150 epochs; quality: training accuracy."""
    from fastrnn.text import TextTokenizer

    epochs = 150
    if engine == "fastrnn":
        out = next_word.main([])
        return out["seconds"], out["training accuracy"]
    lines = next_word.zen_lines()
    tokenizer = TextTokenizer(level="word").fit(lines)
    X, y = next_word.prefixes(tokenizer.transform(lines))  # padded at the end with 0
    V = tokenizer.vocab_size
    if engine == "keras":
        import keras

        model = keras.Sequential(
            [
                keras.Input((X.shape[1],)),
                keras.layers.Embedding(V, 16, mask_zero=True),  # the padding skipped
                keras.layers.LSTM(64),
                keras.layers.Dense(V, activation="softmax"),
            ]
        )
        took = _keras_fit(model, X, y, epochs, loss="sparse_categorical_crossentropy")
        predicted = model.predict(X, verbose=0).argmax(axis=-1)
    else:
        import torch

        lengths = torch.tensor((X != 0).sum(axis=1))

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = torch.nn.Embedding(V, 16, padding_idx=0)
                self.rnn = torch.nn.LSTM(16, 64, batch_first=True)
                self.head = torch.nn.Linear(64, V)

            def forward(self, ids):
                n = (ids != 0).sum(dim=1).cpu()
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    self.embedding(ids), n, batch_first=True, enforce_sorted=False
                )
                _, (h, _) = self.rnn(packed)
                return self.head(h[-1])

        assert lengths.min() > 0
        net = Net()
        took = _torch_fit(net, X, y, epochs, torch.nn.functional.cross_entropy, dtype=None)
        net.eval()
        with torch.no_grad():
            predicted = net(torch.tensor(X)).argmax(dim=-1).numpy()
    return took, float((predicted == y).mean())


def cells(engine):
    """cell_loop.py: a loop over ``LSTMCell(1, 16)`` and a linear read-out learning
    the running mean of 10 random numbers, 300 Adam steps of 32 fresh sequences at
    0.01; quality: the last step's loss."""
    steps, H, T, B = 300, 16, 10, 32
    if engine == "fastrnn":
        out = cell_loop.main([])
        return out["seconds"], out["final loss"]
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(steps):
        x = rng.uniform(-1, 1, (B, T, 1)).astype(np.float32)
        batches.append((x, np.cumsum(x, axis=1) / np.arange(1, T + 1)[None, :, None]))
    if engine == "keras":
        import keras

        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((T, 1)),
                keras.layers.RNN(keras.layers.LSTMCell(H), return_sequences=True),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        tic = time.perf_counter()
        for x, target in batches:
            loss = model.train_on_batch(x, target)
        return time.perf_counter() - tic, float(loss)
    import torch

    torch.manual_seed(0)
    cell, head = torch.nn.LSTMCell(1, H), torch.nn.Linear(H, 1)
    opt = torch.optim.Adam([*cell.parameters(), *head.parameters()], lr=0.01)
    tic = time.perf_counter()
    for x, target in batches:
        xt, yt = torch.from_numpy(x), torch.from_numpy(target.astype(np.float32))
        state, preds = None, []
        for t in range(T):
            state = cell(xt[:, t], state)
            preds.append(head(state[0]))
        loss = torch.mean((torch.stack(preds, dim=1) - yt) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - tic, float(loss)


RECIPES = {
    "sine": (sine, "held-out RMSE (noise 0.05)"),
    "stock": (stock, "test RMSE (naive 1.518)"),
    "digits": (digits, "held-out accuracy, steps 2+"),
    "words": (words, "training accuracy"),
    "cells": (cells, "final loss"),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", default=",".join(RECIPES))
    p.add_argument("--engines", default="fastrnn,keras,torch")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    rows = []
    for name in args.recipes.split(","):
        run, quality = RECIPES[name]
        for engine in args.engines.split(","):
            seconds, value = run(engine)
            rows.append({"recipe": name, "engine": engine, "fit_s": seconds, quality: value})
            print(f"{name:7s} {engine:8s} fit {seconds:7.2f} s   {quality} {value:.4f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
