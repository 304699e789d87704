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
    """Base of the cells; parameters ``weight_ih [G*H, D]``, ``weight_hh [G*H, H]``,
    ``bias_ih``, ``bias_hh [G*H]`` in one flat buffer, PyTorch's names and layout."""

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
        """One step of a batch.

        Parameters
        ----------
        x : array-like [B, input_size]
        hx : [B, H] (LSTM: tuple ``(h, c)``), optional; zeros by default.
        training : bool
            Keep the step for :meth:`backward`.

        Returns
        -------
        h' : ndarray [B, H]; for LSTM ``(h', c')``
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
        grad_h : array-like [B, H]
            Gradient of the loss with respect to the step's new ``h``.
        grad_c : array-like [B, H], optional (LSTM)
            With respect to its new ``c``.

        Returns
        -------
        grad_x : ndarray [B, input_size]
        grad_hx : ndarray [B, H], for LSTM ``(grad_h0, grad_c0)``
            With respect to the state the step started from: pass it to the
            previous step's ``backward``.
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
        """A cell with the configuration and weights of ``torch.nn.RNNCell/LSTMCell/GRUCell``.

        See :func:`fastrnn.nn._torch.from_torch` (this class must match the module's).
        """
        cell = _torch.from_torch(module, dtype=dtype, backend=backend)
        if not isinstance(cell, cls):
            raise TypeError(f"{cls.__name__}.from_torch got a torch.nn.{type(module).__name__}")
        return cell

    def to_torch(self):
        """The ``torch.nn`` cell with this one's configuration and weights (needs torch)."""
        return _torch.to_torch(self)

    def __repr__(self):
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.cell != "gru_reset_before" else ", reset_after=False"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


class RNNCell(RNNCellBase):
    """Elman cell ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, as ``torch.nn.RNNCell``."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias, **kwargs)


class LSTMCell(RNNCellBase):
    """LSTM cell (gates ``i, f, g, o``), as ``torch.nn.LSTMCell``; the state is ``(h, c)``."""

    def __init__(self, input_size, hidden_size, bias=True, **kwargs):
        super().__init__("lstm", input_size, hidden_size, bias, **kwargs)


class GRUCell(RNNCellBase):
    """GRU cell (gates ``r, z, n``), as ``torch.nn.GRUCell``.

    ``reset_after=True`` (default) is PyTorch's form, the reset gate applied
    after the recurrent matmul; ``reset_after=False`` applies it before, as
    :class:`fastrnn.nn.GRU` explains (no ``torch.nn`` counterpart).
    """

    def __init__(self, input_size, hidden_size, bias=True, reset_after=True, **kwargs):
        self.reset_after = val.check_bool(reset_after, "reset_after")
        cell = "gru" if self.reset_after else "gru_reset_before"
        super().__init__(cell, input_size, hidden_size, bias, **kwargs)
