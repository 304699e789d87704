"""Keras 3 layers (on its torch backend: no TensorFlow) loaded into fastrnn."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import fastrnn  # noqa: E402

if keras.backend.backend() != "torch":  # another backend was chosen before this module
    pytest.skip("these tests run Keras on its torch backend", allow_module_level=True)

# Keras's torch backend converts tensors in a way NumPy 2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

KERAS = {
    "rnn_tanh": lambda units, **k: keras.layers.SimpleRNN(units, **k),
    "rnn_relu": lambda units, **k: keras.layers.SimpleRNN(units, activation="relu", **k),
    "lstm": lambda units, **k: keras.layers.LSTM(units, **k),
    "gru": lambda units, **k: keras.layers.GRU(units, **k),
    "gru_reset_before": lambda units, **k: keras.layers.GRU(units, reset_after=False, **k),
}
X = np.random.default_rng(0).standard_normal((4, 6, 3)).astype(np.float32)


def _keras_output(layers, x):
    out = x
    for layer in layers:
        out = layer(out)
    return keras.ops.convert_to_numpy(out)


@pytest.mark.parametrize("cell", list(KERAS))
@pytest.mark.parametrize("use_bias", [True, False])
def test_keras_stack_matches(cell, use_bias):
    keras.utils.set_random_seed(0)
    init = {"bias_initializer": "random_normal"} if use_bias else {}
    layers = [KERAS[cell](5, return_sequences=True, use_bias=use_bias, **init) for _ in range(2)]
    expected = _keras_output(layers, X)
    ours = fastrnn.nn.RNNBase.from_keras(layers)
    assert ours.cell == cell and ours.num_layers == 2 and ours.bias == use_bias
    np.testing.assert_allclose(ours.forward(X)[0], expected, rtol=1e-5, atol=1e-6)


def test_one_keras_lstm_layer_and_its_final_state():
    keras.utils.set_random_seed(1)
    layer = keras.layers.LSTM(7, return_state=True, bias_initializer="random_normal")
    out, h, c = (keras.ops.convert_to_numpy(a) for a in layer(X))
    ours = fastrnn.nn.LSTM.from_keras(layer)
    _, (h_n, c_n) = ours.forward(X)
    np.testing.assert_allclose(h_n[0], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_n[0], c, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: keras.layers.LSTM(4, activation="relu"), "tanh and sigmoid"),
        (lambda: keras.layers.SimpleRNN(4, activation="sigmoid"), "tanh or relu"),
        (lambda: keras.layers.LSTM(4, go_backwards=True), "go_backwards"),
        (lambda: keras.layers.Dense(4), "SimpleRNN, LSTM or GRU"),
    ],
)
def test_layers_fastrnn_cannot_compute_are_refused(make, match):
    layer = make()
    layer(X)
    with pytest.raises((ValueError, TypeError), match=match):
        fastrnn.nn.RNNBase.from_keras(layer)


def test_unbuilt_and_mixed_stacks_are_refused():
    with pytest.raises(ValueError, match="no weights yet"):
        fastrnn.nn.LSTM.from_keras(keras.layers.LSTM(3))
    a, b = keras.layers.LSTM(3, return_sequences=True), keras.layers.GRU(3)
    b(a(X))
    with pytest.raises(ValueError, match="one cell, width"):
        fastrnn.nn.RNNBase.from_keras([a, b])
    with pytest.raises(TypeError, match="GRU.from_keras got Keras LSTM"):
        fastrnn.nn.GRU.from_keras(a)
