"""Streaming inference: a layer stepped through a sequence, state carried between calls."""

import numpy as np

from fastrnn import _validation as val


class Stream:
    """A recurrent layer run a few time steps at a time, keeping its state.

    Made by :meth:`RNNBase.stream`. Feeding a sequence in pieces gives the
    same outputs as running it whole; the state can be read and set, so a
    session can be parked and resumed later.

    Parameters
    ----------
    layer : RNN, LSTM or GRU
        A unidirectional layer; its weights are read, never written.
    batch_size : int, default=1
        Number of independent sequences stepped together.
    """

    def __init__(self, layer, batch_size=1):
        if layer.bidirectional:
            raise ValueError(
                "a bidirectional layer cannot stream: its reverse direction needs the "
                "whole sequence before the first output"
            )
        self.layer = layer
        self.batch_size = val.check_positive_int(batch_size, "batch_size")
        self.reset()

    def reset(self):
        """Start new sequences: the state goes back to zeros."""
        self._h, self._c = self.layer._check_hx(None, self.batch_size)

    @property
    def state(self):
        """A copy of the state: ``h`` [num_layers, B, H], for LSTM ``(h, c)``."""
        if self._c is None:
            return self._h.copy()
        return self._h.copy(), self._c.copy()

    @state.setter
    def state(self, value):
        # Validated (shape, dtype, finite) before anything is replaced.
        h, c = self.layer._check_hx(value, self.batch_size, name="state")
        self._h = np.array(h, copy=True)
        self._c = None if c is None else np.array(c, copy=True)

    def step(self, x):
        """Advance every sequence by the steps in ``x``; return their outputs.

        Parameters
        ----------
        x : array-like [B, input_size] for one step, or several steps as
            [B, k, input_size] (``[k, B, input_size]`` when the layer is not
            ``batch_first``).

        Returns
        -------
        output : ndarray [B, H] for one step, else [B, k, H] (or [k, B, H]).
        """
        x = np.asarray(x)
        one = x.ndim == 2
        if one:
            x = x[:, None, :] if self.layer.batch_first else x[None]
        if x.ndim != 3:
            raise ValueError(f"x must have 2 dimensions (one step) or 3, got shape {x.shape}")
        batch = x.shape[0 if self.layer.batch_first else 1]
        if batch != self.batch_size:
            raise ValueError(f"x holds {batch} sequences; this stream steps {self.batch_size}")
        hx = self._h if self._c is None else (self._h, self._c)
        out, state = self.layer.forward(x, hx=hx)
        # Only a successful step replaces the state.
        self._h, self._c = (state, None) if self._c is None else state
        if one:
            return out[:, 0] if self.layer.batch_first else out[0]
        return out
