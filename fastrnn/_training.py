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

import collections
import time
import warnings

import numpy as np


def as_generator(random_state):
    """A fresh ``numpy.random.Generator`` from any sklearn-style ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng(random_state)


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
        pred = net.forward(xb, lengths=lb, training=True, check_input=False)  # checked at fit
        sw = None if self.sw is None else self.sw[idx]
        value, dpred = head_loss(net, pred, self.y[idx], sw, lb, loss_fn)
        if np.isfinite(value):
            net.zero_grad()
            net.backward(dpred.astype(net.flat_params.dtype, copy=False), check_input=False)
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
    """Track a loss per epoch: best value and weights, patience.

    Parameters
    ----------
    tol : float or None
        An epoch improves only if its loss is below ``best - tol``. None:
        never stop on this loss (run every epoch asked for, as Keras'
        ``epochs``); the best weights are still tracked.
    n_iter_no_change : int
        Epochs without improvement before the optimizer is asked whether to
        stop (:meth:`fastrnn.optim.Optimizer.trigger_stopping`: the
        "adaptive" schedule lowers its learning rate and goes on instead).
    """

    def __init__(self, tol, n_iter_no_change):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best_loss = np.inf
        self.best_params = None
        self.no_improvement = 0

    def update(self, loss, params, optimizer):
        """Record one epoch's loss; return True when training should stop."""
        if loss < self.best_loss:
            self.best_params = params.copy()
        if self.tol is None:  # no stopping: only the best weights
            self.best_loss = min(self.best_loss, loss)
            return False
        if loss > self.best_loss - self.tol:
            self.no_improvement += 1
        else:
            self.no_improvement = 0
        self.best_loss = min(self.best_loss, loss)
        if self.no_improvement < self.n_iter_no_change:
            return False
        if optimizer.trigger_stopping():
            return True
        self.no_improvement = 0
        return False


class TrainingDivergedWarning(RuntimeWarning):
    """The training loss became NaN or infinite; the best weights seen were kept."""


EpochsRun = collections.namedtuple("EpochsRun", "n_iter stopped diverged interrupted")


def run_epochs(
    net,
    optimizer,
    run_epoch,
    epochs,
    *,
    monitor=None,
    first_epoch=0,
    progress=None,
    hint="Lower learning_rate_init.",
    stacklevel=2,
    callbacks=None,
    owner=None,
):
    """The epoch loop of every model, around its own epoch ``run_epoch``.

    ``run_epoch()`` trains one epoch and returns ``(watched, logs)``: the
    loss :class:`Monitor` watches and the epoch's numbers by name (the
    progress bar's fields, the callbacks' ``logs``), or ``(None, None)``
    when the loss became NaN or infinite (before that batch's update).
    ``callbacks`` (see :func:`check_callbacks`) are called with ``owner``,
    the model, before and after each epoch; one whose ``on_epoch_end``
    returns True stops training. Before each epoch the optimizer's schedule is told the
    epoch's number (``first_epoch`` onwards, over a model's whole training);
    ``monitor`` (None for one epoch of ``partial_fit``) decides when to stop.

    A divergence or a Ctrl-C (``KeyboardInterrupt``) ends the loop with the
    best epoch's weights and a warning; a divergence before any epoch
    improved restores the weights the loop started from and raises
    ``ValueError`` (``hint`` says what to change). ``stacklevel`` points the
    warnings at the caller of ``fit``.

    Returns
    -------
    EpochsRun
        ``n_iter`` (epochs completed), ``stopped`` (``monitor`` stopped
        training before ``epochs``), ``diverged`` and ``interrupted`` (the
        ``KeyboardInterrupt``, for the caller to raise again once the model
        is usable, or None).
    """
    start_params = net.flat_params.copy()
    n_iter, stopped, diverged, interrupted = 0, False, False, None
    try:
        for i in range(epochs):
            epoch = first_epoch + i
            optimizer.epoch_starts(epoch)
            for callback in callbacks or ():
                if hasattr(callback, "on_epoch_begin"):
                    callback.on_epoch_begin(owner, epoch, optimizer)
            tic = time.perf_counter()
            watched, logs = run_epoch()
            if watched is None:
                diverged = True
                break
            n_iter += 1
            logs = {**logs, "learning_rate": float(optimizer.learning_rate)}
            if progress is not None:
                progress.update(1)
                fields = {k: f"{v:.4g}" for k, v in logs.items() if k != "learning_rate"}
                progress.set_postfix(**fields, s=f"{time.perf_counter() - tic:.2f}")
            if monitor is not None and monitor.update(watched, net.flat_params, optimizer):
                stopped = True
            for callback in callbacks or ():
                if hasattr(callback, "on_epoch_end") and callback.on_epoch_end(owner, epoch, logs):
                    stopped = True
            if stopped:
                break
    except KeyboardInterrupt as exc:
        interrupted = exc
    finally:
        if progress is not None:
            progress.close()
    if diverged or interrupted:
        best = None if monitor is None else monitor.best_params
        if best is None:
            net.flat_params[:] = start_params
            if diverged:
                raise ValueError(
                    "the training loss became NaN or infinite in the first epoch; "
                    f"the model was left as it was. {hint}"
                )
        else:
            net.flat_params[:] = best
        message = "interrupted" if interrupted else "stopped: the loss became NaN or infinite"
        warnings.warn(
            f"training {message}; kept the weights of the best epoch",
            TrainingDivergedWarning if diverged else UserWarning,
            stacklevel=stacklevel + 1,
        )
    return EpochsRun(n_iter, stopped, diverged, interrupted)


def check_callbacks(callbacks):
    """``callbacks`` as a list, each checked to have ``on_epoch_begin`` or ``on_epoch_end``.

    The protocol (Keras' and skorch's, without their base classes): an
    object with ``on_epoch_begin(model, epoch, optimizer)`` (it may set
    ``optimizer.learning_rate``) and/or ``on_epoch_end(model, epoch, logs)``
    (``logs``: the epoch's ``loss``, ``val_loss`` and validation score by
    name, and ``learning_rate``; return True to stop training).
    """
    if callbacks is None:
        return []
    if hasattr(callbacks, "on_epoch_end") or hasattr(callbacks, "on_epoch_begin"):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    for callback in callbacks:
        if not (hasattr(callback, "on_epoch_end") or hasattr(callback, "on_epoch_begin")):
            raise TypeError(
                f"callback {callback!r} has neither on_epoch_begin(model, epoch, optimizer) "
                "nor on_epoch_end(model, epoch, logs)"
            )
    return callbacks


def raise_kept(interrupted):
    """Raise a fit's ``KeyboardInterrupt`` again, marked: the model kept its best epoch.

    The interrupt goes on, so a loop or a grid search around the fit stops
    as it would around scikit-learn's or Keras' fit; the mark tells the
    estimators' guard (which restores a model when its fit fails) to leave
    this one as the fit left it.
    """
    interrupted.fastrnn_model_kept = True
    raise interrupted
