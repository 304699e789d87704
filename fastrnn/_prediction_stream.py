"""A fitted estimator's predictions, one time step at a time."""

import numpy as np
from scipy.special import softmax

from fastrnn.nn._stream import Stream


class PredictionStream(Stream):
    """Step a fitted estimator through sequences; predict after every step.

    Made by ``RNNRegressor.stream`` / ``RNNClassifier.stream``. After the
    steps so far, ``step`` returns what ``predict`` returns for those
    sequences: with ``output="last"`` the prediction for the sequence ending
    at that step, with ``output="sequence"`` that step's prediction. State,
    ``reset`` and threads are as for :class:`fastrnn.nn.Stream`; the model's
    weights are copied when the stream is made.

    Parameters
    ----------
    estimator : fitted RNNRegressor or RNNClassifier
        Unidirectional.
    batch_size : int, default=1
    """

    def __init__(self, estimator, batch_size=1):
        net = estimator.network_
        self._classes = getattr(estimator, "classes_", None)
        if getattr(estimator, "loss", None) in ("quantile", "gaussian"):
            raise ValueError(f"a model with loss={estimator.loss!r} cannot be streamed")
        if net.hidden_layers:
            raise ValueError("a model with head_hidden_sizes cannot be streamed yet")
        if getattr(net.rnn, "layers", None) is not None:
            raise ValueError("a model with layers of different widths cannot be streamed yet")
        if self._classes is None:  # regressor: targets mapped back in float64
            affine = (estimator._y_scale, estimator._y_mean)
            self._squeeze = estimator._one_target()
        else:
            affine, self._squeeze = None, False
        # The network's layers are batch_first: steps come as X does, [B, k, F].
        super().__init__(net.rnn, batch_size, head=(net.weight, net.bias), affine=affine)

    def step(self, x):
        """Advance by the steps in ``x`` and predict.

        Parameters
        ----------
        x : array-like [B, n_features] for one step or [B, k, n_features]

        Returns
        -------
        y : ndarray [B] (or [B, n_outputs]) for one step, [B, k] (or
            [B, k, n_outputs]) for several; a classifier's labels.
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
