"""Layers and estimators exchanged with PyTorch: torch -> fastrnn -> torch."""

import warnings

import numpy as np
import pytest

import fastrnn
from tests.helpers import require_torch

torch = require_torch()

MODULES = {
    "rnn_tanh": lambda *a, **k: torch.nn.RNN(*a, nonlinearity="tanh", **k),
    "rnn_relu": lambda *a, **k: torch.nn.RNN(*a, nonlinearity="relu", **k),
    "lstm": torch.nn.LSTM,
    "gru": torch.nn.GRU,
}


def _torch_outputs(module, x):
    with torch.no_grad():
        out, h = module(torch.from_numpy(x))
    h = h[0] if isinstance(h, tuple) else h
    return out.numpy(), h.numpy()


@pytest.mark.parametrize("cell", list(MODULES))
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_round_trip_torch_fastrnn_torch(cell, batch_first, bidirectional):
    torch.manual_seed(0)
    module = MODULES[cell](3, 5, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
    layer = fastrnn.nn.RNNBase.from_torch(module)
    assert layer.cell == cell and layer.batch_first == batch_first
    assert layer.num_layers == 2 and layer.bidirectional == bidirectional
    x = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)
    out, state = layer.forward(x)
    expected_out, expected_h = _torch_outputs(module, x)
    np.testing.assert_allclose(out, expected_out, rtol=1e-5, atol=1e-6)
    h = state[0] if cell == "lstm" else state
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-6)

    back = layer.to_torch()
    assert type(back) is type(module)
    for name, p in module.state_dict().items():
        assert torch.equal(back.state_dict()[name], p), name
    np.testing.assert_array_equal(_torch_outputs(back, x)[0], expected_out)


def test_float64_no_bias_and_dropout_carry_over():
    module = torch.nn.GRU(2, 3, num_layers=2, bias=False, dropout=0.25, dtype=torch.float64)
    module.eval()  # dropout is for training only, on both sides
    layer = fastrnn.nn.GRU.from_torch(module)
    assert layer.dtype == np.float64 and not layer.bias and layer.dropout == 0.25
    back = layer.to_torch()
    assert back.weight_ih_l0.dtype == torch.float64 and back.bias is False
    x = np.random.default_rng(1).standard_normal((5, 2, 2))  # batch_first=False
    np.testing.assert_allclose(layer.forward(x)[0], _torch_outputs(module, x)[0], rtol=1e-12)


def test_unsupported_modules_are_refused():
    with pytest.raises(ValueError, match="proj_size"):
        fastrnn.nn.LSTM.from_torch(torch.nn.LSTM(2, 4, proj_size=2))
    with pytest.raises(TypeError, match="torch.nn.RNN, LSTM or GRU"):
        fastrnn.nn.RNNBase.from_torch(torch.nn.Linear(2, 3))
    with pytest.raises(TypeError, match="GRU.from_torch got a torch.nn.LSTM"):
        fastrnn.nn.GRU.from_torch(torch.nn.LSTM(2, 3))
    # Layers and cells go through one exchange: each refuses the other's module.
    with pytest.raises(TypeError, match="RNNBase.from_torch got a torch.nn.GRUCell"):
        fastrnn.nn.RNNBase.from_torch(torch.nn.GRUCell(2, 3))
    with pytest.raises(TypeError, match="RNNCellBase.from_torch got a torch.nn.LSTM"):
        fastrnn.nn.RNNCellBase.from_torch(torch.nn.LSTM(2, 3))
    with pytest.raises(ValueError, match="no torch.nn counterpart"):
        fastrnn.nn.GRUCell(2, 3, reset_after=False).to_torch()


class _TorchModel(torch.nn.Module):
    """What a PyTorch user trains: a recurrent layer and a linear head."""

    def __init__(self, rnn, n_out, sequence=False):
        super().__init__()
        self.rnn, self.sequence = rnn, sequence
        directions = 2 if rnn.bidirectional else 1
        self.head = torch.nn.Linear(rnn.hidden_size * directions, n_out)

    def forward(self, x):
        out, h = self.rnn(x)
        if self.sequence:
            return self.head(out)
        h = h[0] if isinstance(h, tuple) else h
        last = torch.cat([h[-2], h[-1]], dim=1) if self.rnn.bidirectional else h[-1]
        return self.head(last)


def _predict_torch(model, X):
    with torch.no_grad():
        return model(torch.from_numpy(X.astype(np.float32))).numpy()


@pytest.mark.parametrize("cell", list(MODULES))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_regressor_from_torch_predicts_as_the_torch_model(cell, bidirectional, tmp_path):
    torch.manual_seed(1)
    model = _TorchModel(
        MODULES[cell](2, 6, num_layers=2, batch_first=True, bidirectional=bidirectional), 1
    )
    X = np.random.default_rng(2).standard_normal((10, 7, 2))
    est = fastrnn.RNNRegressor.from_torch(model.rnn, model.head)
    expected = _predict_torch(model, X)[:, 0]
    np.testing.assert_allclose(est.predict(X), expected, rtol=1e-5, atol=1e-6)
    est.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "m.npz").predict(X), est.predict(X))


def test_classifier_from_torch_sequence_output_streams_and_fine_tunes():
    torch.manual_seed(3)
    model = _TorchModel(torch.nn.GRU(3, 8, batch_first=True), 3, sequence=True)
    X = np.random.default_rng(4).standard_normal((12, 5, 3))
    clf = fastrnn.RNNClassifier.from_torch(
        model.rnn, model.head, classes=["a", "b", "c"], output="sequence", max_iter=1
    )
    logits = _predict_torch(model, X)
    np.testing.assert_array_equal(clf.predict(X), np.array(["a", "b", "c"])[logits.argmax(-1)])
    proba = torch.softmax(torch.from_numpy(logits).double(), -1).numpy()
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-5, atol=1e-6)
    stream = clf.stream(batch_size=len(X))
    np.testing.assert_array_equal(stream.step(X), clf.predict(X))
    before = clf.network_.flat_params.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.partial_fit(X, clf.predict(X)[:, ::-1])
    assert not np.array_equal(clf.network_.flat_params, before)


def test_from_torch_checks_the_head():
    rnn = torch.nn.LSTM(2, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"shape \(n_outputs, 4\)"):
        fastrnn.RNNRegressor.from_torch(rnn, torch.nn.Linear(5, 1))
    with pytest.raises(ValueError, match="classes must list one label per head output"):
        fastrnn.RNNClassifier.from_torch(rnn, torch.nn.Linear(4, 3), classes=[0, 1])
    with pytest.raises(ValueError, match="sorted and distinct"):
        fastrnn.RNNClassifier.from_torch(rnn, torch.nn.Linear(4, 3), classes=[0, 0, 1])
    with pytest.raises(ValueError, match="fixed by the layer"):
        fastrnn.RNNRegressor.from_torch(rnn, torch.nn.Linear(4, 1), hidden_size=8)
