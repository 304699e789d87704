"""Exchange layers with PyTorch: ``torch.nn.RNN/LSTM/GRU`` <-> ``fastrnn.nn``.

The weight layout, gate orders and parameter names are the same on both
sides, so a conversion copies the configuration and the ``state_dict``.
torch is imported only by :func:`to_torch`; :func:`from_torch` reads the
module's attributes and tensors without importing it.
"""

import numpy as np

from fastrnn._cells import CELLS

# torch.nn.RNNBase.mode -> fastrnn class name (subclasses of torch's modules keep it).
_MODES = {cell.torch_mode: cell.layer for cell in CELLS.values()}
# Constructor arguments that torch's modules and fastrnn's layers name alike and
# also keep as attributes.
_SHARED = ("num_layers", "bias", "batch_first", "dropout", "bidirectional")


def from_torch(module, dtype=None, backend="auto"):
    """A fastrnn layer with the configuration and weights of a torch module.

    Parameters
    ----------
    module : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
    dtype : {"float32", "float64"}, optional
        Default: the module's (float32 unless it was converted).
    backend : str, default="auto"

    Returns
    -------
    layer : fastrnn.nn.RNN, LSTM or GRU
        Same ``batch_first``, ``num_layers``, ``bidirectional``, ``bias``,
        ``dropout`` and weights; ``forward`` gives ``module``'s outputs.

    Raises
    ------
    TypeError
        For anything but those three modules.
    ValueError
        For an LSTM with ``proj_size`` (fastrnn has no projections).
    """
    from fastrnn.nn import _rnn

    kind = _MODES.get(getattr(module, "mode", None)) if hasattr(module, "state_dict") else None
    if kind is None:
        raise TypeError(
            f"from_torch takes a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError(
            f"the LSTM has proj_size={module.proj_size}; fastrnn's LSTM has no projection"
        )
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    if dtype is None:
        dtype = next(iter(state.values())).dtype
        dtype = dtype if dtype in (np.float32, np.float64) else np.float32
    kwargs = {name: getattr(module, name) for name in _SHARED}
    kwargs.update(dtype=dtype, backend=backend)
    if kind == "RNN":
        kwargs["nonlinearity"] = module.nonlinearity
    layer = getattr(_rnn, kind)(module.input_size, module.hidden_size, **kwargs)
    layer.load_state_dict(state)
    return layer


def _check_torch_has(layer):
    """Refuse, before torch is imported, a layer or cell that ``torch.nn`` cannot express."""
    if layer.cell == "gru_reset_before":
        raise ValueError(
            "torch.nn's GRU applies the reset gate after the recurrent matmul "
            "(reset_after=True); this reset_after=False GRU has no torch.nn counterpart "
            "(fastrnn.onnx.to_onnx exports it)"
        )


def to_torch(layer):
    """A ``torch.nn`` module with the configuration and weights of ``layer``.

    The module's dtype is the layer's (``torch.float32`` or ``torch.float64``).
    """
    return torch_module(layer, **{name: getattr(layer, name) for name in _SHARED})


def torch_module(obj, **kwargs):
    """The ``torch.nn`` class of ``obj``'s name (a layer or a cell) holding its weights.

    Built with ``obj``'s sizes, dtype and nonlinearity plus ``kwargs``;
    torch is imported only here.
    """
    _check_torch_has(obj)
    import torch

    kwargs["dtype"] = torch.float64 if obj.dtype == np.float64 else torch.float32
    if obj.cell.startswith("rnn_"):
        kwargs["nonlinearity"] = obj.nonlinearity
    module = getattr(torch.nn, type(obj).__name__)(obj.input_size, obj.hidden_size, **kwargs)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in obj.params.items()})
    return module
