"""Recurrent layers of different widths (Keras' LSTM(64) then LSTM(32)) as one stack."""

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNRegressor
from fastrnn.nn import LayerStack, SequenceNetwork
from tests.helpers import require_torch


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_stack_matches_chained_torch_layers(cell, bidirectional):
    torch = require_torch()
    net = SequenceNetwork(
        cell,
        3,
        (6, 4),
        2,
        bidirectional=bidirectional,
        dtype="float64",
        backend="numpy",
        random_state=0,
    )
    assert isinstance(net.rnn, LayerStack) and net.rnn.hidden_sizes == (6, 4)
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    nd = 2 if bidirectional else 1
    first = module(3, 6, batch_first=True, bidirectional=bidirectional).double()
    second = module(6 * nd, 4, batch_first=True, bidirectional=bidirectional).double()
    head = torch.nn.Linear(4 * nd, 2).double()
    with torch.no_grad():
        for k, layer in enumerate((first, second)):
            for name, p in layer.named_parameters():
                p.copy_(torch.from_numpy(net.rnn.params[name.replace("_l0", f"_l{k}")]))
        head.weight.copy_(torch.from_numpy(net.weight))
        head.bias.copy_(torch.from_numpy(net.bias))
    x = np.random.default_rng(1).standard_normal((5, 7, 3))
    out, _ = first(torch.from_numpy(x))
    _, state = second(out)
    h_n = state[0] if cell == "lstm" else state
    pred_t = head(torch.cat(list(h_n[-nd:]), dim=1))
    pred_t.sum().backward()
    net.zero_grad()
    pred = net.forward(x, training=True)
    net.backward(np.ones_like(pred))
    np.testing.assert_allclose(pred, pred_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for k, layer in enumerate((first, second)):
        for name, p in layer.named_parameters():
            mine = net.rnn.grad[name.replace("_l0", f"_l{k}")]
            np.testing.assert_allclose(mine, p.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_dropout_acts_between_the_stacks_layers_in_training_only():
    net = SequenceNetwork("lstm", 2, (8, 4), 1, dropout=0.5, random_state=0)
    x = np.random.default_rng(0).standard_normal((6, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(x), net.forward(x))
    assert not np.array_equal(net.forward(x, training=True), net.forward(x, training=True))


def test_an_estimator_with_layers_of_two_widths_fits_saves_and_summarises(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6, 2))
    y = X[:, :, 0].sum(axis=1)
    model = RNNRegressor(hidden_size=[16, 8], max_iter=30, tol=None, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.8
    model.save(tmp_path / "m.npz")
    loaded = fastrnn.load(tmp_path / "m.npz")
    assert loaded.hidden_size == (16, 8)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    model.summary()
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "LSTM 0 (None, None, 16) 1,280" in rows and "LSTM 1 (None, None, 8) 832" in rows
    with pytest.raises(ValueError, match="num_layers=3 says otherwise"):
        RNNRegressor(hidden_size=[4, 2], num_layers=3, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="positive integers"):
        RNNRegressor(hidden_size=[4, 0], max_iter=1).fit(X, y)


def test_a_stack_streams_in_pieces_as_it_runs_whole():
    net = SequenceNetwork("gru", 3, (6, 4), 1, random_state=0)
    x = np.random.default_rng(2).standard_normal((2, 7, 3)).astype(np.float32)
    whole, state = net.rnn.forward(x)
    stream = net.rnn.stream(batch_size=2)
    got = np.concatenate([stream.step(x[:, :3]), stream.step(x[:, 3:])], axis=1)
    np.testing.assert_array_equal(got, whole)
    np.testing.assert_array_equal(stream.state[-1], state)
    stream.reset()
    assert not any(s.any() for s in stream.state)
    bidirectional = SequenceNetwork("gru", 3, (6, 4), 1, bidirectional=True, random_state=0)
    with pytest.raises(ValueError, match="bidirectional layer cannot stream"):
        bidirectional.rnn.stream()
