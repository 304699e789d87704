"""A dense head with hidden layers (Keras' Dense(32, relu) -> Dense(1)) and the summary."""

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNRegressor
from fastrnn.nn import SequenceNetwork
from tests.helpers import require_torch


def _net(output="last", activation="relu", sizes=(5, 3)):
    return SequenceNetwork(
        "lstm",
        2,
        4,
        2,
        output=output,
        dtype="float64",
        backend="numpy",
        random_state=0,
        head_hidden_sizes=sizes,
        head_activation=activation,
    )


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("output", ["last", "sequence", "mean"])
def test_every_gradient_matches_finite_differences(output, activation):
    rng = np.random.default_rng(1)
    net = _net(output, activation)
    x = rng.standard_normal((3, 5, 2))
    target = rng.standard_normal(net.forward(x).shape)

    def loss():
        return 0.5 * float(np.sum((net.forward(x) - target) ** 2))

    net.zero_grad()
    net.backward(net.forward(x, training=True) - target)
    analytic = net.flat_grad.copy()
    numeric = np.zeros_like(analytic)
    for i in range(net.flat_params.size):
        keep = net.flat_params[i]
        net.flat_params[i] = keep + 1e-6
        up = loss()
        net.flat_params[i] = keep - 1e-6
        numeric[i] = (up - loss()) / 2e-6
        net.flat_params[i] = keep
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_the_head_matches_torch_forward_and_gradients():
    torch = require_torch()
    net = _net(sizes=(6,))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 7, 2))
    lstm = torch.nn.LSTM(2, 4, batch_first=True).double()
    head = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2)
    ).double()
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            p.copy_(torch.from_numpy(net.rnn.params[name]))
        (w1, b1), w2, b2 = net.hidden_layers[0], net.weight, net.bias
        for p, value in zip(head.parameters(), (w1, b1, w2, b2)):
            p.copy_(torch.from_numpy(value))
    xt = torch.from_numpy(x)
    _, (h_n, _) = lstm(xt)
    pred_t = head(h_n[-1])
    pred_t.sum().backward()
    net.zero_grad()
    pred = net.forward(x, training=True)
    net.backward(np.ones_like(pred))
    np.testing.assert_allclose(pred, pred_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    grads = [p.grad.numpy() for p in head.parameters()]
    (gw1, gb1), gw2, gb2 = net._hidden_grads[0], net.grad_weight, net.grad_bias
    for mine, theirs in zip((gw1, gb1, gw2, gb2), grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)
    for name, p in lstm.named_parameters():
        start = (net.rnn.params[name].ctypes.data - net.flat_params.ctypes.data) // 8
        mine = net.flat_grad[start : start + p.numel()].reshape(p.shape)
        np.testing.assert_allclose(mine, p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_an_estimator_with_a_hidden_head_learns_saves_and_says_what_it_cannot(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6, 2))
    y = np.abs(X[:, :, 0].sum(axis=1))  # a kink: what a hidden ReLU layer is for
    model = RNNRegressor(
        hidden_size=16, head_hidden_sizes=[16], max_iter=40, tol=None, random_state=0
    ).fit(X, y)
    assert model.score(X, y) > 0.8
    model.save(tmp_path / "m.npz")
    loaded = fastrnn.load(tmp_path / "m.npz")
    assert loaded.head_hidden_sizes == (16,)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="positive integers"):
        RNNRegressor(head_hidden_sizes=[0]).fit(X, y)


def test_summary_lists_layers_shapes_and_the_parameter_count(capsys):
    torch = require_torch()
    X = np.random.default_rng(0).standard_normal((20, 5, 3))
    model = RNNRegressor(
        hidden_size=8, num_layers=2, bidirectional=True, head_hidden_sizes=(4,), max_iter=1
    ).fit(X, X.sum(axis=(1, 2)))
    model.summary()
    text = capsys.readouterr().out
    lstm = torch.nn.LSTM(3, 8, 2, bidirectional=True)
    first = sum(p.numel() for n, p in lstm.named_parameters() if "_l0" in n)
    assert f"Bidirectional(LSTM) 0  (None, None, 16)  {first:,}" in " ".join(text.split("\n"))
    assert "Dense, relu" in text and "(None, 4)" in text and "(None, 1)" in text
    total = sum(p.numel() for p in lstm.parameters()) + 16 * 4 + 4 + 4 + 1
    assert f"Total params: {total:,}" in text
    assert model.network_.flat_params.size == total
