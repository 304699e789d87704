"""Losses: the value and its gradient with respect to the head's output.

Each function takes predictions ``p [N, K]``, targets and per-row weights
``w [N]`` (None means equal weights) and returns ``(loss, dp)``, the weighted
mean loss and its gradient, so that the training loop never branches on the
loss.
"""

import numpy as np
from scipy.special import expit

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


def pinball(p, y, w=None, levels=(0.5,)):
    """Pinball (quantile) loss of predictions ``p [N, K]`` of the quantiles ``levels [K]``.

    Column ``j`` predicts the ``levels[j]`` quantile of ``y[:, j]``: an
    error below it costs ``levels[j]`` per unit, one above it
    ``1 - levels[j]``, so the minimiser is that quantile (neuralforecast's
    and GluonTS's multi-quantile loss).
    """
    w = _normalised(w, len(p), p.dtype)[:, None] / p.shape[1]
    q = np.asarray(levels, p.dtype)
    diff = y - p
    over = diff < 0  # predicted above the target
    value = np.where(over, (q - 1) * diff, q * diff)
    return float(np.sum(w * value)), w * np.where(over, 1 - q, -q)


# The smallest standard deviation a Gaussian head predicts (in standardised
# target units): keeps the loss finite on a target it fits exactly.
_MIN_STD = 1e-3


def gaussian_std(raw):
    """The standard deviation a Gaussian head's raw output means: softplus, floored."""
    return np.logaddexp(0.0, raw) + _MIN_STD


def gaussian_nll(p, y, w=None):
    """Gaussian negative log-likelihood of ``p = [mean | raw std] [N, 2k]`` for ``y [N, k]``.

    The standard deviation is :func:`gaussian_std` of the second half
    (softplus: DeepAR's); ``y`` may carry extra columns after its ``k``
    (they are ignored). The constant ``log(2 pi) / 2`` is left out.
    """
    k = p.shape[1] // 2
    w = _normalised(w, len(p), p.dtype)[:, None] / k
    mu, raw = p[:, :k], p[:, k:]
    sigma = gaussian_std(raw)
    z = (y[:, :k] - mu) / sigma
    value = 0.5 * z * z + np.log(sigma)
    d_mu = -z / sigma
    d_sigma = (1 - z * z) / sigma
    d_raw = d_sigma * expit(raw)  # softplus' derivative: the sigmoid
    return float(np.sum(w * value)), np.concatenate([w * d_mu, w * d_raw], axis=1)


def log_softmax(z):
    """Row-wise log of the softmax, stable for large logits."""
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def cross_entropy(z, y, w=None):
    """Softmax cross-entropy of logits ``z [N, C]`` against class indices ``y [N]``."""
    return softmax_cross_entropy(z, y, _normalised(w, len(z), z.dtype))


LOSSES = {
    "squared_error": squared_error,
    "huber": huber,
    "quantile": pinball,
    "gaussian": gaussian_nll,
    "cross_entropy": cross_entropy,
}
