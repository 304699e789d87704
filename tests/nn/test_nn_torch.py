"""The layers against torch.nn.RNN / LSTM / GRU loaded with the same weights."""

import numpy as np
import pytest

import fastrnn
from tests.helpers import COMPILED, require_torch

torch = require_torch()

LAYERS = {
    "rnn_tanh": (fastrnn.nn.RNN, lambda *a, **k: torch.nn.RNN(*a, nonlinearity="tanh", **k), {}),
    "rnn_relu": (
        fastrnn.nn.RNN,
        lambda *a, **k: torch.nn.RNN(*a, nonlinearity="relu", **k),
        {"nonlinearity": "relu"},
    ),
    "lstm": (fastrnn.nn.LSTM, torch.nn.LSTM, {}),
    "gru": (fastrnn.nn.GRU, torch.nn.GRU, {}),
}


@pytest.fixture(params=list(LAYERS))
def cell(request):
    """The kernel cells PyTorch has (its GRU is the reset-after form)."""
    return request.param


def torch_run(module, x, hx, lengths, grad_out, grad_hx):
    """Forward and backward in torch (packed when ``lengths`` is given)."""
    xt = torch.tensor(x, requires_grad=True)
    is_lstm = isinstance(module, torch.nn.LSTM)
    hxt = (
        tuple(torch.tensor(h, requires_grad=True) for h in hx)
        if is_lstm
        else torch.tensor(hx, requires_grad=True)
    )
    if lengths is None:
        out, hn = module(xt, hxt)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
        out, hn = module(packed, hxt)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=True, total_length=x.shape[1]
        )
    hn_list = list(hn) if is_lstm else [hn]
    loss = (out * torch.tensor(grad_out)).sum()
    for h, g in zip(hn_list, grad_hx if is_lstm else [grad_hx]):
        loss = loss + (h * torch.tensor(g)).sum()
    loss.backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    dhx = [h.grad.numpy() for h in (hxt if is_lstm else [hxt])]
    return out.detach().numpy(), [h.detach().numpy() for h in hn_list], xt.grad.numpy(), dhx, grads


@pytest.mark.parametrize("backend", COMPILED + ["numpy"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
def test_layer_matches_torch(cell, backend, num_layers, bidirectional, ragged):
    ours_cls, torch_cls, extra = LAYERS[cell]
    B, T, D, H = 4, 7, 3, 5
    rng = np.random.default_rng(num_layers * 10 + bidirectional)
    torch.manual_seed(0)
    tm = torch_cls(
        D, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=True
    ).double()
    ours = ours_cls(
        D,
        H,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dtype="float64",
        backend=backend,
        **extra,
    )
    ours.load_state_dict(tm.state_dict())

    nd = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, D))
    lengths = np.array([7, 3, 1, 5]) if ragged else None
    hx = [rng.standard_normal((num_layers * nd, B, H)) for _ in range(2 if cell == "lstm" else 1)]
    grad_out = rng.standard_normal((B, T, nd * H))
    grad_hx = [rng.standard_normal((num_layers * nd, B, H)) for _ in hx]
    if ragged:  # torch's padded output has no gradient path past each length
        grad_out[np.arange(T)[None, :] >= lengths[:, None]] = 0

    state = tuple(hx) if cell == "lstm" else hx[0]
    grad_state = tuple(grad_hx) if cell == "lstm" else grad_hx[0]
    t_out, t_hn, t_dx, t_dhx, t_grads = torch_run(tm, x, state, lengths, grad_out, grad_state)
    out, hn = ours.forward(x, state, lengths=lengths, training=True)
    dx = ours.backward(grad_out, grad_state)

    tol = dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out, t_out, **tol)
    for a, b in zip(hn if cell == "lstm" else [hn], t_hn):
        np.testing.assert_allclose(a, b, **tol)
    np.testing.assert_allclose(dx, t_dx, **tol)
    for a, b in zip(ours.grad_hx if cell == "lstm" else [ours.grad_hx], t_dhx):
        np.testing.assert_allclose(a, b, **tol)
    assert set(ours.grad) == set(t_grads)
    for name, g in t_grads.items():
        np.testing.assert_allclose(ours.grad[name], g, **tol, err_msg=name)


def test_float32_layer_matches_torch_float32(cell):
    ours_cls, torch_cls, extra = LAYERS[cell]
    torch.manual_seed(1)
    tm = torch_cls(6, 8, num_layers=2, batch_first=True)
    ours = ours_cls(6, 8, num_layers=2, **extra)
    ours.load_state_dict(tm.state_dict())
    x = np.random.default_rng(2).standard_normal((5, 20, 6)).astype(np.float32)
    with torch.no_grad():
        t_out = tm(torch.tensor(x))[0].numpy()
    out, _ = ours.forward(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, t_out, rtol=1e-4, atol=1e-5)


def test_state_dict_round_trips_into_torch(cell):
    ours_cls, torch_cls, extra = LAYERS[cell]
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True, random_state=0, **extra)
    tm = torch_cls(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(
            ours.forward(x)[0], tm(torch.tensor(x))[0].numpy(), rtol=1e-4, atol=1e-5
        )
