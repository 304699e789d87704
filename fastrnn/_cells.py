"""The recurrent cells, one row each: every per-cell fact outside the gate maths.

Every per-cell mapping in fastrnn (gate counts, the kernels' codes, the layer
classes, PyTorch's modes, ONNX's and Keras' gate orders) and every list of
cells (the estimators' ``cell`` choices, the command line's, the benchmark's)
is derived from :data:`CELLS`. Only the kernels keep code per cell.

Adding a cell
-------------
1. A row here.
2. Its gate maths in the three backends: ``_kernels/_cells.pxi``
   (``cell_forward``, ``cell_backward`` and the ``Cell`` enum value that is
   the row's ``code``), ``_kernels/_numba.py`` (the same, and its code
   constant) and ``_kernels/_reference.py`` (the NumPy reference the tests
   trust, itself checked against finite differences).
3. A layer class in ``nn/_rnn.py`` if no existing one takes it by an argument.
The kernel, gradient and parity tests take their cells from this table.
"""

from typing import NamedTuple


class Cell(NamedTuple):
    name: str  # a layer's ``cell``
    gates: int  # gate blocks G in the weights: W_ih is [G*H, D]
    code: int  # the kernels' cell code (_cells.pxi's Cell enum, _numba.py's constants)
    layer: str  # the fastrnn.nn class that computes it
    layer_args: dict  # that class's constructor arguments for this cell
    torch_mode: str  # torch.nn.RNNBase.mode of the PyTorch module that computes it
    onnx_op: str  # the ONNX operator
    onnx_order: list  # for each ONNX gate block, the PyTorch block it comes from
    keras_order: list  # for each PyTorch gate block, the Keras block it comes from
    estimator: bool  # offered as the estimators' ``cell`` (else reached by an option)


# fmt: off
CELLS = {c.name: c for c in (
    Cell("rnn_tanh", 1, 0, "RNN", {"nonlinearity": "tanh"}, "RNN_TANH", "RNN", [0], [0], True),
    Cell("rnn_relu", 1, 1, "RNN", {"nonlinearity": "relu"}, "RNN_RELU", "RNN", [0], [0], True),
    Cell("lstm", 4, 2, "LSTM", {}, "LSTM", "LSTM", [0, 3, 1, 2], [0, 1, 2, 3], True),
    Cell("gru", 3, 3, "GRU", {}, "GRU", "GRU", [1, 0, 2], [1, 0, 2], True),
    # GRU with the reset gate applied before W_hn (Keras' reset_after=False):
    # the estimators' cell="gru" with reset_after=False.
    Cell("gru_reset_before", 3, 4, "GRU", {"reset_after": False}, "GRU", "GRU", [1, 0, 2],
         [1, 0, 2], False),
)}
# fmt: on

#: The cells the estimators, the language model and the command line offer.
ESTIMATOR_CELLS = tuple(name for name, c in CELLS.items() if c.estimator)
