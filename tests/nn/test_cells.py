"""RNNCell / LSTMCell / GRUCell against torch.nn's cells and against the sequence layers."""

import numpy as np
import pytest

import fastrnn
from fastrnn._cells import CELLS as TABLE
from fastrnn._cells import ESTIMATOR_CELLS
from fastrnn.nn import GRUCell, LSTMCell, RNNCell
from tests.helpers import COMPILED

CELLS = {name: TABLE[name].layer + "Cell" for name in ESTIMATOR_CELLS}
# Kernel cell -> constructor arguments beyond the class's (the class by CELLS, or GRU).
EXTRA = {"rnn_tanh": {"nonlinearity": "tanh"}, "rnn_relu": {"nonlinearity": "relu"}}
EXTRA["gru_reset_before"] = {"reset_after": False}


def _cell(kind, backend="auto", dtype="float64", **kwargs):
    kwargs.update(EXTRA.get(kind, {}))
    cls = getattr(fastrnn.nn, CELLS.get(kind, "GRUCell"))
    return cls(3, 5, dtype=dtype, backend=backend, random_state=0, **kwargs)


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("backend", COMPILED + ["numpy"])
def test_cell_matches_torch_outputs_and_gradients(kind, backend):
    torch = pytest.importorskip("torch")
    cell = _cell(kind, backend)
    module = cell.to_torch()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3))
    h = rng.standard_normal((4, 5))
    c = rng.standard_normal((4, 5))
    gh, gc = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    if kind == "lstm":
        h1, c1 = module(xt, (ht, ct))
        ((h1 * torch.tensor(gh)).sum() + (c1 * torch.tensor(gc)).sum()).backward()
        got_h, got_c = cell.forward(x, (h, c), training=True)
        np.testing.assert_allclose(got_c, c1.detach().numpy(), rtol=1e-10, atol=1e-12)
        dx, (dh, dc) = cell.backward(gh, gc)
        np.testing.assert_allclose(dc, ct.grad.numpy(), rtol=1e-9, atol=1e-12)
    else:
        h1 = module(xt, ht)
        (h1 * torch.tensor(gh)).sum().backward()
        got_h = cell.forward(x, h, training=True)
        dx, dh = cell.backward(gh)
    np.testing.assert_allclose(got_h, h1.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dh, ht.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(cell.grad[name], p.grad.numpy(), rtol=1e-9, atol=1e-12)
    back = type(cell).from_torch(module)
    np.testing.assert_array_equal(back.flat_params, cell.flat_params)


@pytest.mark.parametrize("kind", [*CELLS, "gru_reset_before"])
@pytest.mark.parametrize("backend", COMPILED + ["numpy"])
def test_stepping_a_cell_equals_the_sequence_layer_forward_and_backward(kind, backend):
    """A hand-written loop over the cell is the layer: outputs, and BPTT through the tape."""
    layer_cls = {"lstm": fastrnn.nn.LSTM, "gru": fastrnn.nn.GRU, "gru_reset_before": fastrnn.nn.GRU}
    layer_cls = layer_cls.get(kind, fastrnn.nn.RNN)
    layer = layer_cls(3, 5, dtype="float64", random_state=0, backend=backend, **EXTRA.get(kind, {}))
    assert layer.cell == kind
    cell = _cell(kind, backend)
    assert cell.cell == kind
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(2)
    x, G = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 5))
    out, _ = layer.forward(x, training=True)
    layer.zero_grad()
    dx_layer = layer.backward(G)
    state, outs = None, []
    for t in range(6):
        state = cell.forward(x[:, t], state, training=True)
        outs.append(state[0] if kind == "lstm" else state)
    np.testing.assert_allclose(np.stack(outs, axis=1), out, rtol=1e-12, atol=1e-12)
    dh, dc, dxs = np.zeros((2, 5)), np.zeros((2, 5)), []
    for t in reversed(range(6)):
        if kind == "lstm":
            dx, (dh, dc) = cell.backward(G[:, t] + dh, dc)
        else:
            dx, dh = cell.backward(G[:, t] + dh)
        dxs.append(dx)
    np.testing.assert_allclose(np.stack(dxs[::-1], axis=1), dx_layer, rtol=1e-10, atol=1e-12)
    for name, g in layer.grad.items():
        np.testing.assert_allclose(cell.grad[name.replace("_l0", "")], g, rtol=1e-10, atol=1e-12)


def test_cells_refuse_misuse():
    cell = LSTMCell(3, 4)
    with pytest.raises(RuntimeError, match="preceding forward"):
        cell.backward(np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"\[batch, 3\]"):
        cell.forward(np.zeros((2, 4)))
    with pytest.raises(TypeError, match="tuple"):
        cell.forward(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(2, 2, nonlinearity="sigmoid")
    assert repr(GRUCell(2, 3, bias=False)) == "GRUCell(2, 3, bias=False)"
    assert repr(GRUCell(2, 3, reset_after=False)) == "GRUCell(2, 3, reset_after=False)"
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        GRUCell(2, 3, reset_after=False).to_torch()


def test_cells_pickle():
    import pickle

    cell = GRUCell(2, 3, random_state=0)
    again = pickle.loads(pickle.dumps(cell))
    x = np.ones((1, 2), np.float32)
    np.testing.assert_array_equal(again.forward(x), cell.forward(x))
    again.weight_hh[...] = 0  # its named views write its own flat buffer
    start = again.weight_ih.size
    assert not again.flat_params[start : start + again.weight_hh.size].any()
    assert cell.weight_hh.any()
