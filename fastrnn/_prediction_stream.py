"""A fitted estimator's predictions, one time step at a time."""

import numpy as np
from scipy.special import softmax

from fastrnn.nn._network import dense_head
from fastrnn.nn._stream import Stream


class PredictionStream:
    """Step a fitted estimator through sequences; predict after every step.

    Made by ``RNNRegressor.stream`` / ``RNNClassifier.stream``. After the
    steps so far, ``step`` returns what ``predict`` returns for those
    sequences: with ``output="last"`` the prediction for the sequence ending
    at that step, with ``output="sequence"`` that step's prediction. State,
    ``reset``, ``fork`` and threads are as for :class:`fastrnn.nn.Stream`
    (for layers of different widths, :class:`fastrnn.nn.StackStream`: the
    state is a list, a layer each); the model's weights are copied when the
    stream is made.

    Parameters
    ----------
    estimator : fitted RNNRegressor or RNNClassifier
        Unidirectional.
    batch_size : int, default=1
    """

    def __init__(self, estimator, batch_size=1):
        net = estimator.network_
        self._classes = getattr(estimator, "classes_", None)
        # Several steps come as X does: [B, k, F], or [B, F, k] for channels-first data.
        self._channels_first = getattr(estimator, "data_format", None) == "channels_first"
        if getattr(estimator, "loss", None) in ("quantile", "gaussian"):
            raise ValueError(f"a model with loss={estimator.loss!r} cannot be streamed")
        if self._classes is None:  # regressor: targets mapped back in float64
            affine = (estimator._y_scale, estimator._y_mean)
            self._squeeze = estimator._one_target()
        else:
            affine, self._squeeze = None, False
        if net.hidden_layers or hasattr(net.rnn, "layers"):
            # The recurrent part streamed alone, the dense head after it here.
            self._body = net.rnn.stream(batch_size)
            head = [(np.array(w), np.array(b)) for w, b in net.hidden_layers]
            self._head = (head, net.head_activation, np.array(net.weight), np.array(net.bias))
            self._affine = None if affine is None else tuple(np.array(a) for a in affine)
        else:  # one stepper runs the layers, the head and the target mapping
            self._body = Stream(net.rnn, batch_size, head=(net.weight, net.bias), affine=affine)
            self._head = None

    @property
    def batch_size(self):
        return self._body.batch_size

    @property
    def state(self):
        """A copy of the recurrent state (see the class docstring)."""
        return self._body.state

    @state.setter
    def state(self, value):
        self._body.state = value

    def reset(self):
        """Start new sequences: the state goes back to zeros."""
        self._body.reset()

    def fork(self):
        """A new stream of the same model from zeros, sharing this one's weights."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._body = self._body.fork()
        return new

    def step(self, x):
        """Advance by the steps in ``x`` and predict.

        Parameters
        ----------
        x : array-like [B, n_features] for one step or [B, k, n_features]
            ([B, n_features, k] for a model with ``data_format="channels_first"``)

        Returns
        -------
        y : ndarray [B] (or [B, n_outputs]) for one step, [B, k] (or
            [B, k, n_outputs]) for several; a classifier's labels.

        Raises ValueError for a wrong shape, NaN or infinity; the state is
        then left as it was.
        """
        out = self._advance(x)
        if self._classes is not None:
            return self._classes[out.argmax(axis=-1)]
        return out[..., 0] if self._squeeze else out

    def step_proba(self, x):
        """Advance by the steps in ``x``; return class probabilities (classifiers).

        Returns
        -------
        proba : ndarray [B, n_classes] for one step, [B, k, n_classes] for several.
        """
        if self._classes is None:
            raise AttributeError("step_proba is for classifiers; a regressor's stream has step")
        return softmax(self._advance(x).astype(np.float64), axis=-1)

    def _advance(self, x):
        if self._channels_first and np.ndim(x) == 3:
            x = np.swapaxes(x, 1, 2)
        out = self._body.step(x)
        if self._head is None:
            return out
        _, out = dense_head(out, *self._head)  # as SequenceNetwork.forward computes it
        if self._affine is not None:
            out = out.astype(np.float64) * self._affine[0] + self._affine[1]
        return out
