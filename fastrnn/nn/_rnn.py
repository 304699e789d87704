"""Recurrent layers with PyTorch's names, shapes and weight layout.

:class:`RNNBase` holds everything the three layers share — the flat
parameter and gradient buffers, their torch names, stacking of layers and
directions, dropout between layers, shape checks — and :class:`RNN`,
:class:`LSTM` and :class:`GRU` differ only in their cell, as in
``torch.nn.modules.rnn``. Arrays in and out are NumPy; the heavy work is one
call of a kernel backend per layer and direction.
"""

import numpy as np

from fastrnn import _validation as val
from fastrnn._kernels import GATES, reverse_within_lengths
from fastrnn.nn._params import FlatParameters
from fastrnn.nn._stream import Stream


class RNNBase(FlatParameters):
    """Base of the recurrent layers; not used directly.

    Parameters live in one contiguous buffer, :attr:`flat_params`, and their
    gradients in :attr:`flat_grad`; every named weight is a view into them,
    in PyTorch's order (per layer, per direction: ``weight_ih``,
    ``weight_hh``, ``bias_ih``, ``bias_hh``), so an optimizer updates all
    parameters in one vectorised step.

    Parameters
    ----------
    cell : {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before"}
        The cell every layer runs (:class:`RNN`, :class:`LSTM` and
        :class:`GRU` set it from their own arguments).
    input_size : int
        Features per time step of the input.
    hidden_size : int
        Units of the hidden state H of every layer.
    num_layers : int, default=1
        Stacked recurrent layers; each takes the previous one's output.
    bias : bool, default=True
        Use ``bias_ih`` and ``bias_hh``; without them the layer has no biases.
    batch_first : bool, default=True
        Input and output are ``[B, T, features]``; else ``[T, B, features]``.
        PyTorch's default is False; fastrnn's matches NumPy and scikit-learn.
    dropout : float, default=0.0
        Dropout, in [0, 1), on the outputs of every layer but the last, in
        training only.
    bidirectional : bool, default=False
        Add a layer running backwards in time (within each sequence's length).
    dtype : {"float32", "float64"}, default="float32"
        The dtype of the parameters, the computation and the outputs.
    backend : {"auto", "cython", "numba", "numpy"}, default="auto"
        Kernel backend; "auto" is the fastest installed one (the compiled
        Cython one, then Numba, then NumPy).
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the initial weights and the dropout masks.
    """

    def __init__(
        self,
        cell,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=True,
        dropout=0.0,
        bidirectional=False,
        dtype="float32",
        backend="auto",
        random_state=None,
    ):
        self._init_fields(cell, input_size, hidden_size, bias, dtype, backend)
        self.num_layers = val.check_positive_int(num_layers, "num_layers")
        self.batch_first = bool(batch_first)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self._rng = np.random.default_rng(random_state)

        self._shapes = self._parameter_shapes()
        total = sum(int(np.prod(s)) for s in self._shapes.values())
        self.flat_params = np.empty(total, dtype=self.dtype)
        self.flat_grad = np.zeros(total, dtype=self.dtype)
        self._make_views()
        self.reset_parameters()
        self.grad_hx = None

    # -- parameters -------------------------------------------------------

    @property
    def num_directions(self):
        """Directions per layer: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    def _parameter_shapes(self):
        """Torch names -> shapes, in the order of the flat buffer."""
        G, H = GATES[self.cell], self.hidden_size
        shapes = {}
        for layer in range(self.num_layers):
            d_in = self.input_size if layer == 0 else H * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                shapes[f"weight_ih_l{layer}{suffix}"] = (G * H, d_in)
                shapes[f"weight_hh_l{layer}{suffix}"] = (G * H, H)
                if self.bias:
                    shapes[f"bias_ih_l{layer}{suffix}"] = (G * H,)
                    shapes[f"bias_hh_l{layer}{suffix}"] = (G * H,)
        return shapes

    def bind_buffers(self, flat_params, flat_grad):
        """Move the parameters into slices of larger buffers owned by a network.

        The current values are copied into ``flat_params`` and the named views
        rebuilt on top of it, so a network of several parts keeps all its
        parameters in one contiguous buffer (which optimizers update in one step).

        Parameters
        ----------
        flat_params : ndarray
            The layer's new parameter buffer, of the shape and dtype of
            :attr:`flat_params` (a slice of the network's buffer); the current
            values are copied into it.
        flat_grad : ndarray
            The layer's new gradient buffer, of the same shape; the current
            gradients are copied into it.

        Raises
        ------
        ValueError
            If a buffer's shape differs from :attr:`flat_params`'.
        """
        if flat_params.shape != self.flat_params.shape or flat_grad.shape != self.flat_grad.shape:
            raise ValueError(f"buffers must have shape {self.flat_params.shape}")
        flat_params[...] = self.flat_params
        flat_grad[...] = self.flat_grad
        self.flat_params, self.flat_grad = flat_params, flat_grad
        self._make_views()

    def reset_parameters(self):
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        self.flat_params[:] = self._rng.uniform(-bound, bound, self.flat_params.size)

    _TRANSIENT = (*FlatParameters._TRANSIENT, "_cache", "_workspaces")

    def _reset_transient(self):
        super()._reset_transient()
        self._cache = None
        # Per layer direction, the training buffers the backend keeps between
        # steps (see the compiled backend's ``forward``): a step maps no new pages.
        self._workspaces = {}

    def __repr__(self):
        args = [str(self.input_size), str(self.hidden_size)]
        for name, default in (
            ("num_layers", 1),
            ("bias", True),
            ("batch_first", True),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("reset_after", True),
        ):
            if getattr(self, name, default) != default:
                args.append(f"{name}={getattr(self, name)}")
        return f"{type(self).__name__}({', '.join(args)})"

    # -- forward and backward ---------------------------------------------

    def _weight_groups(self, params):
        """``_weights`` of every layer and direction, in ``h_n``'s order, from ``params``."""
        nd = self.num_directions
        return [self._weights(k // nd, k % nd, params) for k in range(self.num_layers * nd)]

    def _weights(self, layer, direction, params=None):
        suffix = "_reverse" if direction else ""
        p = self.params if params is None else params
        b_ih = p[f"bias_ih_l{layer}{suffix}"] if self.bias else self._zero_bias
        b_hh = p[f"bias_hh_l{layer}{suffix}"] if self.bias else self._zero_bias
        return p[f"weight_ih_l{layer}{suffix}"], p[f"weight_hh_l{layer}{suffix}"], b_ih, b_hh

    @classmethod
    def from_torch(cls, module, dtype=None, backend="auto"):
        """Build a layer with the configuration and weights of a ``torch.nn`` layer.

        The sizes, ``bias``, ``batch_first``, ``num_layers``,
        ``bidirectional``, ``dropout``, the RNN's nonlinearity and the
        ``state_dict`` are copied, so ``forward`` gives the module's outputs.
        torch itself is not imported.

        Parameters
        ----------
        module : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
            The module to copy; it must be the counterpart of this class
            (``LSTM.from_torch`` takes a ``torch.nn.LSTM``; ``RNNBase.from_torch``
            takes any of the three).
        dtype : {"float32", "float64"}, optional
            The layer's dtype; by default the module's parameters' (float32
            unless the module was converted).
        backend : {"auto", "cython", "numba", "numpy"}, default="auto"
            The layer's kernel backend.

        Returns
        -------
        RNNBase
            An :class:`RNN`, :class:`LSTM` or :class:`GRU` holding the module's
            weights.

        Raises
        ------
        TypeError
            If ``module`` is not a layer this class computes.
        ValueError
            For an LSTM with ``proj_size`` (fastrnn has no projections).
        """
        from fastrnn.nn._torch import from_torch

        layer = from_torch(module, dtype=dtype, backend=backend)
        if not isinstance(layer, cls):
            raise TypeError(f"{cls.__name__}.from_torch got a torch.nn.{type(module).__name__}")
        return layer

    @classmethod
    def from_keras(cls, layers, dtype="float32", backend="auto", batch_first=True):
        """Build a layer with the weights of a Keras 3 SimpleRNN, LSTM or GRU layer or stack.

        Keras' kernels are transposed and their gate blocks reordered into
        PyTorch's layout; a GRU with ``reset_after=False`` becomes a
        ``GRU(reset_after=False)``. Keras itself is not imported: the layers'
        ``get_weights`` and ``get_config`` are read.

        Parameters
        ----------
        layers : keras.layers.SimpleRNN, LSTM or GRU, or a list of them
            Built layers (called on data once). A list is a stack, each layer
            reading the previous one's output: all of one kind and width, all
            with or all without biases, none with ``go_backwards``.
        dtype : {"float32", "float64"}, default="float32"
            The layer's dtype.
        backend : {"auto", "cython", "numba", "numpy"}, default="auto"
            The layer's kernel backend.
        batch_first : bool, default=True
            The layer's input and output layout (Keras' is batch first).

        Returns
        -------
        RNNBase
            An :class:`RNN`, :class:`LSTM` or :class:`GRU` whose
            ``forward(x)[0]`` is the stack's ``return_sequences=True`` output.

        Raises
        ------
        TypeError
            If the layers are not of this class's kind (``RNNBase.from_keras``
            takes any).
        ValueError
            For activations, ``go_backwards`` or mixed stacks fastrnn does not
            compute, or layers without weights.
        """
        from fastrnn.nn._keras import from_keras

        layer = from_keras(layers, dtype=dtype, backend=backend, batch_first=batch_first)
        if cls is not RNNBase and not isinstance(layer, cls):
            raise TypeError(f"{cls.__name__}.from_keras got Keras {type(layer).__name__} layers")
        return layer

    def to_torch(self):
        """Build the ``torch.nn`` module with this layer's configuration and weights.

        Returns
        -------
        torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
            A module of the same sizes, options and dtype holding copies of
            the weights (needs torch).

        Raises
        ------
        ValueError
            For a GRU with ``reset_after=False``, which ``torch.nn`` cannot
            express.
        """
        from fastrnn.nn._torch import to_torch

        return to_torch(self)

    def stream(self, batch_size=1):
        """Open a stream that steps this layer a few time steps at a time.

        Parameters
        ----------
        batch_size : int, default=1
            Independent sequences stepped together.

        Returns
        -------
        Stream
            It carries the state between calls and holds a copy of the
            weights.

        Raises
        ------
        ValueError
            For a bidirectional layer (its reverse direction needs the whole
            sequence first).
        """
        return Stream(self, batch_size)

    def _check_hx(self, hx, batch_size, name="hx", values=True):
        """Validate ``hx`` or a gradient shaped like it; return ``(h, c)`` (c None but for LSTM)."""
        shape = (self.num_layers * self.num_directions, batch_size, self.hidden_size)
        return self._check_state(hx, shape, name, values)

    def forward(self, x, hx=None, lengths=None, training=False, check_input=True):
        """Run the layer over a batch of sequences.

        Parameters
        ----------
        x : array-like of shape [B, T, input_size], or [T, B, input_size]
            The sequences: ``[B, T, input_size]`` when ``batch_first`` (the
            default), else time-major. Converted to the layer's dtype; NaN or
            infinity raise ``ValueError``.
        hx : ndarray or tuple of ndarray, optional
            The initial state, ``[num_layers * num_directions, B, H]``, or for
            LSTM a tuple ``(h0, c0)`` of two such arrays; None means zeros.
        lengths : array-like of int of shape [B], optional
            Valid steps of each sequence (1..T). Steps past a length leave the
            state unchanged and output zeros, as PyTorch's packed sequences.
        training : bool, default=False
            Keep what :meth:`backward` needs and apply dropout between layers.
            Without it the call writes nothing to the layer, so threads can
            share one layer for inference.
        check_input : bool, default=True
            False skips the pass that checks every value of ``x`` is finite
            (shapes are still checked): for a loop over minibatches of data
            checked once, as the estimators' training does. Don't use it
            unless you know the values are finite.

        Returns
        -------
        output : ndarray
            The top layer's output at every step, ``[B, T, num_directions * H]``
            (``[T, B, ...]`` when not ``batch_first``); zeros past a length.
        h_n : ndarray or tuple of ndarray
            The final state of every layer and direction,
            ``[num_layers * num_directions, B, H]`` (at each sequence's last
            valid step); for LSTM a tuple ``(h_n, c_n)``.
        """
        if not training and lengths is None and not self.bidirectional:
            result = self._infer(x, hx)
            if result is not None:
                return result
        x = val.check_sequences(
            x, self.input_size, self.dtype, self.batch_first, values=check_input
        )
        T, B, _ = x.shape
        lengths = val.check_lengths(lengths, B, T)
        return self._run([x] * self.num_directions, hx, lengths, training, projected=False)

    __call__ = forward

    def _infer(self, x, hx):
        """The lean path of :meth:`forward`: inference of full-length sequences in one
        compiled call (the backend's ``infer``), or None where it does not apply (another
        backend, an input that needs converting); the general path then checks everything."""
        if not self._kernels.INFERS_STACKS or type(x) is not np.ndarray or x.ndim != 3:
            return None
        h0 = c0 = None
        if hx is not None:
            h0, c0 = self._check_hx(hx, x.shape[0 if self.batch_first else 1])
        result = self._kernels.infer(self._prepared_weights(), x, h0, c0, self.batch_first)
        if result is None:
            return None
        out, h_n, c_n = result
        return out, ((h_n, c_n) if self.cell == "lstm" else h_n)

    @property
    def takes_projected_input(self):
        """Whether the backend can start from the first layer's input products.

        True for the compiled backend, which :meth:`forward_projected` needs.
        """
        return self._kernels.TAKES_PROJECTED_INPUT

    def forward_projected(self, xw, hx=None, lengths=None):
        """Inference from the first layer's input products, ``x_t W_ih^T`` per direction.

        For an embedding in front, the products of every vocabulary row can
        be computed once (``E @ W_ih^T``) and gathered per token, instead of
        one product per token and step. Only the compiled backend takes them
        (:attr:`takes_projected_input`).

        Parameters
        ----------
        xw : list of ndarray of shape [T, B, G*H]
            One per direction, ``x_t W_ih^T`` of that direction's first layer
            (G gate blocks of H units), without the biases; time-major, in
            forward time order for both directions.
        hx : ndarray or tuple of ndarray, optional
            The initial state, as for :meth:`forward`; None means zeros.
        lengths : array-like of int of shape [B], optional
            Valid steps of each sequence, as for :meth:`forward`.

        Returns
        -------
        output : ndarray
            As :meth:`forward`'s: ``[B, T, num_directions * H]`` when
            ``batch_first``, else ``[T, B, ...]``.
        h_n : ndarray or tuple of ndarray
            The final states, as :meth:`forward`'s.

        Raises
        ------
        NotImplementedError
            For a backend that takes no projected input.
        """
        if not self.takes_projected_input:
            raise NotImplementedError(f"the {self.backend!r} backend takes no projected input")
        width = GATES[self.cell] * self.hidden_size
        xw = val.check_projected(xw, self.num_directions, width, self.dtype)
        T, B, _ = xw[0].shape
        lengths = val.check_lengths(lengths, B, T)
        return self._run(xw, hx, lengths, training=False, projected=True)

    def _run(self, first, hx, lengths, training, projected):
        """The layers over time-major input; ``first[d]`` is what direction d of layer 0 reads."""
        T, B, _ = first[0].shape
        h0, c0 = self._check_hx(hx, B)
        if training:
            # Training buffers are reused per layer direction: once this call
            # starts writing them, the previous forward's cache is gone, even
            # if this call fails (backward then asks for a new forward).
            self._cache = None
        h_n = np.empty_like(h0)
        c_n = np.empty_like(c0) if c0 is not None else None
        caches, masks = [], []
        inp = None
        prepared = self._prepared_weights()
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                src = first[d] if layer == 0 else inp
                xd = reverse_within_lengths(src, lengths) if d else src
                c0k = c0[k] if c0 is not None else None
                extra = {"projected": True} if projected and layer == 0 else {}
                if prepared is not None:
                    extra["prepared"] = prepared[k]
                    if training:
                        extra["workspace"] = self._workspaces.setdefault(k, {})
                out, h, c, cache = self._kernels.forward(
                    self.cell,
                    xd,
                    h0[k],
                    c0k,
                    *self._weights(layer, d),
                    lengths=lengths,
                    training=training,
                    **extra,
                )
                outs.append(reverse_within_lengths(out, lengths) if d else out)
                h_n[k] = h
                if c_n is not None:
                    c_n[k] = c
                caches.append(cache)
            inp = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
            if training and self.dropout and layer < self.num_layers - 1:
                keep = 1.0 - self.dropout
                mask = (self._rng.random(inp.shape) < keep).astype(self.dtype) / keep
                inp = inp * mask
                masks.append(mask)
        if training:  # inference writes nothing to the layer: threads may share it
            self._cache = (caches, masks, lengths, (T, B))
        output = inp.transpose(1, 0, 2) if self.batch_first else inp
        return output, ((h_n, c_n) if self.cell == "lstm" else h_n)

    def backward(self, grad_output, grad_hx=None, check_input=True):
        """Backpropagate through the last ``forward(training=True)``.

        Parameter gradients are *added* to :attr:`grad` (call
        :meth:`zero_grad` between steps); the gradient of the initial state is
        stored in :attr:`grad_hx` (a tuple ``(dh0, dc0)`` for LSTM).

        Parameters
        ----------
        grad_output : array-like
            Gradient of the loss with respect to ``output``, of its shape.
        grad_hx : ndarray or tuple of ndarray, optional
            Gradient of the loss with respect to ``h_n`` (and ``c_n``), shaped
            like ``hx``; None means zeros.
        check_input : bool, default=True
            False skips the pass that checks every gradient value is finite
            (:class:`SequenceNetwork` checks its own, smaller, gradient once).

        Returns
        -------
        ndarray
            Gradient of the loss with respect to ``x``, of its shape.

        Raises
        ------
        RuntimeError
            Without a preceding ``forward(..., training=True)`` (each forward
            is backpropagated once).
        """
        if self._cache is None:
            raise RuntimeError("backward() needs a preceding forward(..., training=True)")
        caches, masks, lengths, (T, B) = self._cache
        H, nd = self.hidden_size, self.num_directions
        dout = val.check_sequences(
            grad_output, nd * H, self.dtype, self.batch_first, "grad_output", check_input
        )
        if dout.shape[:2] != (T, B):
            raise ValueError(
                f"grad_output covers {dout.shape[:2]} (steps, batch), forward had {(T, B)}"
            )
        dh_n, dc_n = (
            (None, None) if grad_hx is None else self._check_hx(grad_hx, B, "grad_hx", check_input)
        )
        self._cache = None  # one backward per forward, as in PyTorch
        dh0 = np.empty((self.num_layers * nd, B, H), self.dtype)
        dc0 = np.empty_like(dh0) if self.cell == "lstm" else None
        for layer in reversed(range(self.num_layers)):
            dinp = None
            for d in range(nd):
                k = layer * nd + d
                dout_d = dout[:, :, d * H : (d + 1) * H]
                dout_d = (
                    reverse_within_lengths(dout_d, lengths) if d else np.ascontiguousarray(dout_d)
                )
                dx, dh, dc, *_ = self._kernels.backward(
                    caches[k],
                    dout_d,
                    None if dh_n is None else dh_n[k],
                    None if dc_n is None else dc_n[k],
                    grads=self._grads_of(self._weights(layer, d, self.grad)),
                )
                if d:
                    dx = reverse_within_lengths(dx, lengths)
                dinp = dx if dinp is None else dinp + dx
                dh0[k] = dh
                if dc0 is not None:
                    dc0[k] = dc
            if layer > 0 and masks:
                dinp = dinp * masks[layer - 1]
            dout = dinp
        self.grad_hx = (dh0, dc0) if self.cell == "lstm" else dh0
        return dout.transpose(1, 0, 2) if self.batch_first else dout


# The layers' docstrings share their sizes and the keyword arguments they pass
# on to RNNBase; each adds its own cell's argument between the two.
_SIZES = """
    Parameters
    ----------
    input_size : int
        Features per time step.
    hidden_size : int
        Units of the hidden state H.
    num_layers : int, default=1
        Stacked recurrent layers; each takes the previous one's output."""

_KEYWORDS = """
    **kwargs
        The other arguments of :class:`RNNBase`, by keyword:

        - ``bias`` (bool, default True): use ``bias_ih`` and ``bias_hh``.
        - ``batch_first`` (bool, default True): input and output are
          ``[B, T, features]``, else ``[T, B, features]`` (PyTorch's default
          is False; fastrnn's matches NumPy and scikit-learn).
        - ``dropout`` (float, default 0.0): dropout on the outputs of every
          layer but the last, in training only.
        - ``bidirectional`` (bool, default False): add a layer running
          backwards in time (within each sequence's length).
        - ``dtype`` ({"float32", "float64"}, default "float32"): the dtype of
          the parameters and the computation.
        - ``backend`` ({"auto", "cython", "numba", "numpy"}, default "auto"):
          the kernel backend; "auto" is the fastest installed one.
        - ``random_state`` (int, numpy.random.Generator or None): seeds the
          initial weights and the dropout masks.
"""


class RNN(RNNBase):
    __doc__ = (
        """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Same parameters as ``torch.nn.RNN``, and the same weights.
"""
        + _SIZES
        + """
    nonlinearity : {"tanh", "relu"}, default="tanh"
        The activation ``act``."""
        + _KEYWORDS
    )

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", **kwargs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, **kwargs)


class LSTM(RNNBase):
    __doc__ = (
        """Long short-term memory layer, gates ``i, f, g, o`` as ``torch.nn.LSTM``.

    Same parameters as ``torch.nn.LSTM`` (without ``proj_size``), and the
    same weights; ``forward`` takes and returns the state as a tuple
    ``(h, c)``.
"""
        + _SIZES
        + """
    forget_bias : float, optional
        Start every forget gate's bias at this value (``bias_ih``'s f block;
        ``bias_hh``'s at 0), as Keras' ``unit_forget_bias=True`` does with
        1.0; None keeps PyTorch's initialisation. Ignored without ``bias``."""
        + _KEYWORDS
    )

    def __init__(self, input_size, hidden_size, num_layers=1, forget_bias=None, **kwargs):
        self.forget_bias = forget_bias
        super().__init__("lstm", input_size, hidden_size, num_layers, **kwargs)

    def reset_parameters(self):
        """Draw every parameter as PyTorch does, then set the forget gates' biases.

        Every parameter is drawn from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size));
        with ``forget_bias`` (and biases), the forget block of ``bias_ih`` is
        then set to it and that of ``bias_hh`` to 0.
        """
        super().reset_parameters()
        if self.forget_bias is not None and self.bias:
            H = self.hidden_size
            for name, p in self.params.items():
                if name.startswith("bias_"):
                    p[H : 2 * H] = self.forget_bias if name.startswith("bias_ih") else 0.0


class GRU(RNNBase):
    __doc__ = (
        """Gated recurrent unit, gates ``r, z, n`` as ``torch.nn.GRU``.

    ``h' = (1 - z) * n + z * h`` with, by default (``reset_after=True``,
    PyTorch's and cuDNN's form, Keras' default), the reset gate applied after
    the recurrent matmul: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.
    ``reset_after=False`` applies it before:
    ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)`` (Keras
    ``reset_after=False``, ONNX ``linear_before_reset=0``, the GRU of Cho et
    al. 2014). That form has no ``torch.nn`` counterpart, so ``to_torch``
    refuses it; it exports to ONNX and streams like the other.
"""
        + _SIZES
        + """
    reset_after : bool, default=True
        Apply the reset gate after the recurrent matmul (PyTorch's form) or,
        with False, before it."""
        + _KEYWORDS
    )

    def __init__(self, input_size, hidden_size, num_layers=1, reset_after=True, **kwargs):
        self.reset_after = val.check_bool(reset_after, "reset_after")
        cell = "gru" if self.reset_after else "gru_reset_before"
        super().__init__(cell, input_size, hidden_size, num_layers, **kwargs)
