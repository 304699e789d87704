"""Load the weights of Keras 3 ``SimpleRNN``, ``LSTM`` and ``GRU`` layers.

Keras keeps ``kernel [D, G*H]``, ``recurrent_kernel [H, G*H]`` and one bias
``[G*H]`` (GRU with ``reset_after=True``: ``[2, G*H]``, input and recurrent
biases), gates in the order LSTM ``i, f, c, o`` (PyTorch's ``i, f, g, o``)
and GRU ``z, r, h`` (PyTorch's ``r, z, n``). With ``reset_after=True``
Keras's GRU is PyTorch's (the reset gate multiplies the recurrent part with
its bias); with ``reset_after=False`` it is fastrnn's
``GRU(reset_after=False)`` with a zero recurrent bias. Either way the
conversion is a transpose and a reorder of the gate blocks. Keras is not imported: the layers' own
``get_weights`` and ``get_config`` are read.
"""

import numpy as np

from fastrnn._cells import CELLS
from fastrnn._kernels import GATES

# For each PyTorch gate block, the Keras block it comes from.
_KERAS_BLOCK = {name: cell.keras_order for name, cell in CELLS.items()}


def _cell_of(layer):
    """The fastrnn cell of a Keras layer, refusing configurations fastrnn does not compute."""
    kind = type(layer).__name__
    config = layer.get_config()
    act, rec_act = config.get("activation"), config.get("recurrent_activation", "sigmoid")
    if kind == "SimpleRNN":
        if act not in ("tanh", "relu"):
            raise ValueError(f"SimpleRNN activation {act!r}: fastrnn's RNN has tanh or relu")
        cell = f"rnn_{act}"
    elif kind in ("LSTM", "GRU"):
        if act != "tanh" or rec_act != "sigmoid":
            raise ValueError(
                f"{kind} with activation={act!r}, recurrent_activation={rec_act!r}: fastrnn's "
                "gates are tanh and sigmoid"
            )
        cell = kind.lower()
        if kind == "GRU" and not config.get("reset_after", True):
            cell = "gru_reset_before"
    else:
        raise TypeError(f"expected a Keras SimpleRNN, LSTM or GRU layer, got {kind}")
    if config.get("go_backwards"):
        raise ValueError(f"{layer.name} has go_backwards=True; only forward layers load")
    if not layer.get_weights():
        raise ValueError(f"{layer.name} has no weights yet: build it (call it on data) first")
    return cell, config["units"], bool(config.get("use_bias", True))


def _reorder(a, cell, H):
    blocks = a.reshape(GATES[cell], H, *a.shape[1:])
    return blocks[_KERAS_BLOCK[cell]].reshape(a.shape)


def from_keras(layers, dtype="float32", backend="auto", batch_first=True):
    """A fastrnn layer holding the weights of one Keras layer or a stack of them.

    Parameters
    ----------
    layers : keras.layers.SimpleRNN, LSTM or GRU, or a list of them
        A list is a stack (each layer's input the previous one's output):
        all of one kind and width, all with or all without biases.
    dtype, backend, batch_first
        As for the layers (Keras is batch first).

    Returns
    -------
    layer : fastrnn.nn.RNN, LSTM or GRU
        ``forward(x)[0]`` is the stack's ``return_sequences=True`` output.
    """
    from fastrnn.nn import _rnn

    layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not layers:
        raise ValueError("from_keras needs at least one layer")
    specs = [_cell_of(layer) for layer in layers]
    if len(set(specs)) > 1:
        raise ValueError(f"a stack must be of one cell, width and bias setting, got {specs}")
    cell, H, use_bias = specs[0]
    input_size = layers[0].get_weights()[0].shape[0]
    cls = {"lstm": _rnn.LSTM, "gru": _rnn.GRU, "gru_reset_before": _rnn.GRU}.get(cell, _rnn.RNN)
    kwargs = {"nonlinearity": cell[4:]} if cell.startswith("rnn_") else {}
    if cell == "gru_reset_before":
        kwargs["reset_after"] = False
    out = cls(
        input_size,
        H,
        num_layers=len(layers),
        bias=use_bias,
        batch_first=batch_first,
        dtype=dtype,
        backend=backend,
        **kwargs,
    )
    state = {}
    for i, layer in enumerate(layers):
        weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
        state[f"weight_ih_l{i}"] = _reorder(weights[0].T, cell, H)
        state[f"weight_hh_l{i}"] = _reorder(weights[1].T, cell, H)
        if use_bias:
            bias = weights[2]
            b_ih, b_hh = (bias[0], bias[1]) if cell == "gru" else (bias, np.zeros_like(bias))
            state[f"bias_ih_l{i}"] = _reorder(b_ih, cell, H)
            state[f"bias_hh_l{i}"] = _reorder(b_hh, cell, H)
    out.load_state_dict(state)  # checks every shape: a mismatched stack is refused here
    return out
