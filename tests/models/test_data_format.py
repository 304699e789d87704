"""aeon's and sktime's (cases, channels, timepoints) arrays: data_format."""

import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _motions(n=60, channels=3, steps=40, seed=0):
    """Two classes told apart by which channel oscillates, aeon's layout."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = 0.3 * rng.standard_normal((n, channels, steps))
    t = np.arange(steps)
    X[np.arange(n), y] += np.sin(t / 2)
    return X, y


def test_channels_first_reads_the_transpose_exactly():
    X, y = _motions()
    params = dict(hidden_size=6, max_iter=3, tol=None, random_state=0)
    first = RNNClassifier(data_format="channels_first", **params).fit(X, y)
    last = RNNClassifier(data_format="channels_last", **params).fit(X.transpose(0, 2, 1), y)
    np.testing.assert_array_equal(first.network_.flat_params, last.network_.flat_params)
    np.testing.assert_array_equal(first.predict_proba(X), last.predict_proba(X.transpose(0, 2, 1)))
    assert first.n_features_in_ == 3


def test_a_list_of_channels_first_sequences_of_different_lengths():
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((2, n)) for n in (5, 9, 7)]  # aeon: [channels, timepoints]
    y = np.array([s.sum() for s in seqs])
    params = dict(hidden_size=4, max_iter=2, tol=None, random_state=0)
    first = RNNRegressor(data_format="channels_first", **params).fit(seqs, y)
    last = RNNRegressor(**params).fit([s.T for s in seqs], y)
    np.testing.assert_array_equal(first.predict(seqs), last.predict([s.T for s in seqs]))


def test_an_array_that_looks_channels_first_warns_unless_told():
    X, y = _motions(channels=6, steps=100)  # aeon's BasicMotions: 6 channels, 100 steps
    with pytest.warns(UserWarning, match="data_format='channels_first'"):
        RNNClassifier(hidden_size=4, max_iter=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        params = dict(hidden_size=4, max_iter=1, tol=None)
        RNNClassifier(data_format="channels_last", **params).fit(X, y)
        RNNClassifier(data_format="channels_first", **params).fit(X, y)
        # (steps, features) shapes that are common and fine: no warning
        RNNClassifier(**params).fit(X.transpose(0, 2, 1), y)


def test_channels_first_is_checked_and_saved(tmp_path):
    X, y = _motions()
    with pytest.raises(ValueError, match="reads 3-D X"):
        RNNRegressor(data_format="channels_first").fit(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="data_format"):
        RNNRegressor(data_format="NCT").fit(X, y)
    model = RNNRegressor(data_format="channels_first", hidden_size=4, max_iter=2).fit(X, y)
    model.save(tmp_path / "m.npz")
    loaded = fastrnn.load(tmp_path / "m.npz")
    assert loaded.data_format == "channels_first"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_streams_and_onnx_take_channels_first_data_as_fitted():
    X, y = _motions(n=20)
    seq = np.cumsum(X[:, 0], axis=1)  # a target per step
    model = RNNRegressor(
        data_format="channels_first", output="sequence", hidden_size=5, max_iter=2, tol=None
    ).fit(X, seq)
    stream = model.stream(batch_size=len(X))
    got = np.concatenate([stream.step(X[:, :, :7]), stream.step(X[:, :, 7:])], axis=1)
    np.testing.assert_array_equal(got, model.predict(X))
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from fastrnn.onnx import to_onnx

    session = ort.InferenceSession(
        to_onnx(model, lengths=True).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    lengths = np.full(len(X), X.shape[2], np.int32)
    (out,) = session.run(None, {"X": X.astype(np.float32), "lengths": lengths})
    np.testing.assert_allclose(out, model.predict(X), rtol=1e-5, atol=1e-5 * np.abs(seq).max())


def test_the_channels_first_warning_points_at_the_users_line():
    X, y = _motions(channels=6, steps=100)
    model = RNNClassifier(hidden_size=4, max_iter=1, tol=None, data_format="channels_last")
    model.fit(X, y)
    model.set_params(data_format=None)
    for call in (lambda: model.predict(X), lambda: model.score(X, y)):
        with pytest.warns(UserWarning, match="channels_first") as caught:
            call()
        assert caught[0].filename == __file__
