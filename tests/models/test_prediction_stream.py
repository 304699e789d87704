"""A fitted estimator's stream predicts, step by step, what predict gives."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastrnn import RNNClassifier, RNNRegressor
from fastrnn._cells import ESTIMATOR_CELLS

CELLS = list(ESTIMATOR_CELLS)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _data(n=24, T=7, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F))
    return X, X.sum(axis=(1, 2))


def _prefix_predictions(model, X, method="predict"):
    """What predict gives for every prefix X[:, :t+1]: [N, T, ...]."""
    return np.stack([getattr(model, method)(X[:, : t + 1]) for t in range(X.shape[1])], axis=1)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regressor_stream_predicts_every_prefix(cell, dtype):
    X, y = _data()
    model = _fit(
        RNNRegressor(
            cell=cell, hidden_size=6, num_layers=2, max_iter=3, dtype=dtype, random_state=0
        ),
        X,
        y,
    )
    stream = model.stream(batch_size=len(X))
    got = np.stack([stream.step(X[:, t]) for t in range(X.shape[1])], axis=1)
    expected = _prefix_predictions(model, X)
    assert got.shape == expected.shape == X.shape[:2]
    if dtype == "float32":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cell", CELLS)
def test_classifier_stream_labels_and_probabilities(cell):
    X, y = _data(seed=1)
    labels = np.where(y > 0, "up", "down")
    model = _fit(RNNClassifier(cell=cell, hidden_size=5, max_iter=3, random_state=0), X, labels)
    stream = model.stream(batch_size=len(X))
    proba = stream.step_proba(X[:, :4])  # several steps at once: [B, k, classes]
    assert proba.shape == (len(X), 4, 2)
    np.testing.assert_allclose(
        proba, _prefix_predictions(model, X[:, :4], "predict_proba"), rtol=1e-12, atol=1e-15
    )
    got = stream.step(X[:, 4:])
    np.testing.assert_array_equal(got, _prefix_predictions(model, X)[:, 4:])
    assert got.dtype == labels.dtype


def test_sequence_output_and_several_targets():
    X, y = _data(seed=2)
    Y = np.stack([np.cumsum(X[:, :, 0], axis=1), np.cumsum(X[:, :, 1], axis=1)], axis=2)
    model = _fit(RNNRegressor(output="sequence", hidden_size=6, max_iter=3, random_state=0), X, Y)
    stream = model.stream(batch_size=len(X))
    first = stream.step(X[:, :2])
    rest = stream.step(X[:, 2:])
    np.testing.assert_array_equal(np.concatenate([first, rest], axis=1), model.predict(X))
    assert rest.shape == (len(X), X.shape[1] - 2, 2)


def test_two_dimensional_fit_streams_one_step_of_n_features():
    X, y = _data(F=2, seed=3)
    model = _fit(
        RNNRegressor(n_features=2, hidden_size=4, max_iter=3, random_state=0),
        X.reshape(len(X), -1),
        y,
    )
    stream = model.stream(batch_size=len(X))
    for t in range(X.shape[1]):
        out = stream.step(X[:, t])
    np.testing.assert_array_equal(out, model.predict(X.reshape(len(X), -1)))
    with pytest.raises(ValueError, match="3 features per step, but the layer expects 2"):
        stream.step(np.zeros((len(X), 3)))


def test_parked_state_resumes_and_refit_does_not_touch_an_open_stream():
    X, y = _data(seed=4)
    model = _fit(RNNRegressor(hidden_size=5, max_iter=3, random_state=0), X, y)
    stream = model.stream()
    stream.step(X[:1, :3])
    parked = stream.state
    expected = stream.step(X[:1, 3:])
    _fit(model.set_params(random_state=1), X, -y)  # refit: new weights
    stream.reset()
    stream.state = parked
    np.testing.assert_array_equal(stream.step(X[:1, 3:]), expected)


def test_streams_of_unfitted_and_bidirectional_models_are_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RNNRegressor().stream()
    X, y = _data(n=8)
    model = _fit(RNNRegressor(bidirectional=True, hidden_size=3, max_iter=1), X, y)
    with pytest.raises(ValueError, match="bidirectional"):
        model.stream()
    with pytest.raises(AttributeError, match="classifiers"):
        _fit(RNNRegressor(hidden_size=3, max_iter=1), X, y).stream().step_proba(X[:1, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layers_of_different_widths_and_a_hidden_head_stream_every_prefix(dtype):
    X, y = _data(seed=5)
    model = _fit(
        RNNRegressor(
            hidden_size=[6, 4],
            head_hidden_sizes=[5],
            head_activation="tanh",
            max_iter=3,
            dtype=dtype,
            random_state=0,
        ),
        X,
        100 + y,
    )
    stream = model.stream(batch_size=len(X))
    got = np.concatenate([stream.step(X[:, :1])[:, 0:1], stream.step(X[:, 1:])], axis=1)
    expected = _prefix_predictions(model, X)
    if dtype == "float32":  # the same row-invariant products as predict's
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    parked = stream.state  # a list: each layer's (h, c)
    assert [s[0].shape for s in parked] == [(1, len(X), 6), (1, len(X), 4)]
    last = stream.step(X[:, 0])
    with pytest.raises(ValueError, match="list of 2 layers' states"):
        stream.state = parked[:1]
    bad = [parked[0], (parked[1][0], np.full_like(parked[1][1], np.nan))]
    with pytest.raises(ValueError, match="NaN"):
        stream.state = bad
    before = stream.state
    zeros = (np.zeros_like(parked[0][0]), np.zeros_like(parked[0][1]))
    with pytest.raises(TypeError):  # not a tuple: every layer stays as it was
        stream.state = [zeros, "junk"]
    for got, kept in zip(stream.state, before):
        np.testing.assert_array_equal(got[0], kept[0])
    fork = stream.fork()  # from zeros, beside the parked one
    np.testing.assert_array_equal(fork.step(X[:, :1])[:, 0], expected[:, 0])
    stream.state = parked
    np.testing.assert_array_equal(stream.step(X[:, 0]), last)


def test_a_classifier_with_a_hidden_head_streams_its_labels_and_probabilities():
    X, y = _data(seed=6)
    model = _fit(
        RNNClassifier(cell="gru", hidden_size=(5, 3), head_hidden_sizes=[4], max_iter=3),
        X,
        np.where(y > 0, "up", "down"),
    )
    stream = model.stream(batch_size=len(X))
    np.testing.assert_allclose(
        stream.step_proba(X[:, :3]),
        _prefix_predictions(model, X[:, :3], "predict_proba"),
        rtol=1e-6,
        atol=1e-7,
    )
    np.testing.assert_array_equal(stream.step(X[:, 3:]), _prefix_predictions(model, X)[:, 3:])
