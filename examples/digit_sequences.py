"""The next digit at every step, one-hot in and out (many-to-many)
===============================================================

Run it: ``python examples/digit_sequences.py [--epochs N] [--png FILE]``.
Each sequence, generated here, counts from a random digit in strides of 1, 2
or 3, modulo 10 (``3 5 7 9 1 3 ...``). The input is the digits one-hot,
``[N, T, 10]`` (Keras' ``to_categorical``), and the target the next digit
at every step, one-hot too: Keras' ``LSTM(32, return_sequences=True) ->
TimeDistributed(Dense(10, activation="softmax"))``, here
``RNNClassifier(output="sequence")``. After one digit the stride is
unknown, so the first step is a guess (one in three at best); from the
second on, the model should be right. Accuracy per step is drawn
(matplotlib optional).
"""

import argparse

import numpy as np
from _recipe import pyplot, save, timed_fit

from fastrnn import RNNClassifier


def digit_sequences(n, steps, rng):
    """``n`` sequences of ``steps + 1`` digits counting in strides of 1, 2 or 3 (mod 10)."""
    start = rng.integers(0, 10, size=(n, 1))
    stride = rng.integers(1, 4, size=(n, 1))
    return (start + stride * np.arange(steps + 1)) % 10


def digits_data(steps):
    """1,200 sequences one-hot, ``(digits, X_train, Y_train, X_test)``: 1,000 to fit on."""
    digits = digit_sequences(1200, steps, np.random.default_rng(0))
    one_hot = np.eye(10)[digits]  # to_categorical: [N, steps + 1, 10]
    X, Y = one_hot[:, :-1], one_hot[:, 1:]  # each step's target is the next digit
    return digits, X[:1000], Y[:1000], X[1000:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--steps", type=int, default=10, help="digits per input sequence")
    p.add_argument("--png", default="digit_sequences.png")
    args = p.parse_args(argv)

    digits, X_train, Y_train, X_test = digits_data(args.steps)
    model = RNNClassifier(  # LSTM(32, return_sequences=True) -> TimeDistributed(Dense(10))
        cell="lstm",
        hidden_size=32,
        output="sequence",
        max_iter=args.epochs,
        tol=None,  # every epoch, as Keras' epochs=
        learning_rate_init=0.01,
        random_state=0,
    )
    took = timed_fit(model, X_train, Y_train)
    predicted = model.predict(X_test)  # [N, steps] of digits
    per_step = (predicted == digits[1000:, 1:]).mean(axis=0)
    print(f"fitted {model.n_iter_} epochs in {took:.2f} s on {len(X_train)} sequences")
    print(
        f"held-out accuracy: first step {per_step[0]:.2f} (a guess: the stride is unknown), "
        f"later steps {per_step[1:].mean():.3f}"
    )
    print("a held-out sequence:", " ".join(map(str, digits[1000, :-1])))
    print("next, as predicted :", " ".join(map(str, predicted[0])))
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(np.arange(1, len(per_step) + 1), per_step)
        ax.axhline(1 / 3, color="gray", linestyle="--", label="a guess of the stride")
        ax.set_xlabel("step")
        ax.set_ylabel("held-out accuracy")
        ax.set_ylim(0, 1.05)
        ax.legend(loc="lower right")
        save(fig, args.png)
    return {"seconds": took, "held-out accuracy, steps 2+": float(per_step[1:].mean())}


# %%
# Run with the command line's defaults (what the gallery shows).


if __name__ == "__main__":
    main()
