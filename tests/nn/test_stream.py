"""Streaming a layer step by step equals running the whole sequence."""

import numpy as np
import pytest

from fastrnn.nn import GRU, LSTM, RNN
from tests.helpers import COMPILED

LAYERS = {"rnn": RNN, "lstm": LSTM, "gru": GRU, "gru_reset_before": GRU}
EXTRA = {"gru_reset_before": {"reset_after": False}}


def _layer(kind, **kwargs):
    return LAYERS[kind](5, 7, num_layers=2, random_state=0, **EXTRA.get(kind, {}), **kwargs)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize(
    "dtype, backend",
    [
        (d, b)
        for d, b in [("float32", "cython"), ("float64", "cython"), ("float32", "numba")]
        if b in COMPILED
    ],
)
def test_stream_in_pieces_equals_whole_sequence(kind, batch_first, dtype, backend):
    layer = _layer(kind, batch_first=batch_first, dtype=dtype, backend=backend)
    x = np.random.default_rng(1).standard_normal((3, 9, 5)).astype(dtype)  # [B, T, D]
    xs = x if batch_first else x.transpose(1, 0, 2)
    whole, state = layer.forward(xs)
    whole_bt = whole if batch_first else whole.transpose(1, 0, 2)
    stream = layer.stream(batch_size=3)
    pieces = [stream.step(x[:, 0] if batch_first else xs[0])]  # one step: [B, D]
    for a, b in [(1, 4), (4, 9)]:  # then a few steps at a time
        out = stream.step(x[:, a:b] if batch_first else xs[a:b])
        pieces.extend(np.moveaxis(out, 1 if batch_first else 0, 0))
    got = np.stack(pieces, axis=1)
    expected_h = state[0] if kind == "lstm" else state
    got_h = stream.state[0] if kind == "lstm" else stream.state
    if dtype == "float32" and backend == "cython":
        # The compiled stepper runs forward's GEMM (row-invariant) and cell
        # code: no rounding of its own.
        np.testing.assert_array_equal(got, whole_bt)
        np.testing.assert_array_equal(got_h, expected_h)
    else:  # BLAS may sum in another order for another number of rows
        tol = 1e-12 if dtype == "float64" else 1e-6
        np.testing.assert_allclose(got, whole_bt, rtol=tol, atol=tol)
        np.testing.assert_allclose(got_h, expected_h, rtol=tol, atol=tol)


def test_a_stream_keeps_the_weights_it_was_made_with():
    layer = _layer("lstm")
    x = np.random.default_rng(3).standard_normal((1, 4, 5)).astype(np.float32)
    expected = layer.forward(x)[0]
    stream = layer.stream()
    layer.flat_params[:] = 0  # e.g. training goes on
    np.testing.assert_array_equal(stream.step(x), expected)


def test_zero_steps_return_nothing_and_keep_the_state():
    stream = _layer("gru").stream(batch_size=2)
    stream.step(np.ones((2, 5), np.float32))
    before = stream.state
    assert stream.step(np.zeros((2, 0, 5), np.float32)).shape == (2, 0, 7)
    np.testing.assert_array_equal(stream.state, before)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_state_can_be_parked_resumed_and_reset(kind):
    layer = _layer(kind)
    x = np.random.default_rng(2).standard_normal((2, 6, 5)).astype(np.float32)
    stream = layer.stream(batch_size=2)
    stream.step(x[:, :3])
    parked = stream.state
    tail_1 = stream.step(x[:, 3:])
    stream.reset()
    fresh = stream.step(x[:, :3])
    np.testing.assert_array_equal(fresh, layer.forward(x[:, :3])[0])
    stream.state = parked
    np.testing.assert_array_equal(stream.step(x[:, 3:]), tail_1)


def test_bidirectional_layers_refuse_to_stream():
    with pytest.raises(ValueError, match="bidirectional layer cannot stream"):
        LSTM(3, 4, bidirectional=True).stream()


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((3, 5), np.float32), "holds 3 sequences; this stream steps 2"),
        (np.zeros((2, 4), np.float32), "input_size|features|5"),
        (np.full((2, 5), np.nan, np.float32), "NaN|finite"),
        (np.zeros(5, np.float32), "2 dimensions"),
        (np.array([[1, 2, 3, 4, np.inf]] * 2, np.float32), "NaN or infinity"),
        (np.full((2, 3, 5), np.nan), "NaN or infinity"),  # float64 in, converted
        ([["a"] * 5] * 2, "numbers"),
    ],
)
def test_bad_steps_raise_and_leave_the_state_alone(x, match):
    stream = _layer("lstm").stream(batch_size=2)
    stream.step(np.ones((2, 5), np.float32))
    before = stream.state
    with pytest.raises((ValueError, TypeError), match=match):
        stream.step(x)
    for a, b in zip(stream.state, before):
        np.testing.assert_array_equal(a, b)


def test_a_bad_state_is_refused_before_anything_changes():
    stream = _layer("gru").stream(batch_size=2)
    before = stream.state
    with pytest.raises(ValueError):
        stream.state = np.zeros((2, 3, 7), np.float32)  # batch 3, not 2
    with pytest.raises(TypeError):
        _layer("lstm").stream().state = np.zeros((2, 1, 7), np.float32)  # LSTM needs (h, c)
    np.testing.assert_array_equal(stream.state, before)


def test_the_compiled_stepper_refuses_what_its_callers_would_have_converted():
    stream = _layer("lstm").stream(batch_size=2)
    stepper = stream._stepper
    if not hasattr(stepper, "input_size"):
        pytest.skip("the compiled backend is not built")
    for bad in (
        np.zeros((3, 5), np.float32),  # batch
        np.zeros((2, 4), np.float32),  # features
        np.zeros((2, 5), np.float64),  # dtype
        np.zeros((5, 2), np.float32).T,  # not C-contiguous
        np.zeros(5, np.float32),
    ):
        with pytest.raises(ValueError, match="C-contiguous float32"):
            stepper.step(bad)


@pytest.mark.parametrize(
    "head, affine, match",
    [
        ((np.ones((2, 6), np.float32), np.zeros(2, np.float32)), None, "the head must be"),
        ((np.ones((2, 7), np.float32), np.zeros(3, np.float32)), None, "the head must be"),
        (
            (np.ones((2, 7), np.float32), np.zeros(2, np.float32)),
            (np.ones(1), np.ones(2)),
            "affine must be two arrays of 2",
        ),
    ],
)
def test_a_head_or_affine_of_the_wrong_shape_is_refused(head, affine, match):
    from fastrnn.nn import Stream

    with pytest.raises(ValueError, match=match):
        Stream(_layer("lstm"), 1, head=head, affine=affine)


@pytest.mark.parametrize("backend", COMPILED)
def test_zero_steps_with_a_head(backend):
    from fastrnn.nn import Stream

    layer = _layer("gru", backend=backend)
    head = (np.ones((3, 7), np.float32), np.zeros(3, np.float32))
    out = Stream(layer, 2, head=head).step(np.zeros((2, 0, 5), np.float32))
    assert out.shape == (2, 0, 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_stream_keeps_its_weights_also_where_a_transpose_is_a_view(dtype):
    # One input feature, one output: W^T of a [n, 1] or [1, n] array is
    # contiguous already, and a stream must still hold copies.
    pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")
    from fastrnn._kernels._driver import Stepper

    layer = LSTM(1, 6, dtype=dtype, random_state=0, backend="cython")
    head_w = np.random.default_rng(0).standard_normal((1, 6)).astype(dtype)
    head_b = np.zeros(1, dtype)
    x = np.random.default_rng(1).standard_normal((1, 1)).astype(dtype)
    weights = [layer._weights(0, 0)]
    expected = Stepper("lstm", weights, 1, head=(head_w, head_b)).step(x)
    stepper = Stepper("lstm", weights, 1, head=(head_w, head_b))
    layer.flat_params[:] = 0
    head_w[:] = 0
    np.testing.assert_array_equal(stepper.step(x), expected)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_stream_pickles_and_copies_with_its_state(kind):
    import copy
    import pickle

    layer = _layer(kind)
    x = np.random.default_rng(4).standard_normal((1, 6, 5)).astype(np.float32)
    stream = layer.stream()
    stream.step(x[:, :3])
    for twin in (pickle.loads(pickle.dumps(stream)), copy.deepcopy(stream)):
        np.testing.assert_array_equal(twin.step(x[:, 3:]), copy.deepcopy(stream).step(x[:, 3:]))


@pytest.mark.parametrize("backend", COMPILED)
def test_a_fork_shares_the_weights_and_has_its_own_state(backend):
    import tracemalloc

    layer = LSTM(5, 128, num_layers=2, random_state=0, backend=backend)
    x = np.random.default_rng(2).standard_normal((1, 6, 5)).astype(np.float32)
    stream = layer.stream()
    expected = stream.step(x)
    stream.step(x)  # the parent's state moves on; a fork starts from zeros
    tracemalloc.start()
    forks = [stream.fork() for _ in range(50)]
    per_fork = tracemalloc.get_traced_memory()[1] / len(forks)
    tracemalloc.stop()
    weights = layer.flat_params.nbytes
    assert per_fork < weights / 10  # state and scratch only, not the model
    for fork in forks[:3]:
        np.testing.assert_array_equal(fork.step(x), expected)
    assert not np.array_equal(stream.step(x), expected)
    layer.flat_params[:] = 0  # a fork keeps the weights its parent was made with
    np.testing.assert_array_equal(forks[3].step(x), expected)
