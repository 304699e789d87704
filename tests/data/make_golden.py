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
    models = {
        "regressor": fastrnn.RNNRegressor(hidden_size=6, max_iter=3, random_state=0).fit(
            X, X[:, :, 0].sum(axis=1)
        ),
        "classifier": fastrnn.RNNClassifier(
            cell="gru", hidden_size=5, bidirectional=True, max_iter=3, random_state=0
        ).fit(X, np.where(X[:, 0, 0] > 0, "up", "down")),
    }
    for name, model in models.items():
        stem = os.path.join(HERE, f"golden_v{FORMAT_VERSION}_{name}")
        model.save(stem + ".npz")
        predicted = model.predict_proba(X) if name == "classifier" else model.predict(X)
        np.savez(stem + "_expected.npz", X=X, predicted=predicted)


if __name__ == "__main__":
    main()
