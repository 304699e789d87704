"""Exchange layers and cells with PyTorch: ``torch.nn.RNN/LSTM/GRU`` and their
cells <-> ``fastrnn.nn``.

The weight layout, gate orders and parameter names are the same on both
sides, so a conversion copies the configuration and the ``state_dict``.
torch is imported only by :func:`to_torch`; :func:`from_torch` reads the
module's attributes and tensors without importing it. The layers' and cells'
``from_torch``/``to_torch`` methods are these two functions.
"""

import numpy as np

from fastrnn._cells import CELLS

# torch.nn.RNNBase.mode -> fastrnn layer class name (subclasses of torch's modules keep it).
_MODES = {cell.torch_mode: cell.layer for cell in CELLS.values()}
# torch.nn's cell classes, named as fastrnn's: RNNCell, LSTMCell, GRUCell.
_CELL_CLASSES = {cell.layer + "Cell" for cell in CELLS.values()}
# Constructor arguments that torch's layers and fastrnn's name alike and also
# keep as attributes (a cell has ``bias`` only).
_SHARED = ("num_layers", "bias", "batch_first", "dropout", "bidirectional")


def _fastrnn_class(module):
    """The name of the fastrnn class that computes ``module``, or None."""
    if not hasattr(module, "state_dict"):
        return None
    for klass in type(module).__mro__:  # a subclass of torch's cell is that cell
        if klass.__name__ in _CELL_CLASSES and klass.__module__.startswith("torch.nn"):
            return klass.__name__
    return _MODES.get(getattr(module, "mode", None))


def from_torch(module, dtype=None, backend="auto"):
    """A fastrnn layer or cell with the configuration and weights of a torch module.

    Parameters
    ----------
    module : torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell
    dtype : {"float32", "float64"}, optional
        Default: the module's (float32 unless it was converted).
    backend : str, default="auto"

    Returns
    -------
    layer : fastrnn.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or GRUCell
        Same sizes, ``bias``, nonlinearity, weights and, for a layer,
        ``batch_first``, ``num_layers``, ``bidirectional``, ``dropout``;
        ``forward`` gives ``module``'s outputs.

    Raises
    ------
    TypeError
        For anything but those six modules.
    ValueError
        For an LSTM with ``proj_size`` (fastrnn has no projections).
    """
    from fastrnn import nn

    name = _fastrnn_class(module)
    if name is None:
        raise TypeError(
            "from_torch takes a torch.nn.RNN, LSTM or GRU, or one of their cells, got "
            f"{type(module).__name__}"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError(
            f"the LSTM has proj_size={module.proj_size}; fastrnn's LSTM has no projection"
        )
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    if dtype is None:
        dtype = next(iter(state.values())).dtype
        dtype = dtype if dtype in (np.float32, np.float64) else np.float32
    shared = ("bias",) if name in _CELL_CLASSES else _SHARED
    kwargs = {key: getattr(module, key) for key in shared}
    kwargs.update(dtype=dtype, backend=backend)
    if name in ("RNN", "RNNCell"):
        kwargs["nonlinearity"] = module.nonlinearity
    obj = getattr(nn, name)(module.input_size, module.hidden_size, **kwargs)
    obj.load_state_dict(state)
    return obj


def to_torch(obj):
    """The ``torch.nn`` module of ``obj`` (a fastrnn layer or cell) holding its weights.

    Same configuration as ``obj``; the module's dtype is ``obj``'s
    (``torch.float32`` or ``torch.float64``). torch is imported only here.

    Raises
    ------
    ValueError
        For a GRU with ``reset_after=False``, which ``torch.nn`` cannot express.
    """
    if obj.cell == "gru_reset_before":  # refused before torch is imported
        raise ValueError(
            "torch.nn's GRU applies the reset gate after the recurrent matmul "
            "(reset_after=True); this reset_after=False GRU has no torch.nn counterpart "
            "(fastrnn.onnx.to_onnx exports it)"
        )
    import torch

    is_cell = type(obj).__name__ in _CELL_CLASSES
    kwargs = {key: getattr(obj, key) for key in (("bias",) if is_cell else _SHARED)}
    kwargs["dtype"] = torch.float64 if obj.dtype == np.float64 else torch.float32
    if obj.cell.startswith("rnn_"):
        kwargs["nonlinearity"] = obj.nonlinearity
    module = getattr(torch.nn, type(obj).__name__)(obj.input_size, obj.hidden_size, **kwargs)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in obj.params.items()})
    return module
