"""Recurrent layers of different widths, one after another.

PyTorch's ``nn.LSTM(num_layers=2)`` stacks layers of one width; Keras users
stack ``LSTM(64, return_sequences=True)`` then ``LSTM(32)``. A
:class:`LayerStack` is that: one-layer :class:`~fastrnn.nn.LSTM` (``RNN``,
``GRU``) objects run in turn, with dropout between them in training, over
one flat parameter buffer, presenting what :class:`SequenceNetwork` asks of
its recurrent part. It starts from zero states and returns the top layer's
final state.
"""

import re

import numpy as np

from fastrnn.nn._params import PicklesFlatBuffers
from fastrnn.nn._stream import StackStream


class LayerStack(PicklesFlatBuffers):
    """Layers ``layers`` (each one layer deep) in turn, ``dropout`` between them.

    Parameters
    ----------
    layers : list of RNNBase
        One-layer layers of one cell, direction count and dtype; each one's
        input the previous one's output.
    dropout : float
        Dropout between layers, in training only.
    random_state : numpy.random.Generator
        The dropout masks' source.
    """

    state_layers = 1  # the final state returned: the top layer's
    batch_first = True
    takes_projected_input = False  # (an embedding is not fused into a stack)

    def __init__(self, layers, dropout, random_state):
        first = layers[0]
        for a, b in zip(layers, layers[1:]):
            if b.input_size != a.hidden_size * a.num_directions or b.cell != a.cell:
                raise ValueError("each layer of a stack reads the one before it")
        self.layers = list(layers)
        self.dropout = float(dropout)
        self._rng = random_state
        self.cell, self.dtype, self.input_size = first.cell, first.dtype, first.input_size
        self.bidirectional, self.backend = first.bidirectional, first.backend
        self.reset_after = getattr(first, "reset_after", True)
        size = sum(layer.flat_params.size for layer in self.layers)
        self.flat_params = np.empty(size, self.dtype)
        self.flat_grad = np.zeros(size, self.dtype)
        self._bind()

    _TRANSIENT = ("params", "grad")

    @property
    def hidden_size(self):
        """The top layer's width (what the network's head reads)."""
        return self.layers[-1].hidden_size

    @property
    def hidden_sizes(self):
        """Each layer's width, bottom first."""
        return tuple(layer.hidden_size for layer in self.layers)

    @property
    def num_layers(self):
        """The number of layers."""
        return len(self.layers)

    @property
    def num_directions(self):
        """Directions per layer: 2 when bidirectional, else 1."""
        return self.layers[0].num_directions

    @property
    def _kernels(self):
        return self.layers[0]._kernels

    def stream(self, batch_size=1):
        """Open a stream that steps these layers a few time steps at a time.

        Parameters
        ----------
        batch_size : int, default=1
            Independent sequences stepped together.

        Returns
        -------
        StackStream
            It carries each layer's state between calls and holds a copy of
            the weights.

        Raises
        ------
        ValueError
            For bidirectional layers.
        """
        return StackStream(self, batch_size)

    def bind_buffers(self, flat_params, flat_grad):
        """Move the parameters into slices of a network's buffers (values copied).

        Parameters
        ----------
        flat_params : ndarray
            The stack's new parameter buffer, of the shape of
            :attr:`flat_params`; each layer's parameters become a slice of it.
        flat_grad : ndarray
            The stack's new gradient buffer, of the same shape.
        """
        flat_params[...] = self.flat_params
        flat_grad[...] = self.flat_grad
        self.flat_params, self.flat_grad = flat_params, flat_grad
        self._bind()

    def _bind(self):
        """Each layer's buffers as slices of the stack's; names as PyTorch's, layer k's ``_lk``."""
        at, self.params, self.grad = 0, {}, {}
        for k, layer in enumerate(self.layers):
            end = at + layer.flat_params.size
            layer.bind_buffers(self.flat_params[at:end], self.flat_grad[at:end])
            for name in layer.params:
                renamed = re.sub(r"_l0(?=_|$)", f"_l{k}", name)
                self.params[renamed], self.grad[renamed] = layer.params[name], layer.grad[name]
            at = end

    def _rebuild(self):
        self._bind()

    def forward(self, x, hx=None, lengths=None, training=False, check_input=True):
        """Run the layers in turn over a batch of sequences.

        Parameters
        ----------
        x : array-like of shape [B, T, input_size]
            The sequences.
        hx : None
            A stack starts from zero states: anything but None raises
            ``ValueError``.
        lengths : array-like of int of shape [B], optional
            Valid steps of each sequence, as for :meth:`RNNBase.forward`.
        training : bool, default=False
            Keep what :meth:`backward` needs and apply dropout between layers.
        check_input : bool, default=True
            False skips the pass that checks every value of ``x`` is finite.

        Returns
        -------
        output : ndarray
            The top layer's output at every step, ``[B, T, num_directions * H]``.
        h_n : ndarray or tuple of ndarray
            The top layer's final state, as its :meth:`RNNBase.forward` gives it.
        """
        if hx is not None:
            raise ValueError("a stack of layers of different widths starts from zero states")
        out, masks, state = x, [], None
        for k, layer in enumerate(self.layers):
            out, state = layer.forward(
                out, lengths=lengths, training=training, check_input=check_input and k == 0
            )
            if training and self.dropout and k < len(self.layers) - 1:
                keep = 1.0 - self.dropout
                mask = (self._rng.random(out.shape) < keep).astype(out.dtype) / keep
                out = out * mask
                masks.append(mask)
        if training:
            self._masks = masks
        return out, state

    def backward(self, grad_output, grad_hx=None, check_input=True):
        """Backpropagate through the last training :meth:`forward`.

        Parameter gradients are added into :attr:`flat_grad`.

        Parameters
        ----------
        grad_output : array-like
            Gradient of the loss with respect to ``output``, of its shape.
        grad_hx : ndarray or tuple of ndarray, optional
            Gradient with respect to the top layer's final state; None means
            zeros.
        check_input : bool, default=True
            False skips the pass that checks every gradient value is finite.

        Returns
        -------
        ndarray
            Gradient of the loss with respect to ``x``, of its shape.
        """
        grad, masks = grad_output, getattr(self, "_masks", [])
        for k in range(len(self.layers) - 1, -1, -1):
            top = k == len(self.layers) - 1
            grad = self.layers[k].backward(
                grad, grad_hx if top else None, check_input=check_input and top
            )
            if k and masks:
                grad = grad * masks[k - 1]
        return grad
