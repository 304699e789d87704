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
        Of one cell, direction count and dtype; each one's input the
        previous one's output.
    dropout : float
        Between layers, in training only.
    random_state : numpy Generator
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
        return tuple(layer.hidden_size for layer in self.layers)

    @property
    def num_layers(self):
        return len(self.layers)

    @property
    def num_directions(self):
        return self.layers[0].num_directions

    @property
    def _kernels(self):
        return self.layers[0]._kernels

    def stream(self, batch_size=1):
        """A :class:`~fastrnn.nn.StackStream` stepping these layers, carrying their states.

        Raises ValueError for bidirectional layers.
        """
        return StackStream(self, batch_size)

    def bind_buffers(self, flat_params, flat_grad):
        """Move the parameters into slices of a network's buffers (values copied)."""
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
        """``(output of the top layer, its final state)`` for ``x [B, T, input_size]``."""
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
        """The gradient of ``x``; parameter gradients added into :attr:`flat_grad`.

        ``grad_hx``: of the top layer's final state.
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
