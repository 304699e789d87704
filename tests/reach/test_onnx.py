"""fastrnn -> ONNX -> onnxruntime gives fastrnn's numbers."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastrnn
from fastrnn._cells import CELLS as ALL_CELLS
from fastrnn.onnx import to_onnx

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

CELLS = list(ALL_CELLS)
LAYER = {"lstm": fastrnn.nn.LSTM, "gru": fastrnn.nn.GRU}


def _layer(cell, **kwargs):
    if cell.startswith("rnn_"):
        return fastrnn.nn.RNN(3, 5, nonlinearity=cell[4:], random_state=0, **kwargs)
    if cell == "gru_reset_before":
        return fastrnn.nn.GRU(3, 5, reset_after=False, random_state=0, **kwargs)
    return LAYER[cell](3, 5, random_state=0, **kwargs)


def _session(model, tmp_path=None):
    data = model.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_layer_outputs_and_states_match(cell, bidirectional, batch_first):
    layer = _layer(cell, num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 3)).astype(np.float32)  # [B, T, D]
    x = x if batch_first else x.transpose(1, 0, 2).copy()
    lengths = np.array([6, 2, 5, 1], np.int32)
    S = 2 * (2 if bidirectional else 1)
    h0 = (0.5 * rng.standard_normal((S, 4, 5))).astype(np.float32)
    c0 = (0.5 * rng.standard_normal((S, 4, 5))).astype(np.float32)
    hx = (h0, c0) if cell == "lstm" else h0
    sess = _session(to_onnx(layer, lengths=True, initial_state=True))
    feeds = {"x": x, "lengths": lengths, "h0": h0}
    if cell == "lstm":
        feeds["c0"] = c0
    got = sess.run(None, feeds)
    out, state = layer.forward(x, hx=hx, lengths=lengths)
    expected = [out] + (list(state) if cell == "lstm" else [state])
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_regressor_matches_predict(cell, bidirectional, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 7, 2))
    y = 100 + 10 * X.sum(axis=(1, 2))  # the target mapping is in the graph too
    gru_form = {"reset_after": False} if cell == "gru_reset_before" else {}
    est = _fit(
        fastrnn.RNNRegressor(
            cell=cell[:3] if gru_form else cell,
            **gru_form,
            hidden_size=6,
            num_layers=2,
            max_iter=3,
            bidirectional=bidirectional,
            random_state=0,
        ),
        X,
        y,
    )
    assert est.network_.rnn.cell == cell
    to_onnx(est, tmp_path / "model.onnx")
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"X": X.astype(np.float32)})
    assert got.dtype == np.float64 and got.shape == (20,)
    np.testing.assert_allclose(got, est.predict(X), rtol=1e-5, atol=1e-5 * np.abs(y).max())


def test_ragged_sequence_regressor_with_lengths_matches_predict():
    rng = np.random.default_rng(3)
    ragged = [rng.standard_normal((n, 2)) for n in (3, 7, 5, 1, 6)]
    targets = [np.cumsum(s, axis=0) for s in ragged]  # two targets per step
    est = _fit(
        fastrnn.RNNRegressor(output="sequence", hidden_size=5, max_iter=3, random_state=0),
        ragged,
        targets,
    )
    lengths = np.array([len(s) for s in ragged], np.int32)
    X = np.zeros((5, 7, 2), np.float32)
    for i, s in enumerate(ragged):
        X[i, : len(s)] = s
    (got,) = _session(to_onnx(est, lengths=True)).run(None, {"X": X, "lengths": lengths})
    expected = est.predict(ragged)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(got[i, :n], expected[i], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got[i, n:], 0)  # as predict pads


@pytest.mark.parametrize("labels", [["cat", "dog", "eel"], [3, 7, 9]])
def test_classifier_labels_and_probabilities_match(labels):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 5, 3))
    y = np.array(labels)[(X.sum(axis=(1, 2)) > 0).astype(int) + (X[:, 0, 0] > 1)]
    clf = _fit(
        fastrnn.RNNClassifier(cell="gru", hidden_size=6, max_iter=5, random_state=0),
        X.reshape(30, -1),
        y,
    )  # fitted on 2-D X: the graph takes 2-D X too
    label, proba = _session(to_onnx(clf)).run(None, {"X": X.reshape(30, -1).astype(np.float32)})
    np.testing.assert_allclose(proba, clf.predict_proba(X.reshape(30, -1)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(label, clf.predict(X.reshape(30, -1)))


def test_what_cannot_be_exported_is_refused():
    with pytest.raises(TypeError, match="fastrnn layer or a fitted RNNRegressor"):
        to_onnx(object())
    est = _fit(fastrnn.RNNRegressor(hidden_size=3, max_iter=1), np.ones((4, 3, 1)), np.ones(4))
    with pytest.raises(TypeError, match="initial_state is for layers"):
        to_onnx(est, initial_state=True)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layers_of_different_widths_and_a_hidden_head_export(activation, bidirectional):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((20, 6, 2))
    est = _fit(
        fastrnn.RNNRegressor(
            hidden_size=[7, 4],
            head_hidden_sizes=[5, 3],
            head_activation=activation,
            bidirectional=bidirectional,
            max_iter=3,
            random_state=0,
        ),
        X,
        50 + X.sum(axis=(1, 2)),
    )
    (got,) = _session(to_onnx(est)).run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(got, est.predict(X), rtol=1e-5, atol=1e-4)
    clf = _fit(
        fastrnn.RNNClassifier(
            cell="gru", hidden_size=(6, 3), head_hidden_sizes=[4], max_iter=3, random_state=0
        ),
        X,
        (X.sum(axis=(1, 2)) > 0).astype(int),
    )
    label, proba = _session(to_onnx(clf)).run(None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(label, clf.predict(X))
