"""One time step at a time: ``RNNCell``, ``LSTMCell`` and ``GRUCell``, as ``torch.nn``'s.

For loops written by hand, as the PyTorch write-ups do. A step is the
sequence kernels run over one time step (the same gate code as the layers,
no second copy), and backpropagation works like a tape: each
``forward(..., training=True)`` keeps its step, and each :meth:`backward`
takes the most recent one, so calling it once per step in reverse order is
backpropagation through time.
"""

import numpy as np

from fastrnn import _validation as val
from fastrnn._kernels import GATES
from fastrnn.nn import _torch
from fastrnn.nn._params import FlatParameters


class RNNCellBase(FlatParameters):
    """Base of the cells; not used directly.

    The parameters ``weight_ih [G*H, D]``, ``weight_hh [G*H, H]``, ``bias_ih``
    and ``bias_hh [G*H]`` (G gate blocks) live in one flat buffer, with
    PyTorch's names and layout, and are drawn from U(-1/sqrt(H), 1/sqrt(H)) as
    PyTorch does.

    Parameters
    ----------
    cell : {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before"}
        The cell computed (:class:`RNNCell`, :class:`LSTMCell` and
        :class:`GRUCell` set it from their own arguments).
    input_size : int
        Features D of the input.
    hidden_size : int
        Units of the hidden state H.
    bias : bool, default=True
        Use ``bias_ih`` and ``bias_hh``.
    dtype : {"float32", "float64"}, default="float32"
        The dtype of the parameters and the computation.
    backend : {"auto", "cython", "numba", "numpy"}, default="auto"
        Kernel backend; "auto" is the fastest installed one.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the initial weights.
    """

    def __init__(
        self,
        cell,
        input_size,
        hidden_size,
        bias=True,
        dtype="float32",
        backend="auto",
        random_state=None,
    ):
        self._init_fields(cell, input_size, hidden_size, bias, dtype, backend)
        G, H, D = GATES[cell], self.hidden_size, self.input_size
        shapes = {"weight_ih": (G * H, D), "weight_hh": (G * H, H)}
        if self.bias:
            shapes.update(bias_ih=(G * H,), bias_hh=(G * H,))
        self._shapes = shapes
        total = sum(int(np.prod(s)) for s in shapes.values())
        bound = 1.0 / np.sqrt(H)  # PyTorch's U(-1/sqrt(H), 1/sqrt(H))
        rng = np.random.default_rng(random_state)
        self.flat_params = rng.uniform(-bound, bound, total).astype(self.dtype)
        self.flat_grad = np.zeros(total, self.dtype)
        self._make_views()

    _TRANSIENT = (*FlatParameters._TRANSIENT, "_tape")

    def _reset_transient(self):
        super()._reset_transient()
        self._tape = []  # a pickled cell starts with no steps to backpropagate

    def _weight_groups(self, params):
        return [self._weights(params)]

    def _weights(self, params=None):
        p = self.params if params is None else params
        b_ih = p["bias_ih"] if self.bias else self._zero_bias
        b_hh = p["bias_hh"] if self.bias else self._zero_bias
        return p["weight_ih"], p["weight_hh"], b_ih, b_hh

    def forward(self, x, hx=None, training=False):
        """Run one step of a batch.

        Parameters
        ----------
        x : array-like of shape [B, input_size]
            The step's input; NaN or infinity raise ``ValueError``.
        hx : ndarray or tuple of ndarray, optional
            The state the step starts from, ``[B, H]`` (for LSTM a tuple
            ``(h, c)`` of two such arrays); None means zeros.
        training : bool, default=False
            Keep the step for :meth:`backward`.

        Returns
        -------
        ndarray or tuple of ndarray
            The new state ``h'``, ``[B, H]``; for LSTM a tuple ``(h', c')``.
        """
        x = val.as_float_array(x, self.dtype, "x")
        if x.ndim != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"x must be [batch, {self.input_size}], got shape {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("x is empty: a batch of 0 rows")
        val.check_finite(x, "x")
        h, c = self._check_state(hx, (x.shape[0], self.hidden_size))
        prepared = self._prepared_weights()
        extra = {} if prepared is None else {"prepared": prepared[0]}
        _, h_new, c_new, cache = self._kernels.forward(
            self.cell, x[None], h, c, *self._weights(), training=training, **extra
        )
        if training:
            self._tape.append((cache, x.shape[0]))
        return (h_new, c_new) if self.cell == "lstm" else h_new

    __call__ = forward

    def backward(self, grad_h, grad_c=None):
        """Backpropagate through the most recent training step (and forget it).

        Parameter gradients are added to :attr:`grad`.

        Parameters
        ----------
        grad_h : array-like of shape [B, H]
            Gradient of the loss with respect to the step's new ``h``.
        grad_c : array-like of shape [B, H], optional
            LSTM only: with respect to its new ``c``; None means zeros.

        Returns
        -------
        grad_x : ndarray
            Gradient with respect to the step's input, ``[B, input_size]``.
        grad_hx : ndarray or tuple of ndarray
            With respect to the state the step started from, ``[B, H]`` (for
            LSTM a tuple ``(grad_h0, grad_c0)``): pass it to the previous
            step's ``backward``.

        Raises
        ------
        RuntimeError
            When no training step is left to backpropagate.
        """
        if not self._tape:
            raise RuntimeError("backward() needs a preceding forward(..., training=True)")
        B, H = self._tape[-1][1], self.hidden_size
        dh = val.check_state(grad_h, (B, H), self.dtype, "grad_h")
        dc = None
        if self.cell == "lstm":
            dc = (
                np.zeros_like(dh)
                if grad_c is None
                else val.check_state(grad_c, (B, H), self.dtype, "grad_c")
            )
        cache, _ = self._tape.pop()
        dout = np.zeros((1, B, H), self.dtype)
        grads = self._grads_of(self._weights(self.grad))
        dx, dh0, dc0, *_ = self._kernels.backward(cache, dout, dh, dc, grads=grads)
        return dx[0], ((dh0, dc0) if self.cell == "lstm" else dh0)

    @classmethod
    def from_torch(cls, module, dtype=None, backend="auto"):
        """Build a cell with the configuration and weights of a ``torch.nn`` cell.

        The sizes, ``bias``, the RNN cell's nonlinearity and the
        ``state_dict`` are copied, so ``forward`` gives the module's outputs.
        torch itself is not imported.

        Parameters
        ----------
        module : torch.nn.RNNCell, torch.nn.LSTMCell or torch.nn.GRUCell
            The cell to copy; it must be the counterpart of this class
            (``RNNCellBase.from_torch`` takes any of the three).
        dtype : {"float32", "float64"}, optional
            The cell's dtype; by default the module's parameters' (float32
            unless the module was converted).
        backend : {"auto", "cython", "numba", "numpy"}, default="auto"
            The cell's kernel backend.

        Returns
        -------
        RNNCellBase
            An :class:`RNNCell`, :class:`LSTMCell` or :class:`GRUCell` holding
            the module's weights.

        Raises
        ------
        TypeError
            If ``module`` is not a cell this class computes.
        """
        cell = _torch.from_torch(module, dtype=dtype, backend=backend)
        if not isinstance(cell, cls):
            raise TypeError(f"{cls.__name__}.from_torch got a torch.nn.{type(module).__name__}")
        return cell

    def to_torch(self):
        """Build the ``torch.nn`` cell with this one's configuration and weights.

        Returns
        -------
        torch.nn.RNNCell, torch.nn.LSTMCell or torch.nn.GRUCell
            A cell of the same sizes, ``bias`` and dtype holding copies of the
            weights (needs torch).

        Raises
        ------
        ValueError
            For a GRU cell with ``reset_after=False``, which ``torch.nn``
            cannot express.
        """
        return _torch.to_torch(self)

    def __repr__(self):
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.cell != "gru_reset_before" else ", reset_after=False"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


# The cells' docstrings share their sizes and bias and the keyword arguments they pass
# on to RNNCellBase, as the layers' do (_rnn.py); each adds its own cell's argument
# between the two.
_SIZES = """
    Parameters
    ----------
    input_size : int
        Features of the input.
    hidden_size : int
        Units of the hidden state H.
    bias : bool, default=True
        Use ``bias_ih`` and ``bias_hh``."""

_KEYWORDS = """
    **kwargs
        The other arguments of :class:`RNNCellBase`, by keyword: ``dtype``
        ({"float32", "float64"}, default "float32"), ``backend`` ({"auto",
        "cython", "numba", "numpy"}, default "auto") and ``random_state``
        (int, numpy.random.Generator or None: seeds the initial weights).
"""


class RNNCell(RNNCellBase):
    __doc__ = (
        """Elman cell ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, as ``torch.nn.RNNCell``.
"""
        + _SIZES
        + """
    nonlinearity : {"tanh", "relu"}, default="tanh"
        The activation ``act``."""
        + _KEYWORDS
    )

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias, **kwargs)


class LSTMCell(RNNCellBase):
    __doc__ = (
        """LSTM cell (gates ``i, f, g, o``), as ``torch.nn.LSTMCell``; the state is ``(h, c)``.
"""
        + _SIZES
        + _KEYWORDS
    )

    def __init__(self, input_size, hidden_size, bias=True, **kwargs):
        super().__init__("lstm", input_size, hidden_size, bias, **kwargs)


class GRUCell(RNNCellBase):
    __doc__ = (
        """GRU cell (gates ``r, z, n``), as ``torch.nn.GRUCell``.

    ``reset_after=True`` (default) is PyTorch's form, the reset gate applied
    after the recurrent matmul; ``reset_after=False`` applies it before, as
    :class:`fastrnn.nn.GRU` explains (no ``torch.nn`` counterpart).
"""
        + _SIZES
        + """
    reset_after : bool, default=True
        Apply the reset gate after the recurrent matmul (PyTorch's form) or,
        with False, before it."""
        + _KEYWORDS
    )

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, **kwargs):
        self.reset_after = val.check_bool(reset_after, "reset_after")
        cell = "gru" if self.reset_after else "gru_reset_before"
        super().__init__(cell, input_size, hidden_size, bias, **kwargs)
