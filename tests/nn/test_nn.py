"""The layer API itself: shapes, the flat buffers, dropout, checks on bad input."""

import functools
import pickle

import numpy as np
import pytest

import fastrnn
from fastrnn.nn import GRU, LSTM, RNN
from tests.helpers import COMPILED

LAYER_CLASSES = [RNN, LSTM, GRU]


@pytest.mark.parametrize("cls", LAYER_CLASSES)
def test_output_shapes_follow_torch(cls):
    layer = cls(3, 5, num_layers=2, bidirectional=True, random_state=0)
    out, state = layer.forward(np.zeros((4, 7, 3)))
    assert out.shape == (4, 7, 10) and out.dtype == np.float32
    for s in state if cls is LSTM else [state]:
        assert s.shape == (4, 4, 5)
    tm = cls(3, 5, batch_first=False, random_state=0)
    out, _ = tm.forward(np.zeros((7, 4, 3)))
    assert out.shape == (7, 4, 5)


def test_parameters_are_views_of_one_flat_buffer():
    layer = LSTM(3, 4, num_layers=2, bidirectional=True, random_state=0)
    total = sum(p.size for p in layer.params.values())
    assert layer.flat_params.size == total
    for name, p in layer.params.items():
        assert np.shares_memory(p, layer.flat_params), name
        assert np.shares_memory(layer.grad[name], layer.flat_grad), name
    layer.flat_params[:] = 0.25
    assert np.all(layer.weight_hh_l1_reverse == 0.25)


def test_initialisation_is_pytorchs_uniform_and_seeded():
    a, b = GRU(3, 16, random_state=7), GRU(3, 16, random_state=7)
    np.testing.assert_array_equal(a.flat_params, b.flat_params)
    assert np.abs(a.flat_params).max() <= 1 / np.sqrt(16)
    assert np.abs(a.flat_params).max() > 0.9 / np.sqrt(16)
    assert not np.array_equal(a.flat_params, GRU(3, 16, random_state=8).flat_params)


def test_gradients_accumulate_until_zero_grad():
    layer = RNN(2, 3, random_state=0, dtype="float64")
    x = np.random.default_rng(0).standard_normal((2, 4, 2))
    for _ in range(2):
        out, _ = layer.forward(x, training=True)
        layer.backward(np.ones_like(out))
    twice = layer.flat_grad.copy()
    layer.zero_grad()
    out, _ = layer.forward(x, training=True)
    layer.backward(np.ones_like(out))
    np.testing.assert_allclose(twice, 2 * layer.flat_grad)


def test_dropout_only_in_training_and_reproducible():
    x = np.random.default_rng(0).standard_normal((3, 5, 4))
    a = LSTM(4, 6, num_layers=3, dropout=0.5, random_state=1)
    b = LSTM(4, 6, num_layers=3, dropout=0.5, random_state=1)
    np.testing.assert_array_equal(a.forward(x)[0], a.forward(x)[0])
    train_a, train_b = a.forward(x, training=True)[0], b.forward(x, training=True)[0]
    np.testing.assert_array_equal(train_a, train_b)
    assert not np.allclose(train_a, a.forward(x)[0])


def test_dropout_backward_matches_finite_differences():
    layer = GRU(2, 3, num_layers=2, dropout=0.4, dtype="float64", random_state=3)
    x = np.random.default_rng(1).standard_normal((2, 4, 2))
    seed_state = layer._rng.bit_generator.state
    out, _ = layer.forward(x, training=True)
    g = np.random.default_rng(2).standard_normal(out.shape)
    layer.backward(g)
    analytic = layer.flat_grad.copy()
    eps, numeric = 1e-6, np.zeros_like(analytic)
    for i in range(analytic.size):
        vals = []
        for sign in (1, -1):
            layer.flat_params[i] += sign * eps
            layer._rng.bit_generator.state = seed_state  # the same dropout masks
            vals.append(np.sum(layer.forward(x, training=True)[0] * g))
            layer.flat_params[i] -= sign * eps
        numeric[i] = (vals[0] - vals[1]) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_bias_false_has_no_bias_parameters():
    layer = LSTM(3, 4, bias=False, random_state=0)
    assert set(layer.params) == {"weight_ih_l0", "weight_hh_l0"}
    out, _ = layer.forward(np.ones((1, 2, 3)), training=True)
    layer.backward(np.ones_like(out))


def test_pickle_keeps_the_flat_buffer_shared():
    layer = LSTM(3, 4, num_layers=2, random_state=0)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(clone.forward(x)[0], layer.forward(x)[0])
    clone.flat_params[:] = 0
    assert np.all(clone.weight_ih_l1 == 0)


def test_state_dict_round_trip_and_failed_load_changes_nothing():
    layer = GRU(3, 4, random_state=0)
    state = layer.state_dict()
    before = layer.flat_params.copy()
    bad = dict(state, weight_hh_l0=np.zeros((5, 5)))
    with pytest.raises(ValueError, match="weight_hh_l0"):
        layer.load_state_dict(bad)
    with pytest.raises(KeyError, match="missing"):
        layer.load_state_dict({"weight_ih_l0": state["weight_ih_l0"]})
    nan = dict(state, bias_ih_l0=np.full(12, np.nan))
    with pytest.raises(ValueError, match="NaN"):
        layer.load_state_dict(nan)
    np.testing.assert_array_equal(layer.flat_params, before)
    other = GRU(3, 4, random_state=1)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.flat_params, before)


@pytest.mark.parametrize(
    "x, match",
    [
        (np.zeros((4, 3)), "3-D"),
        (np.zeros((2, 4, 5)), "5 features"),
        (np.zeros((0, 4, 3)), "empty"),
        (np.zeros((2, 0, 3)), "empty"),
        (np.full((2, 4, 3), np.nan), "NaN"),
        (np.full((2, 4, 3), np.inf), "infinity"),
        (np.zeros((2, 4, 3), dtype=complex), "complex"),
    ],
)
def test_bad_input_raises_a_clear_value_error(x, match):
    with pytest.raises(ValueError, match=match):
        LSTM(3, 4).forward(x)


def test_other_dtypes_and_layouts_are_converted():
    layer = LSTM(3, 4, random_state=0)
    x = np.random.default_rng(0).standard_normal((5, 6, 3))
    expected = layer.forward(x.astype(np.float32))[0]
    np.testing.assert_array_equal(layer.forward(np.asfortranarray(x))[0], expected)
    np.testing.assert_array_equal(layer.forward(x[:, ::1, :].tolist())[0], expected)
    strided = np.repeat(x, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(layer.forward(strided)[0], expected)
    ints = np.arange(5 * 6 * 3).reshape(5, 6, 3) % 3
    np.testing.assert_array_equal(layer.forward(ints)[0], layer.forward(ints.astype(float))[0])
    read_only = x.copy()
    read_only.setflags(write=False)
    np.testing.assert_array_equal(layer.forward(read_only)[0], expected)


@pytest.mark.parametrize(
    "lengths, error, match",
    [
        ([3, 0], ValueError, ">= 1"),
        ([3, 5], ValueError, "<= the number of time steps 4"),
        ([3, -1], ValueError, ">= 1"),
        ([3], ValueError, "1 entries but the batch has 2"),
        ([[3, 2]], ValueError, "1-D"),
        ([2.5, 3], ValueError, "whole numbers"),
        (["a", "b"], TypeError, "integers"),
    ],
)
def test_bad_lengths_are_named(lengths, error, match):
    with pytest.raises(error, match=match):
        GRU(3, 4).forward(np.zeros((2, 4, 3)), lengths=lengths)


def test_bad_state_and_backward_misuse():
    layer = LSTM(3, 4)
    x = np.zeros((2, 5, 3))
    with pytest.raises(TypeError, match="tuple"):
        layer.forward(x, hx=np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match=r"hx\[1\] must have shape \(1, 2, 4\)"):
        layer.forward(x, hx=(np.zeros((1, 2, 4)), np.zeros((1, 3, 4))))
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.zeros((2, 5, 4)))
    layer.forward(x)  # inference leaves nothing to backpropagate
    with pytest.raises(RuntimeError, match="training=True"):
        layer.backward(np.zeros((2, 5, 4)))
    layer.forward(x, training=True)
    with pytest.raises(ValueError, match="grad_output"):
        layer.backward(np.zeros((2, 4, 4)))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(hidden_size=0), ValueError),
        (dict(hidden_size=2.5), TypeError),
        (dict(num_layers=0), ValueError),
        (dict(dropout=1.0), ValueError),
        (dict(dtype="int32"), ValueError),
        (dict(dtype="float16"), ValueError),
        (dict(backend="cuda"), ValueError),
    ],
)
def test_bad_constructor_arguments(kwargs, error):
    args = dict(input_size=3, hidden_size=4) | kwargs
    with pytest.raises(error):
        LSTM(**args)


def test_rnn_rejects_unknown_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")


def test_repr_names_non_default_arguments():
    assert repr(LSTM(3, 4, num_layers=2, bidirectional=True)) == (
        "LSTM(3, 4, num_layers=2, bidirectional=True)"
    )
    assert repr(GRU(3, 4, reset_after=False)) == "GRU(3, 4, reset_after=False)"


def test_gru_reset_before_is_its_own_cell_and_survives_pickling():
    layer = GRU(3, 4, reset_after=False, random_state=0)
    assert layer.cell == "gru_reset_before" and not layer.reset_after
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    # Same weights, other form: the outputs differ (the option is not ignored).
    other = GRU(3, 4)
    other.load_state_dict(layer.state_dict())
    assert not np.allclose(layer.forward(x)[0], other.forward(x)[0])
    copy = pickle.loads(pickle.dumps(layer))
    assert copy.cell == "gru_reset_before"
    np.testing.assert_array_equal(copy.forward(x)[0], layer.forward(x)[0])
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        layer.to_torch()
    with pytest.raises(TypeError, match="reset_after must be True or False"):
        GRU(3, 4, reset_after="no")


def test_to_torch_refuses_before_importing_torch(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    for module in (GRU(3, 4, reset_after=False), fastrnn.nn.GRUCell(3, 4, reset_after=False)):
        with pytest.raises(ValueError, match="no torch.nn counterpart"):
            module.to_torch()


def test_backends_lists_what_works():
    names = fastrnn.backends()
    assert "numpy" in names and names == [n for n in ("cython", "numba", "numpy") if n in names]
    auto = fastrnn._kernels.get_backend("auto")
    assert fastrnn._kernels.backend_name(auto) == names[0]


@pytest.mark.parametrize(
    "cls", LAYER_CLASSES + [functools.partial(GRU, reset_after=False)], ids=repr
)
def test_layer_gradients_match_finite_differences_both_directions(cls):
    """Two bidirectional layers over a ragged batch: every parameter, x and hx."""
    layer = cls(
        2, 3, num_layers=2, bidirectional=True, dtype="float64", backend="numpy", random_state=0
    )
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 2))
    lengths = np.array([5, 2, 4])
    n_states = 2 if cls is LSTM else 1
    hx = [rng.standard_normal((4, 3, 3)) for _ in range(n_states)]
    g_out = rng.standard_normal((3, 5, 6))
    g_hx = [rng.standard_normal((4, 3, 3)) for _ in range(n_states)]

    def pack(states):
        return tuple(states) if cls is LSTM else states[0]

    def loss():
        out, hn = layer.forward(x, pack(hx), lengths=lengths)
        hn = list(hn) if cls is LSTM else [hn]
        return np.sum(out * g_out) + sum(np.sum(h * g) for h, g in zip(hn, g_hx))

    out, _ = layer.forward(x, pack(hx), lengths=lengths, training=True)
    dx = layer.backward(g_out, pack(g_hx))
    dhx = list(layer.grad_hx) if cls is LSTM else [layer.grad_hx]
    for analytic, values in [(layer.flat_grad, layer.flat_params), (dx, x)] + list(zip(dhx, hx)):
        flat, numeric = values.reshape(-1), np.zeros(values.size)
        for i in range(flat.size):
            orig = flat[i]
            flat[i] = orig + 1e-6
            up = loss()
            flat[i] = orig - 1e-6
            numeric[i] = (up - loss()) / 2e-6
            flat[i] = orig
        np.testing.assert_allclose(analytic.reshape(-1), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", fastrnn.backends())
def test_prepared_weights_follow_every_way_parameters_change(backend):
    # The compiled backend keeps its packed weights between calls; whatever
    # writes the parameters must be seen by the next call.
    layer = LSTM(3, 8, num_layers=2, bidirectional=True, random_state=0, backend=backend)
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    fresh = lambda: LSTM(3, 8, num_layers=2, bidirectional=True, backend=backend)  # noqa: E731

    def same_as_fresh_copy():
        twin = fresh()
        twin.load_state_dict(layer.state_dict())
        np.testing.assert_array_equal(layer.forward(x)[0], twin.forward(x)[0])

    before = layer.forward(x)[0]
    np.testing.assert_array_equal(layer.forward(x)[0], before)  # cached: the same bits
    layer.weight_hh_l1_reverse[0, 0] += 0.5  # a write into a view
    assert not np.array_equal(layer.forward(x)[0], before)
    same_as_fresh_copy()
    layer.bias_ih_l0[:] = 0.1  # a bias: part of the summed bias
    same_as_fresh_copy()
    layer.load_state_dict(fresh().state_dict())
    same_as_fresh_copy()
    layer.flat_params -= 0.01 * np.sign(layer.flat_params)  # an optimizer's in-place step
    same_as_fresh_copy()
    clone = pickle.loads(pickle.dumps(layer))
    assert clone._prepared is None  # rebuilt, never pickled
    np.testing.assert_array_equal(clone.forward(x)[0], layer.forward(x)[0])


@pytest.mark.parametrize("backend", [b for b in fastrnn.backends() if b != "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_freshness_compares_bits_not_values(backend, dtype):
    same_bytes = fastrnn._kernels.get_backend(backend).same_bytes
    a = np.array([0.0, 1.0, np.nan], dtype)
    assert same_bytes(a, a.copy())  # a NaN is itself
    b = a.copy()
    b[0] = -0.0  # equal as a value, not as bits: a new weight version
    assert not same_bytes(a, b)
    assert not same_bytes(a, a[:2].copy())


def test_cells_reuse_prepared_weights_until_they_change():
    cell = fastrnn.nn.LSTMCell(4, 6, random_state=1)
    x = np.ones((2, 4), np.float32)
    h1, _ = cell.forward(x)
    first = cell._prepared
    np.testing.assert_array_equal(cell.forward(x)[0], h1)
    assert cell._prepared is first or first is None
    cell.weight_ih[:] = 0
    h2, _ = cell.forward(x)
    assert not np.array_equal(h1, h2)


@pytest.mark.parametrize("cls", LAYER_CLASSES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("B", [1, 3, 24])
def test_lean_inference_path_gives_the_general_paths_bits(cls, dtype, batch_first, B):
    # Inference of full-length sequences runs the stack in one compiled call;
    # passing lengths takes the general path, layer by layer.
    layer = cls(5, 12, num_layers=3, batch_first=batch_first, dtype=dtype, random_state=2)
    rng = np.random.default_rng(B)
    T = 9
    x = rng.standard_normal((B, T, 5) if batch_first else (T, B, 5)).astype(dtype)
    state = rng.standard_normal((3, B, 12)).astype(dtype)
    hx = (state, 0.5 * state) if cls is LSTM else state
    full = np.full(B, T)
    for h in (None, hx):
        lean = layer.forward(x, hx=h)
        general = layer.forward(x, hx=h, lengths=full)
        np.testing.assert_array_equal(lean[0], general[0])
        for a, b in zip(*(s if cls is LSTM else (s,) for s in (lean[1], general[1]))):
            np.testing.assert_array_equal(a, b)
    assert layer._cache is None  # inference writes nothing to the layer
    bad = x.copy()
    bad.flat[7] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        layer.forward(bad)


def test_a_failed_training_forward_leaves_no_stale_cache_for_backward():
    # Training buffers are reused by the next forward of the same layer: one
    # that fails part way must not leave the previous cache (now overwritten).
    layer = LSTM(3, 4, num_layers=2, random_state=0)
    x = np.ones((2, 5, 3), np.float32)
    layer.forward(x, training=True)
    real = layer._kernels

    class FailsOnTheSecondLayer:
        def __init__(self):
            self.calls = 0

        def __getattr__(self, name):
            return getattr(real, name)

        def forward(self, *args, **kwargs):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return real.forward(*args, **kwargs)

    layer._kernels = FailsOnTheSecondLayer()
    with pytest.raises(KeyboardInterrupt):
        layer.forward(2 * x, training=True)
    layer._kernels = real
    with pytest.raises(RuntimeError, match="preceding forward"):
        layer.backward(np.ones((2, 5, 4), np.float32))


@pytest.mark.parametrize("backend", [b for b in COMPILED if b == "cython"])
def test_padded_steps_get_zero_input_gradient_even_with_non_finite_weights(backend):
    from fastrnn._kernels import get_backend

    kernels = get_backend(backend)
    rng = np.random.default_rng(0)
    T, B, D, H = 6, 3, 2, 4
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    w_ih = rng.standard_normal((4 * H, D)).astype(np.float32)
    w_ih[0, 0] = np.inf  # training diverged
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32)
    b = np.zeros(4 * H, np.float32)
    lengths = np.array([6, 2, 4])
    h0 = np.zeros((B, H), np.float32)
    _, _, _, cache = kernels.forward("lstm", x, h0, h0, w_ih, w_hh, b, b, lengths=lengths)
    dx = kernels.backward(cache, np.ones((T, B, H), np.float32), None, None)[0]
    for b_, n in enumerate(lengths):
        assert np.all(dx[n:, b_] == 0)


def test_the_compiled_backend_says_it_splits_rows_over_threads():
    driver = pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="openmp"):
        splits = driver._row_chunks(np.full(40, 100), 10**6, np.float32).shape[0] > 2
    assert driver.THREADED_FLOAT32 and splits


@pytest.mark.parametrize("backend", fastrnn.backends())
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_changing_the_output_in_place_leaves_backward_as_it_was(backend, cls):
    # The output is the caller's: backward must not read it back (an Elman
    # layer's did, so `out *= 3` before backward changed its gradients).
    layer = cls(3, 4, num_layers=2, random_state=0, backend=backend)
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    g = np.random.default_rng(1).standard_normal((2, 5, 4)).astype(np.float32)
    layer.zero_grad()
    layer.forward(x, training=True)
    dx = layer.backward(g)
    expected = layer.flat_grad.copy()
    layer.zero_grad()
    out, _ = layer.forward(x, training=True)
    out *= 3
    np.testing.assert_array_equal(layer.backward(g), dx)
    np.testing.assert_array_equal(layer.flat_grad, expected)


def test_forward_projected_checks_its_input():
    # Per-direction products of different batches once sent the reverse
    # direction's kernel past its buffers; now every direction is checked.
    layer = LSTM(3, 4, bidirectional=True, random_state=0)
    if not layer.takes_projected_input:
        pytest.skip("the backend takes no projected input")
    rng = np.random.default_rng(0)
    xw = [rng.standard_normal((5, 2, 16)).astype(np.float32) for _ in range(2)]
    expected = layer.forward_projected(xw)
    with pytest.raises(ValueError, match="same steps of the same batch"):
        layer.forward_projected([xw[0], rng.standard_normal((5, 64, 16))])
    with pytest.raises(ValueError, match="same steps"):
        layer.forward_projected([xw[0], xw[1][:3]])
    with pytest.raises(TypeError, match="list of 2 arrays"):
        layer.forward_projected(xw[0])
    with pytest.raises(ValueError, match="2 arrays, one per direction"):
        layer.forward_projected(xw[:1])
    with pytest.raises(ValueError, match="12 features per step, but the layer expects 16"):
        layer.forward_projected([a[:, :, :12] for a in xw])
    with pytest.raises(ValueError, match="NaN"):
        layer.forward_projected([xw[0], np.where(xw[1] > 1, np.nan, xw[1])])
    ints = [np.rint(a * 3).astype(np.int64) for a in xw]
    got = layer.forward_projected(ints)
    want = layer.forward_projected([a.astype(np.float32) for a in ints])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(layer.forward_projected(tuple(xw))[0], expected[0])


@pytest.mark.parametrize("dtype", ["datetime64[ns]", "timedelta64[s]"])
def test_dates_and_durations_are_refused_as_numbers(dtype):
    x = np.arange(24).reshape(2, 4, 3).astype(dtype)
    with pytest.raises(TypeError, match="dates or durations"):
        LSTM(3, 4).forward(x)
    with pytest.raises(TypeError, match="dates or durations"):
        fastrnn.nn.LSTMCell(3, 4).forward(x[0])
    with pytest.raises(TypeError, match="dates or durations"):
        LSTM(3, 4, batch_first=True).stream(batch_size=2).step(x[:, 0])


def test_a_cell_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="0 rows"):
        fastrnn.nn.GRUCell(3, 4).forward(np.zeros((0, 3)))


@pytest.mark.parametrize("dtype", ["datetime64[ns]", "timedelta64[s]"])
def test_estimators_refuse_dates_and_durations(dtype):
    X = np.arange(60).reshape(5, 4, 3).astype(dtype)
    y = np.arange(5.0)
    for Xi in (X, X.reshape(5, 12), list(X)):
        with pytest.raises(TypeError, match="dates or durations"):
            fastrnn.RNNRegressor(max_iter=1).fit(Xi, y)
