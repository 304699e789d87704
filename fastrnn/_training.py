"""The minibatch training loop over one flat parameter buffer.

:func:`train_epoch` is one pass over the data: per minibatch a forward pass,
the loss and its gradient, backpropagation, L2, global-norm clipping and one
optimizer step on the whole buffer. The data is an :class:`ArrayData` (arrays
in this process) or anything with its members: :mod:`fastrnn.dask`'s rows
spread over a cluster compute the same gradients where they live.
:class:`Monitor` decides, epoch by epoch, whether training improves, keeps
the best weights, adapts the learning rate and says when to stop — the
bookkeeping of scikit-learn's MLP.
"""

import numpy as np


def progress_bar(enabled, epochs, desc):
    """A tqdm bar over ``epochs`` (on stderr), or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc=desc, unit="epoch")


# Ragged data: batches are drawn from pools of this many batches' worth of
# samples sorted by length (a bucket iterator), so a batch's rows have similar
# lengths and its buffers little padding; pools and batch order stay random.
POOL_BATCHES = 50


def minibatches(n, batch_size, shuffle, rng, lengths=None):
    """Index arrays covering ``range(n)`` in batches of ``batch_size``.

    With ``lengths`` (ragged data), each batch's rows have similar lengths
    and come longest first (the order the kernels want).
    """
    order = rng.permutation(n) if shuffle else np.arange(n)
    if lengths is None:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    batches = []
    pool = POOL_BATCHES * batch_size
    for start in range(0, n, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def take_batch(X, lengths, idx):
    """Rows ``idx`` of padded ``X [N, T, F]``, trimmed to their longest length."""
    if lengths is None:
        return X[idx], None
    lens = lengths[idx]
    return X[idx, : lens.max()], lens


def step_mask(lengths, n_steps):
    """``[B, T]`` boolean mask of valid steps (None when every step is valid)."""
    if lengths is None:
        return None
    return np.arange(n_steps)[None, :] < lengths[:, None]


def head_loss(net, pred, y, w, lengths, loss_fn):
    """Loss and ``dL/dpred`` for "last" or "sequence" outputs.

    For sequences the loss averages over valid steps only, each weighted by
    its sample's weight; padded steps get zero gradient.
    """
    if net.output != "sequence":  # one prediction per sequence
        return loss_fn(pred, y, w)
    B, T, K = pred.shape
    mask = step_mask(lengths, T)
    y = y[:, :T]
    step_w = np.ones((B, T), pred.dtype) if w is None else np.repeat(w[:, None], T, 1)
    if mask is None:
        value, grad = loss_fn(
            pred.reshape(B * T, K), y.reshape(B * T, *y.shape[2:]), step_w.reshape(-1)
        )
        return value, grad.reshape(B, T, K)
    value, flat_grad = loss_fn(pred[mask], y[mask], step_w[mask])
    grad = np.zeros_like(pred)
    grad[mask] = flat_grad
    return value, grad


class ArrayData:
    """Training rows held in this process.

    Parameters
    ----------
    X : ndarray [N, T, F] (padded) or token ids [N, T]
    lengths : ndarray [N] or None
    y : ndarray
        Encoded targets: standardised values or class indices.
    sw : ndarray [N] or None
        Sample weights (class weights folded in).
    """

    def __init__(self, X, lengths, y, sw):
        self.X, self.lengths, self.y, self.sw = X, lengths, y, sw

    def __len__(self):
        return len(self.X)

    def subset(self, idx):
        """The rows ``idx``, as data of the same kind."""
        return ArrayData(
            self.X[idx],
            None if self.lengths is None else self.lengths[idx],
            self.y[idx],
            None if self.sw is None else self.sw[idx],
        )

    def gradient(self, net, idx, loss_fn):
        """The mean loss of rows ``idx``; ``net.flat_grad`` gets its gradient.

        A loss that is not finite is returned before backpropagation.
        """
        xb, lb = take_batch(self.X, self.lengths, idx)
        pred = net.forward(xb, lengths=lb, training=True)
        sw = None if self.sw is None else self.sw[idx]
        value, dpred = head_loss(net, pred, self.y[idx], sw, lb, loss_fn)
        if np.isfinite(value):
            net.zero_grad()
            net.backward(dpred.astype(net.flat_params.dtype, copy=False))
        return value

    def outputs(self, net):
        """``(pred, y, sample_weight, lengths)`` over every row (inference)."""
        return net.forward(self.X, lengths=self.lengths), self.y, self.sw, self.lengths


def apply_step(net, optimizer, value, n, alpha, clip_grad_norm):
    """The update of one minibatch whose gradient is in ``net.flat_grad``.

    The one training step of every model (the estimators, the language model,
    the Dask estimators): L2 (``alpha``, per sample of the ``n`` in the batch)
    on the loss ``value`` and the gradient, then the finiteness check,
    global-norm clipping and the optimizer's step on the flat buffer. Returns
    the loss with its L2 term, or NaN, without touching the parameters, when
    it is not finite.
    """
    params, grad, decay = net.flat_params, net.flat_grad, net.decay_mask
    if alpha:
        w = params[decay]
        value += 0.5 * alpha * float(w @ w) / n
    if not np.isfinite(value):
        return float("nan")
    if alpha:
        grad[decay] += (alpha / n) * params[decay]
    if clip_grad_norm is not None:
        norm = float(np.sqrt(grad @ grad))
        if norm > clip_grad_norm:
            grad *= clip_grad_norm / norm
    optimizer.update(params, grad)
    return value


def train_epoch(net, data, optimizer, loss_fn, batch_size, shuffle, rng, alpha, clip_grad_norm):
    """One pass over ``data`` (an :class:`ArrayData` or alike); return the mean loss.

    Returns NaN as soon as a minibatch's loss is not finite, before that
    batch's update touches the parameters.
    """
    total, count = 0.0, 0
    for idx in minibatches(len(data), batch_size, shuffle, rng, data.lengths):
        value = data.gradient(net, idx, loss_fn)
        value = apply_step(net, optimizer, value, len(idx), alpha, clip_grad_norm)
        if not np.isfinite(value):
            return value
        total += value * len(idx)
        count += len(idx)
    return total / count


class Monitor:
    """Track a loss per epoch: best value and weights, patience, learning rate.

    Parameters
    ----------
    tol : float
        An epoch improves only if its loss is below ``best - tol``.
    n_iter_no_change : int
        Epochs without improvement before the learning rate drops
        ("adaptive") or training stops.
    adaptive : bool
        Divide the learning rate by 5 instead of stopping, until it falls
        below 1e-6 (scikit-learn's "adaptive" schedule).
    """

    def __init__(self, tol, n_iter_no_change, adaptive=False):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.adaptive = adaptive
        self.best_loss = np.inf
        self.best_params = None
        self.no_improvement = 0

    def update(self, loss, params, optimizer):
        """Record one epoch's loss; return True when training should stop."""
        if loss < self.best_loss:
            self.best_params = params.copy()
        if loss > self.best_loss - self.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        self.best_loss = min(self.best_loss, loss)
        if self.no_improvement < self.n_iter_no_change:
            return False
        if self.adaptive and optimizer.learning_rate > 1e-6:
            optimizer.learning_rate /= 5
            self.no_improvement = 0
            return False
        return True
