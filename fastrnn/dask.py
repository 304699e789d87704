"""Data-parallel training and distributed prediction on a Dask cluster.

Modelled on ``xgboost.dask``: :class:`DaskRNNRegressor` and
:class:`DaskRNNClassifier` take the plain estimators' parameters plus
``client`` (default: the current ``distributed`` client) and fit on dask
arrays chunked along samples only — ``(n, T, F)``, or 2-D ``(n, T * F)``
whose columns are the steps — or on dask dataframes in the 2-D form (turned
into arrays; column names are not kept).

How ``fit`` trains
------------------
Synchronous data parallelism. The chunks of ``X`` stay on the workers that
hold them: each such worker gets one *shard*, a Dask actor that checks its
chunks once and keeps a network of the model's shape. The targets (one value
or label per sample, or per step) are gathered here and encoded once, as the
plain estimator encodes them (classes, target scaling, class weights), and
so are the minibatches: the same generator draws the same global minibatch
of ``batch_size`` samples as a single-process fit. Each minibatch is split
by where its rows live; every shard holding some of them runs the compiled
forward and backward pass on its share with the current weights (sent with
the call) and returns the gradient of its share's *summed* loss and its
share's weight (samples, or steps for ``output="sequence"``, times sample
weights). Here the sums are added and divided by the total weight — the
gradient of the minibatch's mean loss — and one optimizer step updates the
flat parameter buffer. L2, gradient clipping, learning-rate schedules, early
stopping (on a split of the samples or on ``validation_data``), ``verbose``
and the fitted attributes are the plain estimator's code, unchanged. So a
fit equals the single-process fit on the same minibatches up to the order
of the floating-point sums (the tests check it), with one exception:
dropout masks are drawn on the workers (reproducibly for an integer
``random_state``), not in one stream.

One step costs a round trip to every worker holding rows of the minibatch
(the weights out, a gradient back): distribution pays when a minibatch's
compute outweighs that, i.e. for large batches of long sequences and models
whose compute grows faster than their parameter count (see the user
guide's page on Dask).

A worker lost during ``fit`` — while training, or while the data is being
placed — or not answering within :data:`CALL_TIMEOUT_S` seconds stops it
with a ``RuntimeError`` naming the worker (a chunk that cannot be computed,
with its error); the estimator is left as it was before ``fit``: weights,
optimizer state and histories.

Prediction
----------
``predict``/``predict_proba`` of a dask collection return dask arrays
computed where the chunks live; the fitted model is scattered to the workers
once per call (broadcast), not pickled into every task. NumPy input is
predicted here, as by the plain estimator (and fitted here too).
:meth:`to_local` gives the plain estimator; ``save`` writes it
(``fastrnn.load`` returns the plain one).

Needs the ``dask`` extra: ``pip install "fastrnn[dask]"`` (``dask[distributed]``;
``dask-ml`` for its ``Incremental`` and ``ParallelPostFit`` wrappers, which
work on the plain estimators; ``Incremental`` passes 2-D blocks, so use the
2-D form with ``n_features``).
"""

import asyncio
import copy
import time

import numpy as np
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from fastrnn._docstrings import complete_docstring, entries, entries_of
from fastrnn._estimators import (
    _ATTRIBUTES,
    RNNClassifier,
    RNNRegressor,
    _storing_init,
)
from fastrnn._losses import LOSSES
from fastrnn._threadpools import limit_threads
from fastrnn._training import head_loss

__all__ = ["DaskRNNRegressor", "DaskRNNClassifier", "CALL_TIMEOUT_S"]

#: Seconds one call to a worker may take during ``fit`` before the worker
#: counts as lost (a bound on any wait, not a typical time: a call is one
#: minibatch's share).
CALL_TIMEOUT_S = 600.0


def _get_client(client):
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError as exc:
        raise ImportError(
            'fastrnn.dask needs Dask: pip install "fastrnn[dask]" (dask[distributed], dask-ml)'
        ) from exc

    try:
        return default_client()
    except ValueError:
        raise ValueError(
            "fastrnn.dask needs a distributed client: pass client=... or create one "
            "(distributed.Client(...)) before fitting"
        ) from None


def _is_dask_collection(X):
    return hasattr(X, "__dask_graph__")


def _as_dask_array(X, name):
    """``X`` as a dask array chunked along its first axis only."""
    import dask.array as da

    if hasattr(X, "to_dask_array"):  # dask DataFrame or Series
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(
            f"{name} must be a dask array or dask dataframe, got {type(X).__name__} "
            "(for data in memory use fastrnn.RNNRegressor / RNNClassifier)"
        )
    if any(len(c) > 1 for c in X.chunks[1:]):
        raise ValueError(
            f"{name} must be chunked along samples (axis 0) only, got chunks {X.chunks}; "
            f"rechunk it: {name}.rechunk({{{', '.join(f'{a}: -1' for a in range(1, X.ndim))}}})"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} has 0 samples")
    return X


def _local_values(client, a, n, name):
    """A dask or in-memory array of ``n`` rows, here (targets and weights are small)."""
    if _is_dask_collection(a):  # gathered whole: any chunking will do
        a = client.compute(a.to_dask_array() if hasattr(a, "to_dask_array") else a).result()
    a = a if isinstance(a, list) else np.asarray(a)
    if len(a) != n:
        raise ValueError(f"X has {n} samples but {name} has {len(a)}")
    return a


def _wait_alive(client, futures, doing, pinned=()):
    """Wait for ``futures`` (any outcome), within :data:`CALL_TIMEOUT_S`.

    ``pinned``: ``(address, future)`` pairs that only their worker can run;
    such a worker leaving is a lost worker, not a wait.
    """
    from distributed import wait

    deadline = time.monotonic() + CALL_TIMEOUT_S
    with client.as_current():
        while True:
            try:
                wait(futures, timeout=1.0)
                return
            except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11
                pass
            except Exception as exc:  # e.g. the futures cancelled with a lost worker
                raise RuntimeError(
                    f"fastrnn.dask: {doing} failed ({type(exc).__name__}: {exc}); fit "
                    "abandoned, the model left as it was"
                ) from exc
            alive = set(client.nthreads())  # every worker (scheduler_info may list a few)
            for address, _ in pinned:
                if address not in alive:
                    raise _lost(address, RuntimeError("the worker left the cluster"))
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"fastrnn.dask: {doing} took more than {CALL_TIMEOUT_S:.0f} s; fit abandoned, "
                    "the model left as it was"
                )


def _first_rows(client, X):
    """The first row of persisted ``X``, here; its loss or error named."""
    try:
        return client.compute(X[:1]).result()
    except Exception as exc:
        raise RuntimeError(
            f"the first rows of X could not be computed, or were lost with their worker "
            f"({type(exc).__name__}: {exc}); fit abandoned, the model left as it was"
        ) from exc


def _lost(address, exc):
    return RuntimeError(
        f"the Dask worker {address} failed or stopped answering during fit "
        f"({type(exc).__name__}: {exc}); fit was abandoned and the model left as it was"
    )


class _Shard:
    """The rows of one worker's chunks and a network to run them: a Dask actor.

    Built on the worker that holds the chunks, so they never move. Each
    call gets the current weights; nothing is kept between calls but the
    rows and the network's buffers.
    """

    def __init__(self, template, seed, *chunks):
        parts = [template._validate_X(c, reset=False)[0] for c in chunks]
        self.X = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.n_threads = template.n_threads
        rng = np.random.default_rng(seed)
        self.net = template._init_network(template._step_features, template._n_outputs, rng)
        self.loss_fn = LOSSES[template._loss_name]

    def gradient(self, params, rows, y, sw):
        """Summed loss of ``rows``, its gradient and the rows' weight.

        Returns ``(grad or None, loss * weight, weight)``; the gradient is
        None when the loss is not finite (the caller stops before updating)
        or the weight is 0.
        """
        net = self.net
        steps = self.X.shape[1] if net.output == "sequence" else 1
        weight = (len(rows) if sw is None else float(np.sum(sw))) * steps
        if weight == 0:  # rows that count for nothing (the losses average by weight)
            return None, 0.0, 0.0
        with limit_threads(self.n_threads, net):
            net.flat_params[:] = params
            pred = net.forward(self.X[rows], training=True, check_input=False)  # checked once
            value, dpred = head_loss(net, pred, y, sw, None, self.loss_fn)
            if not np.isfinite(value):
                return None, value * weight, weight
            net.zero_grad()
            net.backward(dpred.astype(params.dtype, copy=False), check_input=False)
            return net.flat_grad * weight, value * weight, weight

    def predict(self, params, rows):
        """The network's outputs for ``rows`` (inference)."""
        with limit_threads(self.n_threads):
            self.net.flat_params[:] = params
            return self.net.forward(self.X[rows])


class _ShardedData:
    """Training rows spread over shards, with the encoded targets kept here.

    Stands in for :class:`fastrnn._training.ArrayData` in the plain
    estimator's training loop: ``subset``, ``gradient`` and ``outputs``
    are computed by the shards holding the rows.

    Parameters
    ----------
    shards : list of (address, actor)
    where : ndarray [n, 2]
        For each row, its shard and its row in that shard.
    y, sw : ndarray
        Encoded targets and sample weights (or None), one row per row.
    """

    lengths = None  # dense arrays only: every sample has T steps

    def __init__(self, shards, where, y, sw, futures=()):
        self.shards, self.where, self.y, self.sw = shards, where, y, sw
        self._futures = list(futures)  # (address, the future that made each actor)

    @classmethod
    def build(cls, client, X, y, sw, template, seed):
        """Shards for the chunks of dask array ``X`` (persisted), one per worker holding some."""
        from dask.core import flatten
        from distributed import futures_of

        by_key = {f.key: f for f in futures_of(X)}
        futures = [by_key[k] for k in flatten(X.__dask_keys__())]  # in the order of the rows
        sizes = X.chunks[0]
        _wait_alive(client, futures, "computing the chunks of X")
        for f in futures:
            if f.status != "finished":
                try:
                    f.result()
                except Exception as exc:
                    raise RuntimeError(
                        f"a chunk of X could not be computed, or was lost with its worker "
                        f"({type(exc).__name__}: {exc}); fit abandoned, the model left as it was"
                    ) from exc
        holders = client.who_has(futures)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        by_worker = {}
        for i, f in enumerate(futures):
            if sizes[i]:  # an empty chunk (a filtered partition) has nothing to train on
                by_worker.setdefault(sorted(holders[f.key])[0], []).append(i)
        seeds = np.random.SeedSequence(seed).spawn(len(by_worker))
        pending, where = [], np.empty((X.shape[0], 2), np.intp)
        for k, (address, chunk_ids) in enumerate(sorted(by_worker.items())):
            start = 0
            for i in chunk_ids:
                where[bounds[i] : bounds[i + 1], 0] = k
                where[bounds[i] : bounds[i + 1], 1] = np.arange(start, start + sizes[i])
                start += sizes[i]
            actor = client.submit(
                _Shard,
                template,
                seeds[k],
                *[futures[i] for i in chunk_ids],
                actor=True,
                workers=[address],
                allow_other_workers=False,  # the rows are there: the shard must be too
                pure=False,
            )
            pending.append((address, actor))
        data = cls([], where, y, sw, pending)
        try:
            # Pinned to a worker: if it dies, the shard waits for it forever, so
            # watch the workers while waiting.
            _wait_alive(client, [f for _, f in pending], "building the shards", pending)
            for address, actor in pending:
                try:
                    data.shards.append((address, actor.result()))
                except (ValueError, TypeError):
                    raise  # a chunk the shard cannot use (NaN, wrong shape), checked there
                except Exception as exc:
                    raise _lost(address, exc) from exc
        except BaseException:
            data.close()
            raise
        return data

    def close(self):
        """Let the shards go (their workers free the rows); the data is then unusable."""
        for _, future in self._futures:
            future.release()
        for _, actor in self.shards:
            # An actor's handle holds a future of its own, in a reference cycle
            # that only the garbage collector would break: release it now.
            own = getattr(actor, "_future", None)
            if own is not None:
                own.release()
        self._futures, self.shards = [], []

    def __len__(self):
        return len(self.where)

    def subset(self, idx):
        # A view: the shards stay owned (and closed) by the data it came from.
        return _ShardedData(
            self.shards, self.where[idx], self.y[idx], None if self.sw is None else self.sw[idx]
        )

    def _call(self, idx, method, *args, with_targets=False):
        """Call ``method`` on every shard holding rows ``idx``; ``[(positions, result)]``."""
        where = self.where[idx]
        calls = []
        for k in np.unique(where[:, 0]):
            pos = np.flatnonzero(where[:, 0] == k)
            extra = ()
            if with_targets:
                extra = (self.y[idx[pos]], None if self.sw is None else self.sw[idx[pos]])
            address, actor = self.shards[k]
            calls.append((pos, address, getattr(actor, method)(*args, where[pos, 1], *extra)))
        results = []
        for pos, address, call in calls:
            try:
                results.append((pos, call.result(timeout=CALL_TIMEOUT_S)))
            except (ValueError, TypeError):
                raise  # our own checks, raised on the worker: as they are
            except Exception as exc:  # a lost worker, a closed connection, a timeout
                raise _lost(address, exc) from exc
        return results

    def gradient(self, net, idx, loss_fn):
        """As :meth:`ArrayData.gradient`, summed over the shards holding rows ``idx``."""
        results = [r for _, r in self._call(idx, "gradient", net.flat_params, with_targets=True)]
        results = [r for r in results if r[2]]  # shares of weight 0 count for nothing
        total = sum(r[2] for r in results)
        if not total or any(r[0] is None for r in results):
            return float("nan")  # as the plain loss: a zero total weight, or not finite
        grad = net.flat_grad
        grad[:] = results[0][0]
        for r in results[1:]:
            grad += r[0]
        grad /= total
        return sum(r[1] for r in results) / total

    def outputs(self, net):
        idx = np.arange(len(self))
        results = self._call(idx, "predict", net.flat_params)
        first = results[0][1]
        pred = np.empty((len(self),) + first.shape[1:], first.dtype)
        for pos, r in results:
            pred[pos] = r
        return pred, self.y, self.sw, None


def _validation_X(validation_data):
    """``X_val`` of a ``(X_val, y_val)`` pair, or None for anything else."""
    if isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
        return validation_data[0]
    return None


def _predict_block(block, model, method):
    if len(block) == 0:  # an empty chunk (a filtered partition): an empty result of its shape
        return getattr(model, method)(np.zeros((1,) + block.shape[1:], block.dtype))[:0]
    return getattr(model, method)(block)


# The Dask estimators describe what they share with the plain ones in the plain
# ones' words, taken from those classes' finished docstrings (see
# fastrnn._docstrings.complete_docstring). Written here is only what the cluster
# changes, once for both: the entries below, and a sentence at the end of four
# parameters' entries (_DASK_NOTES).
_DASK_DOCS = entries("""
client : distributed.Client, default=None
    The Dask client that runs the workers' calls; None uses the current
    one (``distributed.default_client()``) when fitting or predicting.
    Not pickled or saved (a clone shares it).
workers_ : list of str
    The workers that held training rows in the last fit on a dask
    collection.
network_ : fastrnn.nn.SequenceNetwork
    The trained network, held here.
X : dask array, dask dataframe or array-like
    The sequences: a dask collection chunked along samples only, or
    data in memory, as the plain estimator takes it.
""")
_DASK_NOTES = entries("""
batch_size
    This is the global minibatch: on a dask collection, its rows are split
    across the workers by where they live.
random_state
    On a dask collection the dropout masks are drawn on the workers
    (reproducibly for an integer ``random_state``), not in one stream.
n_threads
    Each worker takes the same limit (at most the CPUs its process may use).
embedding_dim
    Token input is fitted here (NumPy); a dask collection of ids is refused.
""")


class _DaskMixin:
    """What the Dask estimators add to the plain ones: where the data lives."""

    def _fit(self, X, y, sample_weight, incremental, validation_data=None):
        if not (_is_dask_collection(X) or _is_dask_collection(_validation_X(validation_data))):
            return super()._fit(X, y, sample_weight, incremental, validation_data)
        opened = self._opened_shards = []  # what this fit builds, closed when it ends
        try:
            # The shards' handles talk through the current client: make it the one given.
            with _get_client(self.client).as_current():
                return super()._fit(X, y, sample_weight, incremental, validation_data)
        finally:
            for data in opened:
                data.close()
            self.__dict__.pop("_opened_shards", None)

    def _sharded(self, client, X, y, sw):
        data = _ShardedData.build(client, X, y, sw, self._template(), self._shard_seed())
        if "_opened_shards" in self.__dict__:
            self._opened_shards.append(data)
        return data

    def _training_data(self, X, y, sample_weight, reset, fit, check_only=False):
        if not _is_dask_collection(X):
            return super()._training_data(X, y, sample_weight, reset, fit, check_only)
        if self.embedding_dim is not None:
            raise ValueError(
                "fastrnn.dask trains on numeric sequences; for token input (embedding_dim) "
                "fit the plain estimator, or use dask_ml.wrappers.Incremental"
            )
        client, X, yt = self._checked(X, y, "X", "y", reset, fit, persist=not check_only)
        n = X.shape[0]
        sw = None
        if sample_weight is not None:
            sw = _local_values(client, sample_weight, n, "sample_weight")
            sw = _check_sample_weight(sw, np.empty(n), dtype=np.dtype(self.dtype))
        if check_only:
            return None
        data = self._sharded(client, X, yt, self._class_weighted(sw, yt))
        self.workers_ = [address for address, _ in data.shards]
        return data

    def _validation_part(self, validation_data):
        if not _is_dask_collection(_validation_X(validation_data)):
            return super()._validation_part(validation_data)  # which checks the tuple
        X, y = validation_data
        client, X, yt = self._checked(X, y, "X_val", "y_val", reset=False, fit=False)
        return self._sharded(client, X, yt, None)

    def _checked(self, X, y, x_name, y_name, reset, fit, persist=True):
        """``(client, X as a dask array, encoded y)``: X's shape checked on its first rows.

        ``persist``: the chunks are made (or stay) once on the workers, where
        the shards will use them.
        """
        client = _get_client(self.client)
        X = _as_dask_array(X, x_name)
        if persist:
            X = client.persist(X)
        self._validate_X(_first_rows(client, X), reset=reset)
        n = X.shape[0]
        if X.ndim == 3:
            steps = X.shape[2 if self.data_format == "channels_first" else 1]
        else:
            steps = X.shape[1] // self._step_features
        yt = self._encode_y(_local_values(client, y, n, y_name), (n, steps), None, fit=fit)
        return client, X, yt

    def _template(self):
        """A plain estimator with this one's parameters and input shape, for the shards."""
        template = self._local_class(**self._local_params())
        for name in ("n_features_in_", "feature_names_in_", "_step_features", "_fitted_2d"):
            if name in self.__dict__:
                setattr(template, name, self.__dict__[name])
        template._n_outputs = self._n_outputs
        return template

    def _shard_seed(self):
        # The shards' dropout masks: reproducible for an integer random_state,
        # drawn apart from the fit's own generator (which must match a local fit's),
        # and new for each partial_fit (the samples seen so far enter the seed).
        rs = self.random_state
        if not isinstance(rs, (int, np.integer)):
            return None
        return [int(rs), int(self.__dict__.get("t_", 0))]

    def _local_params(self):
        return {k: v for k, v in self.get_params(deep=False).items() if k != "client"}

    def to_local(self):
        """Return the equivalent plain estimator, fitted state copied: no Dask needed to use it.

        Returns
        -------
        RNNRegressor or RNNClassifier
            A plain estimator with the same parameters (but ``client``) and a
            deep copy of the fitted state (but ``workers_``).
        """
        local = self._local_class(**self._local_params())
        state = {k: v for k, v in self.__dict__.items() if k not in self._local_params()}
        state.pop("client", None)
        state.pop("workers_", None)
        local.__dict__.update(copy.deepcopy(state))
        return local

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the estimator keeps its client
        state["client"] = None  # a client does not travel; workers find their own
        return state

    def __sklearn_clone__(self):
        # A client cannot be deep-copied: scikit-learn's clone (which also keeps
        # metadata requests and output settings) runs without it, then the
        # clone shares it.
        client, self.client = self.client, None
        try:
            new = super().__sklearn_clone__()
        finally:
            self.client = client
        new.client = client
        return new

    def _distributed(self, X, method):
        """``method`` of the plain model over the chunks of dask ``X``, as a dask array."""
        check_is_fitted(self, "network_")
        client = _get_client(self.client)
        X = _as_dask_array(X, "X")
        local = self.to_local()
        local.__dict__.pop("_optimizer", None)  # predicting needs the weights only
        # The shape and dtype of one row's result, from a row of zeros (no data read).
        probe = getattr(local, method)(np.zeros((1,) + X.shape[1:], X.dtype))
        model = client.scatter(local, broadcast=True, hash=False)
        return X.map_blocks(
            _predict_block,
            model,
            method,
            dtype=probe.dtype,
            drop_axis=list(range(1, X.ndim)),
            new_axis=list(range(1, probe.ndim)) or None,
            chunks=(X.chunks[0],) + tuple((d,) for d in probe.shape[1:]),
            meta=probe[:0],
        )

    @complete_docstring(_DASK_DOCS)
    def predict(self, X):
        """Predict: a dask array for a dask collection, computed on the workers.

        The model it sends belongs to this estimator's client: compute the
        result with it (``client.compute(pred)``, or ``pred.compute()`` when
        it is the default client).

        Returns
        -------
        dask.array.Array or ndarray
            The plain estimator's predictions: a lazy dask array chunked as
            ``X`` for a dask collection, else computed here.
        """
        if _is_dask_collection(X):
            return self._distributed(X, "predict")
        return super().predict(X)


@complete_docstring(
    _DASK_DOCS,
    entries_of(RNNRegressor),
    notes=_DASK_NOTES,
    attributes=("workers_", *_ATTRIBUTES),
)
class DaskRNNRegressor(_DaskMixin, RNNRegressor):
    """:class:`fastrnn.RNNRegressor` trained data-parallel on a Dask cluster.

    It fits on dask arrays chunked along samples only, ``(n, T, F)`` or 2-D
    ``(n, T * F)``, or on dask dataframes in the 2-D form, each worker
    computing the gradient of its own rows' share of every minibatch (see
    the module's documentation); NumPy input is fitted and predicted here,
    as by the plain estimator. The parameters are those of
    :class:`fastrnn.RNNRegressor`, without ``quantiles``, plus ``client``.

    Parameters
    ----------
    loss : {"squared_error", "huber"}, default="squared_error"
        The training loss, on the standardised targets. "squared_error":
        half the mean squared error. "huber": the Huber loss with delta 1,
        quadratic for errors within one standard deviation of the target and
        linear beyond, less swayed by outliers. (The workers compute these
        two; the distribution losses of :class:`fastrnn.RNNRegressor` train
        in one process.)

    Attributes
    ----------
    loss_curve_ : list of float
        Training loss after each epoch, as :class:`fastrnn.RNNRegressor`'s.
    validation_loss_curve_ : list of float
        The loss on the held-out rows after each epoch.
    n_features_in_ : int
        Columns of 2-D X; features per step of 3-D X.

    See Also
    --------
    fastrnn.RNNRegressor : The same model in one process.
    DaskRNNClassifier : Its classifier counterpart.
    """

    _local_class = RNNRegressor
    _parameter_constraints = {
        **RNNRegressor._parameter_constraints,
        # The workers' loss takes no quantile levels: the distribution losses stay local.
        "loss": [StrOptions({"squared_error", "huber"})],
        "client": "no_validation",
    }
    _parameter_constraints.pop("quantiles")
    __init__ = _storing_init({"loss": "squared_error", "client": None})


@complete_docstring(
    _DASK_DOCS,
    entries_of(RNNClassifier),
    notes=_DASK_NOTES,
    attributes=("classes_", "workers_", "network_", "loss_curve_", "validation_scores_", "n_iter_"),
)
class DaskRNNClassifier(_DaskMixin, RNNClassifier):
    """:class:`fastrnn.RNNClassifier` trained data-parallel on a Dask cluster.

    It fits on dask collections as :class:`DaskRNNRegressor` does (the
    labels gathered and encoded here once); NumPy input is fitted and
    predicted here, as by the plain estimator. The parameters are those of
    :class:`fastrnn.RNNClassifier`, plus ``client``.

    Attributes
    ----------
    loss_curve_ : list of float
        Training loss (cross-entropy) after each epoch.

    See Also
    --------
    fastrnn.RNNClassifier : The same model in one process.
    DaskRNNRegressor : Its regressor counterpart.
    """

    _local_class = RNNClassifier
    _parameter_constraints = {**RNNClassifier._parameter_constraints, "client": "no_validation"}
    __init__ = _storing_init({"class_weight": None, "client": None})

    @complete_docstring(_DASK_DOCS)
    def predict_proba(self, X):
        """Predict the class probabilities: a dask array for a dask collection.

        Returns
        -------
        dask.array.Array or ndarray
            As the plain estimator's (columns following ``classes_``): a lazy
            dask array chunked as ``X`` for a dask collection, else computed
            here.
        """
        if _is_dask_collection(X):
            return self._distributed(X, "predict_proba")
        return super().predict_proba(X)

    @complete_docstring(_DASK_DOCS)
    def predict_log_proba(self, X):
        """Predict the log of the class probabilities: a dask array for a dask collection.

        Returns
        -------
        dask.array.Array or ndarray
            The logarithm of what :meth:`predict_proba` returns, of the same
            kind: lazy and chunked as ``X`` for a dask collection.
        """
        if _is_dask_collection(X):
            return self._distributed(X, "predict_log_proba")
        return super().predict_log_proba(X)
