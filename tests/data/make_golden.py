"""Write the golden model files of the current format version (run once per release).

python tests/data/make_golden.py  ->  tests/data/golden_v{N}_*.npz

Each model file comes with the inputs and the predictions it gave when it was
written; tests/test_persistence.py checks that every golden file still loads
and predicts the same.
"""

import os

import numpy as np

import fastrnn
from fastrnn._persistence import FORMAT_VERSION

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6, 2))
    series = np.sin(np.arange(80) / 4) + 0.1 * rng.standard_normal(80)
    text = "the cat sat on the mat; the dog sat on the log. " * 8
    models = {
        "regressor": lambda: fastrnn.RNNRegressor(hidden_size=6, max_iter=3, random_state=0).fit(
            X, X[:, :, 0].sum(axis=1)
        ),
        "classifier": lambda: fastrnn.RNNClassifier(
            cell="gru", hidden_size=5, bidirectional=True, max_iter=3, random_state=0
        ).fit(X, np.where(X[:, 0, 0] > 0, "up", "down")),
        "language_model": lambda: fastrnn.RNNLanguageModel(
            tokenizer="word", hidden_size=8, embedding_dim=4, max_iter=2, random_state=0
        ).fit(text),
        "forecaster": lambda: fastrnn.RNNForecaster(
            lookback=6,
            horizon=3,
            estimator=fastrnn.RNNRegressor(hidden_size=5, max_iter=3, random_state=0),
        ).fit(series),
        "forecaster_panel": lambda: fastrnn.RNNForecaster(
            lookback=6,
            horizon=3,
            seasonal_period=4,
            d=1,
            estimator=fastrnn.RNNRegressor(hidden_size=5, max_iter=3, random_state=0),
        ).fit([series, series[:50] * 2 + 1]),
    }
    for name, make in models.items():
        stem = os.path.join(HERE, f"golden_v{FORMAT_VERSION}_{name}")
        if os.path.exists(stem + ".npz"):  # a released golden file is never rewritten
            continue
        model = make()
        model.save(stem + ".npz")
        np.savez(stem + "_expected.npz", **expected(name, model, X))


def expected(name, model, X):
    """The inputs and outputs a golden file is checked against (as ``X``, ``predicted``)."""
    if name == "language_model":
        prompts = np.array(["the cat", "a dog on", ""])
        return {"X": prompts, "predicted": model.predict_proba(list(prompts))}
    if name.startswith("forecaster"):
        return {"X": np.zeros(0), "predicted": np.stack(model.predict(return_interval=True))}
    predicted = model.predict_proba(X) if name == "classifier" else model.predict(X)
    return {"X": X, "predicted": predicted}


if __name__ == "__main__":
    main()
