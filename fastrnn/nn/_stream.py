"""Streaming inference: a layer stepped through a sequence, state carried between calls."""

import copy

import numpy as np

from fastrnn import _validation as val
from fastrnn._kernels import matmul


class Stream:
    """A recurrent layer run a few time steps at a time, keeping its state.

    Made by :meth:`RNNBase.stream`. Feeding a sequence in pieces gives the
    same outputs as running it whole (bitwise, in float32 on the compiled
    backend); the state can be read and set, so a session can be parked and
    resumed later.

    The weights are copied when the stream is made: training the layer
    afterwards does not change a stream already open. A stream holds its own
    state and scratch buffers, so separate streams may step in separate
    threads at once (the compiled step releases the GIL); one stream is for
    one thread at a time.

    Parameters
    ----------
    layer : RNN, LSTM or GRU
        A unidirectional layer; its weights are read, never written.
    batch_size : int, default=1
        Number of independent sequences stepped together.
    head : tuple of ndarray, optional
        ``(weight [n_out, H], bias [n_out])``: a linear map applied to the top
        layer's output at every step.
    affine : tuple of ndarray, optional
        ``(scale [n_out], shift [n_out])``: then ``float64(output) * scale +
        shift``.
    """

    def __init__(self, layer, batch_size=1, head=None, affine=None):
        if layer.bidirectional:
            raise ValueError(
                "a bidirectional layer cannot stream: its reverse direction needs the "
                "whole sequence before the first output"
            )
        self.layer = layer
        self.batch_size = val.check_positive_int(batch_size, "batch_size")
        self._dtype = layer.dtype
        kernels = layer._kernels
        if kernels.HAS_STEPPER:
            weights = [layer._weights(i, 0) for i in range(layer.num_layers)]
            self._stepper = kernels.Stepper(layer.cell, weights, self.batch_size, head, affine)
        else:
            self._stepper = _LayerStepper(layer, self.batch_size, head, affine)

    def fork(self):
        """Open a new stream of the same model and batch size, from zero states.

        It shares this one's weights instead of copying them (their prepared
        form is never changed, so streams in different threads may share it):
        a server's sessions then cost their state each, not a model each.

        Returns
        -------
        Stream
            A stream of the same type, with its own state and scratch buffers.
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._stepper = self._stepper.fork()
        return new

    def reset(self):
        """Start new sequences: the state goes back to zeros."""
        self._stepper.h[...] = 0
        self._stepper.c[...] = 0

    @property
    def state(self):
        """A copy of the state: ``h`` [num_layers, B, H], for LSTM ``(h, c)``."""
        if self.layer.cell != "lstm":
            return self._stepper.h.copy()
        return self._stepper.h.copy(), self._stepper.c.copy()

    @state.setter
    def state(self, value):
        # Validated (shape, dtype, finite) before anything is replaced.
        h, c = self.layer._check_hx(value, self.batch_size, name="state")
        self._stepper.h[...] = h
        if c is not None:
            self._stepper.c[...] = c

    def step(self, x):
        """Advance every sequence by the steps in ``x``; return their outputs.

        Parameters
        ----------
        x : array-like of shape [B, input_size], or [B, k, input_size]
            One step, or ``k`` steps (``[k, B, input_size]`` when the layer
            is not ``batch_first``).

        Returns
        -------
        ndarray
            The top layer's output, ``[B, H]`` for one step, else ``[B, k, H]``
            (or ``[k, B, H]``); with a head, its ``n_out`` outputs in place of
            ``H``.

        Raises
        ------
        ValueError
            For a wrong shape, NaN or infinity; the state is then left as it
            was.
        """
        return self._advance(x)

    def _advance(self, x):
        """Check ``x``, step, and return the outputs in the caller's layout."""
        return self._to_caller(self._stepper.step(self._check_step(x)))

    def _to_caller(self, out):
        """A stepper's ``[B, H]`` or time-major ``[k, B, H]`` in the layer's layout."""
        if out.ndim == 3 and self.layer.batch_first:
            return out.transpose(1, 0, 2)
        return out

    def _check_step(self, x):
        """``x`` as a C-contiguous ``[B, D]`` or time-major ``[k, B, D]`` array."""
        # The common case (a contiguous array of the right dtype) is not copied.
        if not (type(x) is np.ndarray and x.dtype == self._dtype and x.flags.c_contiguous):
            x = val.as_float_array(x, self._dtype, "x")
        if x.ndim == 3 and self.layer.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        elif x.ndim != 2 and x.ndim != 3:
            raise ValueError(f"x must have 2 dimensions (one step) or 3, got shape {x.shape}")
        if x.shape[-2] != self.batch_size:
            raise ValueError(
                f"x holds {x.shape[-2]} sequences; this stream steps {self.batch_size}"
            )
        if x.shape[-1] != self.layer.input_size:
            raise ValueError(
                f"x has {x.shape[-1]} features per step, but the layer expects "
                f"{self.layer.input_size}"
            )
        return x


class StackStream:
    """A :class:`~fastrnn.nn.LayerStack` run a few steps at a time.

    A :class:`Stream` per layer, each step passed up through them in turn.

    Made by :meth:`LayerStack.stream`; as :class:`Stream` (pieces give the
    whole sequence's outputs, weights copied, one thread at a time), but
    ``state`` is a list with each layer's state, bottom first, since the
    layers' widths differ.

    Parameters
    ----------
    stack : LayerStack
        A unidirectional stack; its weights are copied.
    batch_size : int, default=1
        Number of independent sequences stepped together.
    """

    def __init__(self, stack, batch_size=1):
        self.layer = stack
        self._streams = [Stream(layer, batch_size) for layer in stack.layers]
        self.batch_size = self._streams[0].batch_size

    def fork(self):
        """Open a new stream from zero states, sharing this one's weights.

        As :meth:`Stream.fork`.

        Returns
        -------
        StackStream
            A stream with its own states and scratch buffers.
        """
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._streams = [s.fork() for s in self._streams]
        return new

    def reset(self):
        """Start new sequences: every layer's state goes back to zeros."""
        for s in self._streams:
            s.reset()

    @property
    def state(self):
        """A copy of each layer's state, bottom first (as :attr:`Stream.state`)."""
        return [s.state for s in self._streams]

    @state.setter
    def state(self, value):
        if not isinstance(value, (list, tuple)) or len(value) != len(self._streams):
            raise ValueError(
                f"state must be a list of {len(self._streams)} layers' states, bottom first"
            )
        old = self.state
        try:
            for s, v in zip(self._streams, value):
                s.state = v
        except Exception:  # a bad layer's state leaves every layer as it was
            for s, v in zip(self._streams, old):
                s.state = v
            raise

    def step(self, x):
        """Advance every sequence by the steps in ``x``; return the top layer's outputs.

        Parameters
        ----------
        x : array-like of shape [B, input_size], or [B, k, input_size]
            One step, or ``k`` steps, as for :meth:`Stream.step`.

        Returns
        -------
        ndarray
            The top layer's output, ``[B, H]`` for one step, else ``[B, k, H]``.

        Raises
        ------
        ValueError
            For a wrong shape, NaN or infinity, leaving the state as it was.
        """
        return self._streams[0]._to_caller(self._advance_time_major(x))

    def _advance_time_major(self, x):
        """``x`` checked, then up through the layers; ``[B, H]`` or ``[k, B, H]``."""
        out = self._streams[0]._check_step(x)
        for s in self._streams:
            out = s._stepper.step(out)
        return out


class _LayerStepper:
    """The stepper of a backend without a compiled one: its ``forward`` per call.

    Same interface as the compiled ``Stepper`` (``h``, ``c``, ``step``).
    """

    def __init__(self, layer, batch_size, head, affine):
        # The compiled Stepper's checks, for the same contract.
        H = layer.hidden_size
        n_out = np.shape(head[0])[0] if head is not None else H
        if head is not None and (np.shape(head[0]) != (n_out, H) or np.shape(head[1]) != (n_out,)):
            raise ValueError(
                f"the head must be weight [n_out, {H}] and bias [n_out], got "
                f"{np.shape(head[0])} and {np.shape(head[1])}"
            )
        if affine is not None and (
            np.shape(affine[0]) != (n_out,) or np.shape(affine[1]) != (n_out,)
        ):
            raise ValueError(f"affine must be two arrays of {n_out} values")
        self._layer = copy.deepcopy(layer)  # the weights as they are now
        self._layer.batch_first = False
        self._head = None if head is None else tuple(np.array(a) for a in head)
        self._affine = None if affine is None else tuple(np.array(a) for a in affine)
        shape = (layer.num_layers, batch_size, layer.hidden_size)
        self.h, self.c = np.zeros(shape, layer.dtype), np.zeros(shape, layer.dtype)

    def fork(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)  # the same (copied) layer, head and affine
        new.h, new.c = np.zeros_like(self.h), np.zeros_like(self.c)
        return new

    def step(self, x):
        one = x.ndim == 2
        x3 = x[None] if one else x
        lstm = self._layer.cell == "lstm"
        if x3.shape[0] == 0:
            out = np.empty(x3.shape[:2] + (self.h.shape[2],), self.h.dtype)
        else:
            out, state = self._layer.forward(x3, hx=(self.h, self.c) if lstm else self.h)
            self.h[...] = state[0] if lstm else state
            if lstm:
                self.c[...] = state[1]
        if self._head is not None:
            weight, bias = self._head
            out = (matmul(out.reshape(-1, out.shape[2]), weight.T) + bias).reshape(
                out.shape[:2] + (len(bias),)
            )
        if self._affine is not None:
            out = out.astype(np.float64) * self._affine[0] + self._affine[1]
        return out[0] if one else out
