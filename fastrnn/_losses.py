"""Losses: the value and its gradient with respect to the head's output.

Each function takes predictions ``p [N, K]``, targets and per-row weights
``w [N]`` (None means equal weights) and returns ``(loss, dp)``, the weighted
mean loss and its gradient, so that the training loop never branches on the
loss.
"""

import numpy as np

from fastrnn._kernels import softmax_cross_entropy


def _normalised(w, n, dtype):
    w = np.ones(n, dtype) if w is None else np.asarray(w, dtype)
    return w / w.sum()


def squared_error(p, y, w=None):
    """Half the mean squared error, as scikit-learn's MLP: ``0.5 * mean((p - y)^2)``."""
    w = _normalised(w, len(p), p.dtype)[:, None] / p.shape[1]
    diff = p - y
    return 0.5 * float(np.sum(w * diff * diff)), w * diff


def huber(p, y, w=None, delta=1.0):
    """Huber loss: quadratic within ``delta`` of the target, linear beyond it."""
    w = _normalised(w, len(p), p.dtype)[:, None] / p.shape[1]
    diff = p - y
    small = np.abs(diff) <= delta
    value = np.where(small, 0.5 * diff * diff, delta * (np.abs(diff) - 0.5 * delta))
    return float(np.sum(w * value)), w * np.where(small, diff, delta * np.sign(diff))


def log_softmax(z):
    """Row-wise log of the softmax, stable for large logits."""
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(z, y, w=None):
    """Softmax cross-entropy of logits ``z [N, C]`` against class indices ``y [N]``."""
    return softmax_cross_entropy(z, y, _normalised(w, len(z), z.dtype))


LOSSES = {"squared_error": squared_error, "huber": huber, "cross_entropy": cross_entropy}
