"""scikit-learn estimators: :class:`RNNRegressor` and :class:`RNNClassifier`.

Both validate their input once (``_validation``), build a
:class:`~fastrnn.nn.SequenceNetwork` (recurrent stack + linear head in one
flat buffer) and train it with the minibatch loop of ``_training``.
"""

import contextlib
import copy
import functools
import inspect
import numbers
import warnings

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from fastrnn import _constraints as constraints
from fastrnn import _persistence as files
from fastrnn import _validation as val
from fastrnn._doc_link import DocLinked
from fastrnn._docstrings import complete_docstring, entries
from fastrnn._losses import LOSSES, gaussian_std, log_softmax
from fastrnn._threadpools import limit_threads
from fastrnn._training import (
    ArrayData,
    Monitor,
    as_generator,
    check_callbacks,
    head_loss,
    progress_bar,
    raise_kept,
    run_epochs,
    step_mask,
    take_batch,
    train_epoch,
)
from fastrnn.nn import SequenceNetwork
from fastrnn.optim import make_optimizer
from fastrnn.text import PAD_ID, RESERVED, UNK_ID


def _from_one_hot(y, steps_ndim):
    """Per-step labels from one-hot rows (an extra last axis), or ``y`` as it is.

    Keras' recipes give sequence targets one-hot (``to_categorical``): with
    one axis more than the labels' ``steps_ndim``, of 0s and 1s with exactly
    one 1 per step, the label is the index of the 1.
    """
    y = np.asarray(y)
    if y.ndim != steps_ndim + 1 or y.dtype.kind not in "biuf" or y.size == 0:
        return y
    if np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=-1) == 1):
        return y.argmax(axis=-1)
    return y


@contextlib.contextmanager
def _restored_on_failure(est):
    """Leave ``est`` as it was — attributes, weights, optimizer state — if the block raises."""
    snapshot = dict(est.__dict__)
    net = snapshot.get("network_")
    params = None if net is None else net.flat_params.copy()
    # What training changes in place, besides the weights: histories, the
    # optimizer's moments, and the generator, which the network's dropout
    # shares (so its state is put back in place, not the object swapped).
    histories = {k: list(v) for k, v in snapshot.items() if isinstance(v, list)}
    # (The optimizer's moments belong to the network's own buffer: the copy
    # keeps pointing at it, not at a copy of it.)
    memo = {} if net is None else {id(net.flat_params): net.flat_params}
    optimizer = copy.deepcopy(snapshot.get("_optimizer"), memo)
    rng = snapshot.get("_rng")
    rng_state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else None
    try:
        yield
    except BaseException as exc:
        if getattr(exc, "fastrnn_model_kept", False):
            raise  # an interrupted fit that kept its best epoch (see _fit)
        est.__dict__.clear()
        est.__dict__.update(snapshot)
        est.__dict__.update(histories)
        if optimizer is not None:
            est._optimizer = optimizer
        if rng_state is not None:
            rng.bit_generator.state = rng_state
        if params is not None:
            net.flat_params[:] = params
        raise


_DEFAULTS = dict(
    cell="lstm",
    hidden_size=32,
    num_layers=1,
    bidirectional=False,
    dropout=0.0,
    output="last",
    n_features=1,
    data_format=None,
    solver="adam",
    learning_rate_init=0.01,
    learning_rate="constant",
    power_t=0.5,
    momentum=0.9,
    nesterovs_momentum=True,
    batch_size="auto",
    max_iter=200,
    alpha=1e-4,
    clip_grad_norm=5.0,
    early_stopping=False,
    validation_fraction=0.1,
    n_iter_no_change=10,
    tol=1e-4,
    shuffle=True,
    random_state=None,
    warm_start=False,
    verbose=False,
    backend="auto",
    dtype="float32",
    n_threads=None,
    embedding_dim=None,
    vocab_size=None,
    embedding_weights=None,
    freeze_embedding=False,
    head_dropout=0.0,
    forget_bias=None,
    reset_after=True,
    head_hidden_sizes=(),
    head_activation="relu",
    callbacks=None,
)


def _widths(value, name, what, empty):
    """``value`` as a tuple of positive integers (``empty``: none allowed)."""
    sizes = np.asarray(value)
    if (
        sizes.ndim != 1
        or (not empty and sizes.size == 0)
        or (sizes.size and (sizes.dtype.kind not in "iu" or sizes.min() < 1))
    ):
        raise ValueError(f"{name} must be positive integers ({what}), got {value!r}")
    return tuple(int(n) for n in sizes)


def _storing_init(own):
    """An ``__init__`` that only stores the shared parameters plus ``own``.

    scikit-learn reads an estimator's parameters from the signature of its
    ``__init__``; building the signature from one table keeps the two
    estimators' long parameter lists from being written out twice.
    """
    defaults = {**_DEFAULTS, **own}

    def __init__(self, **params):
        unknown = set(params) - set(defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected parameters {sorted(unknown)}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    P = inspect.Parameter
    __init__.__signature__ = inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD)]
        + [P(name, P.KEYWORD_ONLY, default=d) for name, d in defaults.items()]
    )
    return __init__


# -- The estimators' shared docstring entries -----------------------------------------
# RNNRegressor, RNNClassifier and fastrnn.dask's two estimators take the parameters of
# one table (_DEFAULTS, above) and have most of their fitted attributes and method
# arguments in common, and describe them in the same words: each such description is
# written once, in the tables below (_PARAMETER_DOCS, _ATTRIBUTE_DOCS, _ARGUMENT_DOCS),
# so that no copy of it can drift apart from another. complete_docstring puts them into
# a class's or method's __doc__ at its definition, next to the entries its own docstring
# writes where it behaves differently; Sphinx autodoc and numpydoc read that finished
# __doc__ (fastrnn/_docstrings.py).


# The parameters every estimator shares. A $word is one each class puts its own way
# (its complete_docstring keywords): seeds, what random_state seeds; fitted, what a
# warm start keeps; outputs, what dtype does not change; val_score, the name of the
# validation score in verbose output and callbacks' logs.
_PARAMETER_DOCS = entries("""
cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}, default="lstm"
    The recurrent cell: LSTM, GRU, or an Elman RNN with tanh or ReLU.
hidden_size : int or sequence of int, default=32
    Units of each recurrent layer; a sequence stacks layers of those
    widths (Keras' ``LSTM(64, return_sequences=True)`` then ``LSTM(32)``
    is ``hidden_size=(64, 32)``). Such a stack starts from zero states;
    its stream's ``state`` is a list, a layer each.
num_layers : int, default=1
    Stacked recurrent layers of width ``hidden_size`` (leave it at 1 when
    ``hidden_size`` lists the layers).
bidirectional : bool, default=False
    Also run each layer backwards in time (within each sequence's length).
dropout : float, default=0.0
    Dropout between recurrent layers, in training only (with one layer it
    does nothing, and ``fit`` warns).
output : {"last", "sequence", "mean", "max"}, default="last"
    "last": one prediction per sequence (many-to-one), from the final state
    (both directions' when bidirectional). "sequence": one prediction per
    time step (many-to-many). "mean", "max": one prediction per sequence
    from the mean or maximum of the top layer's outputs over its steps.
n_features : int, default=1
    For 2-D ``X`` only: features per time step, each step being
    ``n_features`` consecutive columns.
data_format : {"channels_last", "channels_first"}, default=None
    The axes of 3-D ``X``, in Keras' words: ``"channels_last"``,
    ``[N, steps, features]``; ``"channels_first"``, ``[N, features,
    steps]``, the ``(cases, channels, timepoints)`` layout of aeon's and
    sktime's arrays (and a list of ``[features, steps]`` arrays for
    sequences of different lengths). None reads ``"channels_last"`` and
    warns when ``X`` looks channels-first: 16 steps or fewer, each with
    at least eight times as many features.
solver : {"adam", "sgd", "rmsprop"}, default="adam"
    The optimizer (:mod:`fastrnn.optim`).
learning_rate_init : float, default=0.01
    The initial learning rate (the step size of ``solver``).
learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
    Schedule, as in :class:`~sklearn.neural_network.MLPRegressor`:
    "invscaling" divides ``learning_rate_init`` by ``(epoch + 1) ** power_t``
    (epochs counted from 0); "adaptive" divides the rate by 5 whenever
    ``n_iter_no_change`` epochs bring no improvement by ``tol``, and stops
    once it falls below 1e-6.
power_t : float, default=0.5
    The exponent of the "invscaling" schedule.
momentum : float, default=0.9
    For ``solver="sgd"``: the fraction of the previous step added to each
    step, in [0, 1].
nesterovs_momentum : bool, default=True
    For ``solver="sgd"``: use Nesterov's momentum.
batch_size : int or "auto", default="auto"
    Sequences per minibatch; "auto" is ``min(32, n_samples)``.
max_iter : int, default=200
    Epochs (passes over the data); ``partial_fit`` runs one.
alpha : float, default=1e-4
    L2 penalty on weights (not biases).
clip_grad_norm : float or None, default=5.0
    Clip the global gradient norm to this value; None disables.
validation_fraction : float, default=0.1
    The share of the samples held out with ``early_stopping`` (at least
    one sample), in (0, 1).
n_iter_no_change : int, default=10
    Epochs without an improvement by ``tol`` before training stops (or,
    with ``learning_rate="adaptive"``, the rate is lowered).
tol : float or None, default=1e-4
    Improvement of the (validation or training) loss that counts: without
    ``early_stopping``, training also stops once the training loss has
    not improved by ``tol`` for ``n_iter_no_change`` epochs (as
    scikit-learn's MLP; ``n_iter_`` says how many ran). None runs every
    one of ``max_iter`` epochs (Keras' ``epochs``), without a
    ``ConvergenceWarning``.
shuffle : bool, default=True
    Shuffle the samples every epoch.
random_state : int, RandomState instance or None, default=None
    Seeds $seeds.
    With the same value, backend, ``n_threads`` and data, ``fit`` gives
    bitwise identical weights.
warm_start : bool, default=False
    Continue from the current weights on the next ``fit`` (with a new
    optimizer; the input's shape, $fitted and the histories of
    the first fit are kept).
verbose : bool, default=False
    Show a progress bar (tqdm) with the epoch's ``loss``, ``val_loss``,
    validation score (``$val_score``) and seconds.
backend : {"auto", "cython", "numba", "numpy"}, default="auto"
    Kernel backend; "auto" is the fastest installed one (the compiled
    Cython one, then Numba, then NumPy).
dtype : {"float32", "float64"}, default="float32"
    The dtype of the weights and the computation ($outputs are
    float64 either way).
n_threads : int or None, default=None
    Threads during fit and predict: the kernels' thread pool (a batch
    is split across it) and BLAS's, at most the CPUs this process may
    use. None leaves both as they are.
embedding_dim : int or None, default=None
    Read token ids instead of numbers: X is a list of 1-D integer arrays
    (``TextTokenizer().transform`` makes them from strings) or a 2-D
    integer array padded with 0 at the end (Keras' ``padding="post"``),
    and a learned embedding of this width feeds the recurrent layers. A
    row of the array runs to its last non-zero id: the steps after it
    never enter the computation. Id 0 met inside a sequence is the
    padding token, whose embedding is zero and never trained.
vocab_size : int or None, default=None
    Number of token ids; default the largest id seen in ``fit`` + 1 (or
    the rows of ``embedding_weights``). Larger ids met later map to
    ``<unk>`` (1).
embedding_weights : array-like of shape (vocab_size, embedding_dim), default=None
    Start the embedding from these vectors (pretrained word vectors:
    :func:`fastrnn.text.read_word_vectors` reads the common text format).
freeze_embedding : bool, default=False
    Keep the embedding as it starts: no gradient, no weight decay.
head_dropout : float, default=0.0
    Dropout between the last recurrent layer and the dense head, in
    training (the recipes' ``LSTM -> Dropout(0.2) -> Dense``).
forget_bias : float or None, default=None
    LSTM only: start the forget gates' bias at this value (1.0 is Keras'
    ``unit_forget_bias=True``); None keeps PyTorch's initialisation.
reset_after : bool, default=True
    GRU only: apply the reset gate after the recurrent matmul (PyTorch's
    and Keras' default) or, with False, before it (Keras
    ``reset_after=False``, ONNX ``linear_before_reset=0``); see
    :class:`fastrnn.nn.GRU`.
head_hidden_sizes : sequence of int, default=()
    Dense layers between the recurrent stack and the output layer, as
    Keras' ``Dense(32, activation="relu")`` before ``Dense(1)``:
    ``head_hidden_sizes=(32,)``.
head_activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    Their activation (scikit-learn's MLP names).
callbacks : object or list of objects, default=None
    Called at each epoch, as Keras' and skorch's callbacks:
    ``on_epoch_begin(model, epoch, optimizer)`` (may set
    ``optimizer.learning_rate``: see
    :class:`fastrnn.callbacks.LearningRateScheduler`) and
    ``on_epoch_end(model, epoch, logs)`` (``logs``: ``loss``,
    ``val_loss``, ``$val_score``, ``learning_rate``; return True to stop
    training), either or both. Not saved in model files.
""")

# The fitted attributes both estimators describe alike. _ATTRIBUTES is the order in
# which they and fastrnn.dask's regressor list theirs, each adding its own (the
# classifier's classes_ first, the Dask regressor's workers_ first, the plain
# estimators' feature_names_in_ last).
_ATTRIBUTE_DOCS = entries("""
network_ : fastrnn.nn.SequenceNetwork
    The trained network; ``network_.rnn`` is a PyTorch-compatible layer.
best_loss_ : float
    The smallest of ``loss_curve_``.
n_iter_ : int
    Epochs run.
t_ : int
    Training samples seen.
n_features_in_ : int
    Columns of 2-D X; features per step of 3-D or ragged X.
feature_names_in_ : ndarray of str
    Column names of a 2-D DataFrame X.
""")
_ATTRIBUTES = (
    "network_",
    "loss_curve_",
    "validation_scores_",
    "validation_loss_curve_",
    "best_loss_",
    "n_iter_",
    "t_",
    "n_features_in_",
)

# The methods' arguments both estimators describe alike: X (of all but fit) and
# partial_fit's sample_weight. score's y and sample_weight are _SCORE_DOCS, which
# score's decorator looks in first.
_ARGUMENT_DOCS = entries("""
X : array-like of shape (n_samples, n_timesteps, n_features), \
(n_samples, n_timesteps * n_features), or list of arrays (T_i, n_features)
    The sequences, as for :meth:`fit`.
sample_weight : array-like of shape (n_samples,), default=None
    Weights of the samples in the loss.
""")
_SCORE_DOCS = entries("""
y : array-like
    The true values, shaped as :meth:`predict`'s output.
sample_weight : array-like of shape (n_samples,), default=None
    Weights of the samples (with ``output="sequence"``, repeated over
    each sample's steps).
""")


class _BaseRNN(DocLinked, files.SavedModel, BaseEstimator):
    """Parameters, input handling and the fit loop shared by both estimators."""

    def _validate_params(self):
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            if isinstance(self.learning_rate, numbers.Real) and not isinstance(
                self.learning_rate, bool
            ):  # a Keras or PyTorch habit: the rate is learning_rate_init
                raise InvalidParameterError(
                    f"{str(exc).rstrip('.')}. The learning rate itself is learning_rate_init "
                    "(default 0.01); "
                    "learning_rate is its schedule, as in scikit-learn's MLP"
                ) from exc
            raise

    _parameter_constraints = {
        **constraints.NETWORK,
        **constraints.TRAINING,
        **constraints.SCHEDULE,
        "bidirectional": ["boolean"],
        "output": [StrOptions({"last", "sequence", "mean", "max"})],
        "n_features": [Interval(numbers.Integral, 1, None, closed="left")],
        "data_format": [StrOptions({"channels_last", "channels_first"}), None],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "warm_start": ["boolean"],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "vocab_size": [Interval(numbers.Integral, 2, None, closed="left"), None],
        "embedding_weights": ["array-like", None],
        "freeze_embedding": ["boolean"],
        "head_dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "forget_bias": [numbers.Real, None],
        "callbacks": "no_validation",  # checked at fit (check_callbacks): any iterable
        # One width, or a list: layers of those widths (Keras' LSTM(64) then LSTM(32)).
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "head_hidden_sizes": ["array-like"],
        "head_activation": [StrOptions({"relu", "tanh", "logistic", "identity"})],
    }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.two_d_array = True
        return tags

    # -- input ------------------------------------------------------------

    def _validate_X(self, X, reset):
        """Return ``(X [N, T, F] padded, lengths or None)`` in the model's dtype.

        Accepts a 3-D array, a 2-D array whose columns are time steps (each
        ``n_features`` consecutive columns one step), or a list of per-sample
        ``[T_i, F]`` arrays of different lengths. With ``embedding_dim``, token
        ids instead: ``(ids [N, T], lengths or None)``.
        """
        if self.embedding_dim is not None:
            return self._validate_tokens(X, reset)
        dtype = np.dtype(self.dtype)
        val.refuse_dates(X, "X")
        X = self._channels_last(X)
        if val.is_ragged_list(X):
            Xp, lengths = val.pad_sequences(X, dtype)
        elif isinstance(X, np.ndarray) and X.ndim == 3 and X.dtype.kind == "f":
            # The common case, checked without check_array's generic machinery
            # (most of a small model's predict: bench/THRESHOLDS.md).
            if 0 in X.shape:
                raise ValueError(f"X has shape {X.shape}: 0 samples, time steps or features")
            Xp, lengths = val.as_float_array(X, dtype, "X"), None
            val.check_finite(Xp, "X")
        elif not hasattr(X, "columns") and np.asarray(X).ndim == 3:
            Xp = check_array(X, allow_nd=True, dtype=[np.float64, np.float32])
            if Xp.shape[1] == 0 or Xp.shape[2] == 0:
                raise ValueError(f"X has shape {Xp.shape}: 0 time steps or 0 features")
            Xp, lengths = np.ascontiguousarray(Xp, dtype=dtype), None
        else:  # 2-D: columns are time steps; sklearn's checks and messages apply
            if reset or self._fitted_2d:
                X2 = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            else:
                X2 = check_array(X, dtype=[np.float64, np.float32])
            k = self.n_features if reset else self._step_features
            if X2.shape[1] % k:
                raise ValueError(
                    f"X has {X2.shape[1]} columns, which is not a multiple of "
                    f"n_features={k} (each time step is {k} consecutive columns)"
                )
            if reset:
                self._fitted_2d, self._step_features = True, k
            return np.ascontiguousarray(X2.reshape(len(X2), -1, k), dtype=dtype), None
        F = Xp.shape[2]
        if reset:
            self._fitted_2d, self._step_features, self.n_features_in_ = False, F, F
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif F != self._step_features:
            raise ValueError(
                f"X has {F} features per step, but {type(self).__name__} is expecting "
                f"{self._step_features} features per step"
            )
        return Xp, lengths

    def _channels_last(self, X):
        """``X`` with its steps before its features (see ``data_format``).

        aeon's and sktime's arrays are ``(cases, channels, timepoints)``;
        read as ``[N, T, F]`` they give a model with the axes swapped, which
        fits and predicts without an error. So an array that looks like one
        (few "steps", many more "features") gets a warning unless
        ``data_format`` says which it is.
        """
        if self.data_format == "channels_first":
            if isinstance(X, (list, tuple)):  # aeon's unequal-length collections
                return [np.asarray(x).T for x in X]  # of [channels, T_i] arrays
            a = np.asarray(X)
            if a.ndim != 3:
                raise ValueError(
                    "data_format='channels_first' reads 3-D X [N, channels, steps] (or a "
                    f"list of [channels, steps] arrays); X has shape {a.shape}"
                )
            return a.transpose(0, 2, 1)
        shape = getattr(X, "shape", ())
        looks_first = len(shape) == 3 and shape[1] <= 16 and shape[2] >= 8 * shape[1]
        if self.data_format is None and looks_first:
            warnings.warn(
                f"X has shape {shape}: {shape[1]} steps of {shape[2]} features each. If its "
                "axes are (cases, channels, timepoints), as aeon's and sktime's arrays are, "
                "pass data_format='channels_first'; data_format='channels_last' says they "
                "are (cases, steps, features) and silences this warning",
                UserWarning,
                stacklevel=val.user_stacklevel(),
            )
        return X

    def _validate_tokens(self, X, reset):
        """Token ids: a list of 1-D integer arrays, or a 2-D integer array padded with 0.

        Returns ``(ids [N, T] intp, lengths or None)``. At fit the vocabulary
        size is ``vocab_size`` or the largest id + 1; later, ids beyond it
        map to ``<unk>`` (1).
        """
        if isinstance(X, np.ndarray) and X.ndim == 2:
            ids = val.check_token_ids(X, "X")
            if ids.shape[1] == 0:
                raise ValueError("X has 0 time steps")
            nonzero = ids != PAD_ID
            # A row's length: up to its last non-padding id (padding trails).
            lengths = np.where(
                nonzero.any(axis=1), ids.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0
            )
        else:
            if isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
                raise TypeError(
                    "with embedding_dim, X is token ids: a list of 1-D integer arrays or a 2-D "
                    f"integer array (TextTokenizer makes them from strings); got {type(X).__name__}"
                )
            seqs = [val.check_token_ids(x, f"X[{i}]") for i, x in enumerate(X)]
            bad = [i for i, s in enumerate(seqs) if s.ndim != 1]
            if bad:
                raise ValueError(f"X[{bad[0]}] must be a 1-D sequence of token ids")
            lengths = np.array([len(s) for s in seqs], dtype=np.intp)
            if not len(seqs):
                raise ValueError("X is empty: 0 samples")
            ids = np.zeros((len(seqs), max(1, lengths.max())), dtype=np.intp)
            for i, s in enumerate(seqs):
                ids[i, : len(s)] = s
        if len(ids) == 0:
            raise ValueError("X is empty: 0 samples")
        if lengths.min() < 1:
            raise ValueError(f"sample {int(np.argmin(lengths))} has no tokens")
        if reset:
            pretrained = self._pretrained_embedding()
            inferred = max(int(ids.max()) + 1, len(RESERVED))
            self.vocab_size_ = self.vocab_size or (
                len(pretrained) if pretrained is not None else inferred
            )
            if pretrained is not None and len(pretrained) != self.vocab_size_:
                raise ValueError(
                    f"embedding_weights has {len(pretrained)} rows; vocab_size is "
                    f"{self.vocab_size_}"
                )
            self._fitted_2d, self._step_features = False, self.embedding_dim
            self.n_features_in_ = ids.shape[1] if isinstance(X, np.ndarray) else 1
        if reset and ids.max() >= self.vocab_size_:
            raise ValueError(f"X holds id {ids.max()}, beyond the vocabulary of {self.vocab_size_}")
        ids = np.where(ids >= self.vocab_size_, UNK_ID, ids)  # unseen ids: <unk>
        full = bool(np.all(lengths == ids.shape[1]))
        return ids, None if full else lengths.astype(np.intp)

    def _pretrained_embedding(self):
        """``embedding_weights`` checked against ``embedding_dim``, or None."""
        if self.embedding_weights is None:
            return None
        w = val.as_float_array(self.embedding_weights, np.dtype(self.dtype), "embedding_weights")
        if w.ndim != 2 or w.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embedding_weights must be (vocab_size, embedding_dim={self.embedding_dim}), "
                f"got shape {w.shape}"
            )
        val.check_finite(w, "embedding_weights")
        return w

    def _batch_size(self, n):
        return min(32, n) if self.batch_size == "auto" else min(self.batch_size, n)

    # -- fitting ------------------------------------------------------------

    def _init_network(self, n_features, n_outputs, rng):
        """The network for ``n_features`` inputs per step (the embedding's width for tokens)."""
        return SequenceNetwork(
            self.cell,
            n_features,
            self._hidden_sizes(),
            n_outputs,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
            output=self.output,
            dtype=self.dtype,
            backend=self.backend,
            random_state=rng,
            vocab_size=getattr(self, "vocab_size_", None) if self.embedding_dim else None,
            freeze_embedding=bool(self.embedding_dim and self.freeze_embedding),
            padding_idx=PAD_ID if self.embedding_dim else None,
            head_dropout=self.head_dropout,
            forget_bias=self.forget_bias if self.cell == "lstm" else None,
            reset_after=self.reset_after or self.cell != "gru",
            head_hidden_sizes=self._head_sizes(),
            head_activation=self.head_activation,
        )

    def summary(self, print_fn=print):
        """Print the fitted network's layers, output shapes and parameter counts.

        Keras' ``model.summary()``; the input's width comes from ``X``, so
        the model must be fitted first.

        Parameters
        ----------
        print_fn : callable, default=print
            Called once with the whole table as one string.
        """
        check_is_fitted(self, "network_")
        self.network_.summary(print_fn)

    def _head_sizes(self):
        """``head_hidden_sizes`` checked: positive integers."""
        return _widths(self.head_hidden_sizes, "head_hidden_sizes", "Dense widths", empty=True)

    def _hidden_sizes(self):
        """``hidden_size``: an int, or a tuple of a stack's widths (checked)."""
        if isinstance(self.hidden_size, numbers.Integral):
            return int(self.hidden_size)
        sizes = _widths(self.hidden_size, "hidden_size", "layer widths", empty=False)
        if self.num_layers not in (1, len(sizes)):
            raise ValueError(
                f"hidden_size lists {len(sizes)} layers, num_layers={self.num_layers} "
                "says otherwise (leave it at 1)"
            )
        return sizes[0] if len(sizes) == 1 else sizes

    def _new_network(self, rng):
        """A fresh network for fitting: pretrained embedding rows copied in."""
        net = self._init_network(self._step_features, self._n_outputs, rng)
        pretrained = self._pretrained_embedding() if self.embedding_dim else None
        if pretrained is not None:
            net.embedding.weight[...] = pretrained
        return net

    def _new_optimizer(self):
        """The optimizer ``solver`` names, with the ``learning_rate`` schedule."""
        return make_optimizer(
            self.solver,
            self.learning_rate_init,
            schedule=self.learning_rate,
            power_t=self.power_t,
            momentum=self.momentum,
            nesterov=self.nesterovs_momentum,
        )

    def _split_validation(self, n, y, rng):
        """Indices of the training and validation parts (subclasses choose how)."""
        n_val = max(1, int(round(self.validation_fraction * n)))
        if n - n_val < 1:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training samples "
                f"out of n_samples={n}"
            )
        return np.arange(n - n_val), np.arange(n - n_val, n)

    def _fit(self, X, y, sample_weight, incremental, validation_data=None):
        # Warnings use stacklevel=5 to point at the caller of fit (through
        # _fit_unguarded, _fit, fit and sklearn's _fit_context wrapper).
        # A fit that raises (bad input, divergence in its first epoch, a lost
        # worker) must leave a previously fitted model exactly as it was.
        with _restored_on_failure(self):
            return self._fit_unguarded(X, y, sample_weight, incremental, validation_data)

    def _fit_unguarded(self, X, y, sample_weight, incremental, validation_data=None):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        first_call = not (incremental or self.warm_start) or not hasattr(self, "network_")
        # (a hidden_size list is layers too: dropout acts between them)
        one_layer = self.num_layers == 1 and isinstance(self._hidden_sizes(), int)
        if first_call and self.dropout and one_layer:
            warnings.warn(  # (PyTorch warns the same)
                f"dropout={self.dropout} acts between recurrent layers: with num_layers=1 it "
                "does nothing. A Keras Dropout layer after the recurrent one is head_dropout.",
                UserWarning,
                stacklevel=5,
            )
        data = self._training_data(X, y, sample_weight, reset=first_call, fit=first_call)
        n = len(data)
        # A loaded model has no optimizer state or generator yet: start fresh ones.
        rng = getattr(self, "_rng", None) if not first_call else None
        rng = as_generator(self.random_state) if rng is None else rng

        if first_call:
            net = self._new_network(rng)
            self.loss_curve_, self.validation_scores_, self.t_ = [], [], 0
            self.best_loss_ = np.inf
            self.validation_loss_curve_ = []
        else:
            net = self.network_
            if self.embedding_dim is not None:  # warm_start may change it
                net.set_embedding_frozen(self.freeze_embedding)
        optimizer = getattr(self, "_optimizer", None) if incremental and not first_call else None
        if optimizer is None:
            optimizer = self._new_optimizer()

        train, held_out = data, None
        if self.early_stopping and not incremental and validation_data is None:
            train_idx, val_idx = self._split_validation(n, data.y, rng)
            train, held_out = data.subset(train_idx), data.subset(val_idx)
        if validation_data is not None:
            held_out = self._validation_part(validation_data)
        batch_size = self._batch_size(len(train))
        # tol=None: no stop on the training loss (Keras' epochs); early
        # stopping then stops on any validation loss that does not improve.
        tol = 0.0 if self.tol is None and self.early_stopping else self.tol
        monitor = None if incremental else Monitor(tol, self.n_iter_no_change)
        callbacks = check_callbacks(self.callbacks)
        loss_fn = self._loss_fn()

        def run_epoch():
            loss = train_epoch(
                net,
                train,
                optimizer,
                loss_fn,
                batch_size,
                self.shuffle,
                rng,
                self.alpha,
                self.clip_grad_norm,
            )
            if not np.isfinite(loss):
                return None, None
            self.t_ += len(train)
            self.loss_curve_.append(loss)
            self.best_loss_ = min(self.best_loss_, loss)
            if held_out is None:
                return loss, {"loss": loss}
            val_loss, score = self._validation_loss_and_score(net, held_out, loss_fn)
            self.validation_loss_curve_.append(val_loss)
            self.validation_scores_.append(score)
            watched = val_loss if self.early_stopping else loss
            return watched, {"loss": loss, "val_loss": val_loss, f"val_{self._score_name}": score}

        epochs = 1 if incremental else self.max_iter
        with limit_threads(self.n_threads, net):
            run = run_epochs(
                net,
                optimizer,
                run_epoch,
                epochs,
                monitor=monitor,
                first_epoch=self.t_ // max(len(train), 1),
                progress=self._progress(epochs),
                hint="Lower learning_rate_init or scale X and y.",
                stacklevel=5,
                callbacks=callbacks,
                owner=self,
            )
        if not (run.diverged or run.interrupted or monitor is None):
            if self.early_stopping and held_out is not None and monitor.best_params is not None:
                net.flat_params[:] = monitor.best_params  # early stopping keeps the best epoch
            elif not run.stopped and self.tol is not None:  # None: max_iter was the ask
                warnings.warn(
                    f"{type(self).__name__}: max_iter={self.max_iter} reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=5,
                )

        self.network_ = net
        self._optimizer = optimizer
        self._rng = rng
        self.n_iter_ = (0 if first_call else getattr(self, "n_iter_", 0)) + run.n_iter
        if run.interrupted is not None:
            self.n_iter_ = max(self.n_iter_, 1)  # a usable (initial) model exists
            raise_kept(run.interrupted)
        return self

    def _progress(self, epochs):
        return progress_bar(self.verbose, epochs, type(self).__name__)

    def _training_data(self, X, y, sample_weight, reset, fit, check_only=False):
        """``X``, ``y`` and the weights checked and encoded, as an :class:`ArrayData`.

        ``reset``: ``X`` sets the input's shape; ``fit``: ``y`` sets the
        targets' encoding (classes, scaling); ``check_only``: the caller
        wants the checks, not the data. :mod:`fastrnn.dask` overrides this to
        keep the rows where they live.
        """
        Xp, lengths = self._validate_X(X, reset=reset)
        yt = self._encode_y(y, Xp.shape[:2], lengths, fit=fit)
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, np.empty(len(Xp)), dtype=np.dtype(self.dtype))
        return ArrayData(Xp, lengths, yt, self._class_weighted(sw, yt))

    def _validation_part(self, validation_data):
        """``(X_val, y_val)`` checked and encoded like the training data."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a tuple (X_val, y_val)")
        Xv, lv = self._validate_X(validation_data[0], reset=False)
        yv = self._encode_y(validation_data[1], Xv.shape[:2], lv, fit=False)
        return ArrayData(Xv, lv, yv, None)

    def _loss_fn(self):
        """The loss: ``(pred, y, w) -> (value, d value / d pred)`` (see ``_losses``)."""
        return LOSSES[self._loss_name]

    def _validation_loss_and_score(self, net, data, loss_fn):
        pred, y, sw, lengths = data.outputs(net)
        loss, _ = head_loss(net, pred, y, sw, lengths, loss_fn)
        return loss, self._score_raw(pred, y, lengths)

    def _raw_predict(self, X):
        """Network outputs for X, in batches; also returns the lengths."""
        check_is_fitted(self, "network_")
        Xp, lengths = self._validate_X(X, reset=False)
        if lengths is None:
            order, batch = np.arange(len(Xp)), max(self._batch_size(len(Xp)), 256)
        else:
            # Ragged: batches of rows of similar lengths, longest first, so a
            # batch is padded to little more than its own rows' lengths. A row's
            # result does not depend on its batch (float32: bitwise, through the
            # row-invariant kernels; float64 runs BLAS: to its rounding).
            order, batch = np.argsort(-lengths, kind="stable"), 64
        outs = []
        with limit_threads(self.n_threads):
            for i in range(0, len(Xp), batch):
                idx = order[i : i + batch]
                xb, lb = take_batch(Xp, lengths, idx)
                pred = self.network_.forward(xb, lengths=lb)
                if self.output == "sequence" and pred.shape[1] < Xp.shape[1]:
                    pred = np.pad(pred, ((0, 0), (0, Xp.shape[1] - pred.shape[1]), (0, 0)))
                outs.append(pred)
        out = np.concatenate(outs)
        if lengths is not None:
            out = out[np.argsort(order)]  # back to the caller's order
        return out, lengths

    @classmethod
    def _from_layers(cls, rnn, head, output, params):
        """A fitted estimator around a recurrent layer and a linear head.

        ``rnn`` is a ``torch.nn.RNN/LSTM/GRU`` or a fastrnn layer; ``head`` a
        ``torch.nn.Linear`` or a ``(weight [n_outputs, F], bias)`` pair, F
        being hidden_size times the directions. The model is ready to
        predict, save, stream and go on training with ``partial_fit``.
        """
        from fastrnn.nn import RNNBase

        if len(params.get("head_hidden_sizes", ())):
            raise ValueError("from_torch takes one linear head: no head_hidden_sizes")
        layer = rnn if isinstance(rnn, RNNBase) else RNNBase.from_torch(rnn)
        if hasattr(head, "weight"):  # torch.nn.Linear
            weight = head.weight.detach().cpu().numpy()
            bias = None if head.bias is None else head.bias.detach().cpu().numpy()
        else:
            weight, bias = head
        weight = val.as_float_array(weight, np.float64, "head weight")
        n_features = layer.hidden_size * layer.num_directions
        if weight.ndim != 2 or weight.shape[1] != n_features:
            raise ValueError(
                f"the head's weight must have shape (n_outputs, {n_features}) for this "
                f"layer's {n_features} features, got {weight.shape}"
            )
        bias = (
            np.zeros(len(weight))
            if bias is None
            else val.as_float_array(bias, np.float64, "head bias")
        )
        if bias.shape != (len(weight),):
            raise ValueError(f"the head's bias must have shape ({len(weight)},), got {bias.shape}")
        cell_params = dict(
            cell="gru" if layer.cell == "gru_reset_before" else layer.cell,
            hidden_size=layer.hidden_size,
            num_layers=layer.num_layers,
            bidirectional=layer.bidirectional,
            dropout=layer.dropout,
            dtype=layer.dtype.name,
            output=output,
        )
        if cell_params["cell"] == "gru":
            cell_params["reset_after"] = layer.cell == "gru"
        est = cls(**{**cell_params, **params})
        clash = {k: v for k, v in cell_params.items() if est.get_params()[k] != v}
        if clash:
            raise ValueError(f"parameters {clash} are fixed by the layer; do not pass others")
        est._validate_params()
        net = est._init_network(layer.input_size, len(weight), rng=None)
        state = layer.state_dict()
        for name, p in net.rnn.params.items():  # a layer without biases: zeros
            p[...] = state.get(name, 0)
        net.weight[...], net.bias[...] = weight, bias
        est.network_ = net
        est.n_features_in_ = est._step_features = layer.input_size
        est._fitted_2d, est._n_outputs = False, len(weight)
        est.n_iter_, est.t_, est.best_loss_ = 0, 0, np.inf
        est.loss_curve_, est.validation_scores_, est.validation_loss_curve_ = [], [], []
        return est

    def stream(self, batch_size=1):
        """Predict step by step: a stream that carries the recurrent state.

        ``stream.step(x_t)`` takes ``[batch_size, n_features]`` (one step) or
        ``[batch_size, k, n_features]`` and returns the predictions after
        each step: what :meth:`predict` gives for the sequences so far
        (``output="last"``) or for that step (``output="sequence"``).
        ``reset()`` starts new sequences; ``state`` reads and sets the state.
        A step of a small model costs about a microsecond of Python; see
        :class:`fastrnn.nn.Stream` for threads. Classifiers' streams also
        have ``step_proba``.

        Parameters
        ----------
        batch_size : int, default=1
            Sequences stepped together.

        Returns
        -------
        PredictionStream
            The stream; it holds a copy of the weights: refitting does not
            change it.

        Raises
        ------
        ValueError
            For a bidirectional model (its reverse direction needs the whole
            sequence first), a model reading token ids, or one pooling over
            whole sequences (``output="mean"`` or ``"max"``).
        """
        from fastrnn._prediction_stream import PredictionStream

        check_is_fitted(self, "network_")
        if self.embedding_dim is not None:
            raise ValueError("a model reading token ids cannot stream (streams take number steps)")
        if self.output in ("mean", "max"):
            raise ValueError(
                f"output={self.output!r} pools over whole sequences: such a model cannot stream"
            )
        return PredictionStream(self, batch_size)

    # -- model files ----------------------------------------------------------

    # Fitted attributes a model file holds in its JSON document (arrays apart).
    _SAVED_FITTED = (
        "n_features_in_",
        "_step_features",
        "_fitted_2d",
        "_n_outputs",
        "n_iter_",
        "t_",
        "best_loss_",
        "loss_curve_",
        "validation_scores_",
        "validation_loss_curve_",
    )

    def _to_file(self):
        check_is_fitted(self, "network_")
        fitted = {k: files.json_value(getattr(self, k)) for k in self._SAVED_FITTED}
        if self.embedding_dim is not None:  # token input
            fitted["vocab_size_"] = int(self.vocab_size_)
        arrays = {"flat_params": self.network_.flat_params}
        if self.embedding_weights is not None:  # a parameter, an array
            arrays["param.embedding_weights"] = np.asarray(self.embedding_weights)
        self._targets_to_file(fitted, arrays)
        if hasattr(self, "feature_names_in_"):
            arrays["feature_names_in"] = np.asarray(self.feature_names_in_, dtype=str)
        # Callbacks are code: not saved (a loaded model has none).
        params = {k: files.json_value(v) for k, v in self.get_params().items() if k != "callbacks"}
        return {"params": params, "fitted": fitted}, arrays

    @classmethod
    def _from_file(cls, fields, arrays, trust_patterns):
        params = dict(fields["params"])
        if "param.embedding_weights" in arrays:
            params["embedding_weights"] = files.finite_array(
                arrays["param.embedding_weights"], "embedding_weights"
            )
        for key in ("quantiles", "head_hidden_sizes", "hidden_size"):  # tuples, before JSON
            if isinstance(params.get(key), list):
                params[key] = tuple(params[key])
        est = cls(**params)
        est._validate_params()
        fitted = fields["fitted"]
        for key in cls._SAVED_FITTED:
            setattr(est, key, fitted[key])
        est._targets_from_file(fitted, arrays)
        if "feature_names_in" in arrays:
            est.feature_names_in_ = arrays["feature_names_in"].astype(object)
        vocab = 0
        if est.embedding_dim is not None:
            est.vocab_size_ = vocab = fitted["vocab_size_"]
            if isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 2:
                raise ValueError("vocab_size_ is not a vocabulary size")
        flat = arrays["flat_params"]
        files.check_declared_size(est, est._step_features, est._n_outputs, vocab, flat)
        est.network_ = est._init_network(est._step_features, est._n_outputs, rng=None)
        files.copy_params(est.network_, flat)
        return est

    def _sequence_outputs(self, out, lengths):
        """Sequence predictions as an array, or a list of ``[T_i, ...]`` for ragged X."""
        if lengths is None:
            return out
        return [o[:n] for o, n in zip(out, lengths)]

    def _steps(self, X, y, sample_weight):
        """``(y_true, y_pred, weights)`` of a sequence model, one row per valid step,
        for a score per step (``sample_weight``, per sample, repeated over its steps)."""
        pred = self.predict(X)
        per_sample = [np.asarray(p) for p in pred]
        truth = [np.asarray(t) for t in (y if isinstance(y, (list, tuple)) else np.asarray(y))]
        if len(truth) != len(per_sample):
            raise ValueError(f"y has {len(truth)} samples, X has {len(per_sample)}")
        for t, p in zip(truth, per_sample):
            if t.shape[0] != p.shape[0]:
                raise ValueError(f"a sample of y has {t.shape[0]} steps, its X {p.shape[0]}")
        steps = np.array([p.shape[0] for p in per_sample])
        y_true = np.concatenate([t.reshape(len(t), -1) for t in truth])
        y_pred = np.concatenate([p.reshape(len(p), -1) for p in per_sample])
        if y_true.shape[1] == 1:
            y_true, y_pred = y_true[:, 0], y_pred[:, 0]
        weights = None if sample_weight is None else np.repeat(np.asarray(sample_weight), steps)
        return y_true, y_pred, weights


@complete_docstring(
    _PARAMETER_DOCS,
    _ATTRIBUTE_DOCS,
    seeds="initial weights, shuffling and dropout",
    fitted="the target scaling",
    outputs="predictions",
    val_score="val_r2",
    attributes=(*_ATTRIBUTES, "feature_names_in_"),
)
class RNNRegressor(RegressorMixin, _BaseRNN):
    """Recurrent network regressor: RNN, LSTM or GRU with a linear head.

    Fits sequences ``X`` to targets ``y`` by minibatch training with Adam,
    SGD or RMSprop. Targets are standardised inside ``fit`` and predictions
    mapped back, so ``y`` of any scale trains well.

    Parameters
    ----------
    early_stopping : bool, default=False
        Hold out the last ``validation_fraction`` of the samples (the tail, so
        that overlapping windows of one series do not leak into the hold-out),
        stop when its loss stops improving and keep the weights of its best
        epoch. With ``fit(validation_data=...)`` that data is the hold-out
        instead; ``partial_fit`` holds out nothing.
    loss : {"squared_error", "huber", "quantile", "gaussian"}, default="squared_error"
        The training loss, on the standardised targets. "squared_error":
        half the mean squared error. "huber": the Huber loss with delta 1,
        quadratic for errors within one standard deviation of the target and
        linear beyond, less swayed by outliers. "quantile": one output per
        level of ``quantiles`` for each target, trained with the pinball loss
        (:meth:`predict_quantiles`). "gaussian": a mean and a standard
        deviation (softplus) per target, trained with the Gaussian negative
        log-likelihood (``predict(X, return_std=True)``). The last two need
        ``output="last"``; such a model cannot be streamed or exported to
        ONNX.
    quantiles : array-like of float, default=(0.1, 0.5, 0.9)
        Increasing levels in (0, 1), for ``loss="quantile"``.

    Attributes
    ----------
    loss_curve_ : list of float
        Training loss after each epoch, the mean over the epoch's minibatches
        of the loss on the *standardised* targets (each output minus its
        mean, over its standard deviation): for ``"squared_error"`` half the
        mean squared error, ``0.5 * MSE / var(y)`` for one output — Keras'
        ``history["loss"]`` with ``loss="mse"`` is ``2 * var(y)`` times it.
        Comparable across data sets of any scale; 0.5 is a constant
        prediction of the mean.
    validation_scores_ : list of float
        R² on the held-out rows after each epoch (with ``early_stopping`` or
        ``validation_data``).
    validation_loss_curve_ : list of float
        The loss on the held-out rows after each epoch, in the units of
        ``loss_curve_`` (with ``early_stopping`` or ``validation_data``).

    See Also
    --------
    RNNClassifier : The same network with a softmax head.
    sklearn.neural_network.MLPRegressor : A feed-forward network.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 10, 2))
    >>> y = X[:, :, 0].sum(axis=1)
    >>> model = RNNRegressor(hidden_size=16, max_iter=50, random_state=0).fit(X, y)
    >>> model.predict(X[:2]).shape
    (2,)
    """

    _parameter_constraints = {
        **_BaseRNN._parameter_constraints,
        "loss": [StrOptions({"squared_error", "huber", "quantile", "gaussian"})],
        "quantiles": ["array-like"],
    }

    __init__ = _storing_init({"loss": "squared_error", "quantiles": (0.1, 0.5, 0.9)})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    _score_name = "r2"

    @property
    def _loss_name(self):
        return self.loss

    def _levels(self):
        """``quantiles`` as a checked float64 array."""
        q = np.asarray(self.quantiles, dtype=np.float64)
        if q.ndim != 1 or len(q) < 1 or not np.all((q > 0) & (q < 1)) or np.any(np.diff(q) <= 0):
            raise ValueError(
                "quantiles must be increasing levels strictly between 0 and 1, "
                f"got {self.quantiles!r}"
            )
        return q

    @property
    def _copies(self):
        """Network outputs per target: a quantile each, mean and spread, or the value."""
        if self.loss == "quantile":
            return len(self._levels())
        return 2 if self.loss == "gaussian" else 1

    def _loss_fn(self):
        if self.loss != "quantile":
            return LOSSES[self.loss]
        levels = np.tile(self._levels(), self._n_outputs // self._copies)
        return functools.partial(LOSSES["quantile"], levels=levels)

    def _encode_y(self, y, shape, lengths, fit):
        """Targets as the network learns them; ``shape`` is X's ``(samples, steps)``."""
        dtype = np.dtype(self.dtype)
        if self.output == "sequence":
            if val.is_ragged_list(y) or (lengths is not None and isinstance(y, (list, tuple))):
                yp, _ = val.pad_sequences(y, dtype, "y")
            else:
                yp = check_array(y, allow_nd=True, ensure_2d=True, dtype=[np.float64, np.float32])
                if yp.ndim == 2:
                    yp = yp[:, :, None]
            if yp.shape[:2] != tuple(shape):
                raise ValueError(
                    f"with output='sequence', y must have one target per time step: "
                    f"y has shape {yp.shape[:2]}, X has {tuple(shape)} (samples, steps)"
                )
            flat = (
                yp[step_mask(lengths, yp.shape[1])]
                if lengths is not None
                else yp.reshape(-1, yp.shape[2])
            )
            self._y_2d = True
        else:
            yp = check_array(y, ensure_2d=False, dtype=[np.float64, np.float32])
            if yp.ndim not in (1, 2):
                raise ValueError(f"y must be 1-D or 2-D, got shape {yp.shape}")
            if len(yp) != shape[0]:
                raise ValueError(f"X has {shape[0]} samples but y has {len(yp)}")
            if fit:
                self._y_2d = yp.ndim == 2
            yp = yp.reshape(len(yp), -1)
            flat = yp
        copies = self._copies
        if copies > 1:
            if self.output == "sequence":
                raise ValueError(f"loss={self.loss!r} needs output='last'")
            # Each target repeated per output that predicts it (target-major
            # for quantiles: [t0 q0, t0 q1, ..., t1 q0, ...]; a Gaussian head's
            # means then spreads): the network, its files and exports see
            # plain outputs, with the target's scaling on each.
            yp = np.repeat(yp, copies, axis=1) if self.loss == "quantile" else np.tile(yp, 2)
            flat = yp
        if fit:
            self._n_outputs = yp.shape[-1]
            self._y_mean = flat.mean(axis=0)
            scale = flat.std(axis=0)
            self._y_scale = np.where(scale > 0, scale, 1.0)
        elif yp.shape[-1] != self._n_outputs:
            raise ValueError(
                f"y has {yp.shape[-1] // copies} outputs, the model was fitted with "
                f"{self._n_outputs // copies}"
            )
        return ((yp - self._y_mean) / self._y_scale).astype(dtype)

    def _class_weighted(self, sw, y):
        return sw

    def _targets_to_file(self, fitted, arrays):
        fitted["_y_2d"] = bool(self._y_2d)
        arrays["y_mean"] = np.asarray(self._y_mean, np.float64)
        arrays["y_scale"] = np.asarray(self._y_scale, np.float64)

    def _targets_from_file(self, fitted, arrays):
        self._y_2d = fitted["_y_2d"]
        y_mean = files.finite_array(arrays["y_mean"], "y_mean").astype(np.float64)
        y_scale = files.finite_array(arrays["y_scale"], "y_scale").astype(np.float64)
        if not np.all(y_scale > 0) or y_mean.shape != y_scale.shape:
            raise ValueError("y_scale is not positive, or not shaped as y_mean")
        self._y_mean, self._y_scale = y_mean, y_scale

    def _score_raw(self, pred, y, lengths):
        if self.loss == "gaussian":  # the means; the spreads' columns repeat y
            k = pred.shape[1] // 2
            pred, y = pred[:, :k], y[:, :k]
        if self.output == "sequence":
            mask = step_mask(lengths, pred.shape[1])
            pred, y = (
                (pred[mask], y[mask])
                if mask is not None
                else (pred.reshape(-1, pred.shape[2]), y.reshape(-1, y.shape[2]))
            )
        return r2_score(y, pred)

    @complete_docstring(_SCORE_DOCS, _ARGUMENT_DOCS)
    def score(self, X, y, sample_weight=None):
        """Return the R² of the predictions; with ``output="sequence"``, over every valid step.

        A sequence model is scored step by step: the R² of all steps of all
        samples together (padding left out), as Keras' per-step metrics, not
        per whole sequence. This is what ``cross_val_score`` and
        ``GridSearchCV`` use.

        Returns
        -------
        float
            The coefficient of determination (1 is perfect; uniform over the
            outputs for 2-D ``y``).
        """
        if self.output != "sequence":
            return super().score(X, y, sample_weight)
        from sklearn.metrics import r2_score

        y_true, y_pred, weights = self._steps(X, y, sample_weight)
        return float(r2_score(y_true, y_pred, sample_weight=weights))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the network to sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_timesteps * n_features), or list of arrays (T_i, n_features)
            The sequences: a 3-D array, a 2-D array whose columns are the time
            steps (each ``n_features`` consecutive columns one step), or a list
            of per-sample arrays of different lengths (ragged: each runs for its
            own steps; padding never enters the loss). With ``embedding_dim``,
            token ids instead (see ``embedding_dim``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets; with ``output="sequence"``, of shape
            (n_samples, n_timesteps[, n_outputs]) or a list of per-sample
            arrays for ragged X.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss; None weighs them equally.
        validation_data : tuple (X_val, y_val), optional
            Held-out data scored after every epoch (``validation_scores_``,
            ``validation_loss_curve_``) in place of a split of ``X``: with
            ``early_stopping``, training stops on its loss and keeps the best
            epoch, as Keras' ``fit(validation_data=...)`` with early stopping.

        Returns
        -------
        object
            The fitted estimator, ``self``.

        Notes
        -----
        A fit that fails leaves the estimator as it was. One interrupted
        (Ctrl-C, ``KeyboardInterrupt``) keeps the weights of the best epoch so
        far, warns, and raises the interrupt again, so a loop or a search
        around it stops too.
        """
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    @classmethod
    def from_torch(cls, rnn, head, *, output="last", **params):
        """A fitted regressor around weights trained in PyTorch.

        ``predict(X)`` gives ``head(h_n of the top layer)`` (``output="last"``,
        both directions' states concatenated when bidirectional) or ``head``
        of every step's output (``output="sequence"``), as the PyTorch model
        computes it; no target scaling is applied.

        Parameters
        ----------
        rnn : torch.nn.RNN, LSTM or GRU (or a fastrnn.nn layer)
            The recurrent layer, read without importing torch; it fixes
            ``cell``, ``hidden_size``, ``num_layers``, ``bidirectional``,
            ``dropout``, ``dtype`` and (GRU) ``reset_after``.
        head : torch.nn.Linear, or ``(weight, bias)`` arrays
            The linear head on the top layer's features: ``weight`` of shape
            (n_outputs, hidden_size * directions), ``bias`` of shape
            (n_outputs,) or None for zeros.
        output : {"last", "sequence"}, default="last"
            Whether the head reads the final state or every step's output.
        **params
            Other estimator parameters (for further training with
            ``partial_fit``, ``n_threads``, ...); the layer fixes the cell's.

        Returns
        -------
        RNNRegressor
            Fitted: it predicts, saves, streams and exports as one trained here.
        """
        est = cls._from_layers(rnn, head, output, params)
        est._y_2d = est._n_outputs > 1
        est._y_mean, est._y_scale = np.zeros(est._n_outputs), np.ones(est._n_outputs)
        return est

    @_fit_context(prefer_skip_nested_validation=True)
    @complete_docstring(_ARGUMENT_DOCS)
    def partial_fit(self, X, y, sample_weight=None):
        """Train one epoch over ``(X, y)``, continuing from the current weights.

        The first call starts a model as ``fit`` does (the input's shape and
        the target scaling come from it); later calls keep the optimizer's
        state. Nothing is held out: ``early_stopping`` does not apply.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets, as for :meth:`fit`.

        Returns
        -------
        object
            The estimator, ``self``.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    @complete_docstring(_ARGUMENT_DOCS)
    def predict(self, X, return_std=False):
        """Predict targets.

        Parameters
        ----------
        return_std : bool, default=False
            Also return the predicted standard deviation (``loss="gaussian"``
            only), as scikit-learn's ``GaussianProcessRegressor``.

        Returns
        -------
        y : ndarray or list of ndarray
            Of shape (n_samples,) or (n_samples, n_outputs); with
            ``output="sequence"`` (n_samples, n_timesteps[, n_outputs]), or a
            list of per-sample arrays for ragged X. With ``loss="quantile"``
            the quantile nearest the median (all of them:
            :meth:`predict_quantiles`); with ``loss="gaussian"`` the mean.
        y_std : ndarray
            With ``return_std`` only: the standard deviations, shaped as ``y``.
        """
        if return_std and self.loss != "gaussian":
            raise ValueError("return_std needs loss='gaussian'")
        if self._copies > 1:
            out, _ = self._raw_predict(X)
            out = out.astype(np.float64)
            if self.loss == "quantile":
                y = self._quantiles_of(out)[..., np.argmin(np.abs(self._levels() - 0.5))]
                return y
            k = self._n_outputs // 2
            y = self._squeezed(out[:, :k] * self._y_scale[:k] + self._y_mean[:k])
            std = self._squeezed(gaussian_std(out[:, k:]) * self._y_scale[:k])
            return (y, std) if return_std else y
        out, lengths = self._raw_predict(X)
        y = out.astype(np.float64) * self._y_scale + self._y_mean
        if self._one_target():
            y = y[..., 0]
        if self.output == "sequence":
            if lengths is not None:
                y[~step_mask(lengths, y.shape[1])] = 0
            return self._sequence_outputs(y, lengths)
        return y

    @complete_docstring(_ARGUMENT_DOCS)
    def predict_quantiles(self, X):
        """Predict every quantile of ``quantiles`` (``loss="quantile"``).

        Returns
        -------
        ndarray of shape (n_samples, n_quantiles) or (n_samples, n_outputs, n_quantiles)
            The quantiles (the second shape for 2-D ``y``), increasing along
            the last axis (sorted: separately trained outputs can cross).
        """
        if self.loss != "quantile":
            raise ValueError("predict_quantiles needs loss='quantile'")
        out, _ = self._raw_predict(X)
        return self._quantiles_of(out.astype(np.float64))

    def _quantiles_of(self, out):
        """Raw quantile outputs ``[N, k * Q]`` as sorted values ``[N, (k,) Q]``."""
        Q = self._copies
        y = (out * self._y_scale + self._y_mean).reshape(len(out), -1, Q)
        return self._squeezed(np.sort(y, axis=-1))

    def _squeezed(self, y):
        """``y [N, k, ...]`` without its target axis for a 1-D ``y`` (``output="last"``)."""
        return y[:, 0] if self._one_target() else y

    def _one_target(self):
        """Whether predictions drop their last axis (a single target)."""
        if self.output == "sequence":  # y was [N, T] or [N, T, 1]: per-step values
            return self._n_outputs == 1
        return not self._y_2d


@complete_docstring(
    _PARAMETER_DOCS,
    _ATTRIBUTE_DOCS,
    seeds="initial weights, shuffling, dropout and the ``early_stopping`` hold-out",
    fitted="the classes",
    outputs="probabilities",
    val_score="val_accuracy",
    attributes=("classes_", *_ATTRIBUTES, "feature_names_in_"),
)
class RNNClassifier(ClassifierMixin, _BaseRNN):
    """Recurrent network classifier: RNN, LSTM or GRU with a softmax head.

    Fits sequences ``X`` to class labels ``y`` (one per sequence, or one per
    step with ``output="sequence"``) by minibatch training on the
    cross-entropy, with Adam, SGD or RMSprop.

    Parameters
    ----------
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples (a stratified random
        sample; a plain random one with ``output="sequence"`` or when a class
        has too few samples to stratify), stop when its loss stops improving
        and keep the weights of its best epoch. With
        ``fit(validation_data=...)`` that data is the hold-out instead;
        ``partial_fit`` holds out nothing.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, as in scikit-learn's classifiers:
        a dict of label to weight, or "balanced" (inversely proportional to
        the classes' frequencies in ``y``); they multiply ``sample_weight``.
        With ``output="sequence"``, a sample's weight is that of its first
        step's label.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; ``predict_proba``'s columns follow them.
    loss_curve_ : list of float
        Training loss after each epoch: the mean cross-entropy (nats) over the
        epoch's minibatches.
    validation_scores_ : list of float
        Accuracy on the held-out rows after each epoch (with
        ``early_stopping`` or ``validation_data``).
    validation_loss_curve_ : list of float
        The cross-entropy on the held-out rows after each epoch.

    See Also
    --------
    RNNRegressor : The same network with a linear head, for regression.
    sklearn.neural_network.MLPClassifier : A feed-forward network.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 12, 1))
    >>> y = (X[:, :, 0].mean(axis=1) > 0).astype(int)
    >>> clf = RNNClassifier(hidden_size=16, max_iter=30, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints = {
        **_BaseRNN._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    __init__ = _storing_init({"class_weight": None})

    _loss_name = "cross_entropy"
    _score_name = "accuracy"

    def _encode_y(self, y, shape, lengths, fit):
        """Class indices; ``shape`` is X's ``(samples, steps)``."""
        shape = tuple(shape)
        if self.output == "sequence":
            if isinstance(y, (list, tuple)) and lengths is not None:
                yp = np.zeros(shape, dtype=object)
                for i, yi in enumerate(y):
                    yi = column_or_1d(_from_one_hot(yi, steps_ndim=1))
                    if len(yi) != lengths[i]:
                        raise ValueError(f"y[{i}] has {len(yi)} labels for {lengths[i]} steps")
                    yp[i, : len(yi)] = yi
                    yp[i, len(yi) :] = yi[0]  # padding: any valid label, never in the loss
                yp = yp.astype(np.asarray(y[0]).dtype)
            else:
                yp = _from_one_hot(y, steps_ndim=2)
            if yp.shape != shape:
                raise ValueError(
                    f"with output='sequence', y must have shape {shape} "
                    f"(samples, steps) of labels, or one-hot {shape} + (n_classes,); "
                    f"got {yp.shape}"
                )
            labels = yp[step_mask(lengths, yp.shape[1])] if lengths is not None else yp.ravel()
        else:
            labels = column_or_1d(y, warn=True)
            if len(labels) != shape[0]:
                raise ValueError(f"X has {shape[0]} samples but y has {len(labels)}")
            yp = labels
        check_classification_targets(labels)
        if fit:
            self._label_encoder = LabelEncoder().fit(labels)
            self.classes_ = self._label_encoder.classes_
            self._n_outputs = len(self.classes_)
            if self._n_outputs < 2 and not getattr(self, "_partial_classes", None):
                raise ValueError(
                    f"the classifier needs samples of at least 2 classes; got one class "
                    f"({self.classes_[0]!r})"
                )
        unseen = np.setdiff1d(np.unique(labels), self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels not seen in the first fit: {unseen}")
        return np.searchsorted(self.classes_, yp).astype(np.intp)

    def _class_weighted(self, sw, y):
        if self.class_weight is None:
            return sw
        labels = y if y.ndim == 1 else y[:, 0]
        cw = compute_sample_weight(self.class_weight, labels).astype(self.dtype)
        return cw if sw is None else sw * cw

    def _targets_to_file(self, fitted, arrays):
        classes = np.asarray(self.classes_)
        if classes.dtype.kind == "O":
            if not all(isinstance(c, str) for c in classes):
                raise TypeError("save() can store class labels that are numbers or strings only")
            classes = classes.astype(str)
        arrays["classes"] = classes

    def _targets_from_file(self, fitted, arrays):
        classes = arrays["classes"]
        if classes.ndim != 1 or len(classes) < 2 or not np.all(classes[1:] > classes[:-1]):
            # (LabelEncoder sorts them: stored unsorted, every label would be another's)
            raise ValueError("classes are not at least two distinct labels in sorted order")
        self.classes_ = classes
        self._label_encoder = LabelEncoder().fit(classes)

    def _score_raw(self, pred, y, lengths):
        if self.output == "sequence":
            mask = step_mask(lengths, pred.shape[1])
            pred, y = (
                (pred[mask], y[mask])
                if mask is not None
                else (pred.reshape(-1, pred.shape[2]), y.ravel())
            )
        return accuracy_score(y, pred.argmax(axis=-1))

    def _split_validation(self, n, y, rng):
        from sklearn.model_selection import train_test_split

        labels = y if y.ndim == 1 else None
        idx = np.arange(n)
        try:
            return train_test_split(
                idx,
                test_size=self.validation_fraction,
                stratify=labels,
                random_state=int(rng.integers(2**31)),
            )
        except ValueError:  # too few samples of a class to stratify
            return train_test_split(
                idx, test_size=self.validation_fraction, random_state=int(rng.integers(2**31))
            )

    @complete_docstring(_SCORE_DOCS, _ARGUMENT_DOCS)
    def score(self, X, y, sample_weight=None):
        """Return the accuracy; with ``output="sequence"``, the share of valid steps right.

        A sequence model is scored step by step (padding left out), as
        Keras' ``accuracy`` metric, not by whole sequences matched exactly.
        This is what ``cross_val_score`` and ``GridSearchCV`` use.

        Returns
        -------
        float
            The share of samples (or steps) labelled right.
        """
        if self.output != "sequence":
            return super().score(X, y, sample_weight)
        from sklearn.metrics import accuracy_score

        y_true, y_pred, weights = self._steps(X, y, sample_weight)
        return float(accuracy_score(y_true, y_pred, sample_weight=weights))

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the network to sequences ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features), \
                (n_samples, n_timesteps * n_features), or list of arrays (T_i, n_features)
            The sequences, as for :meth:`RNNRegressor.fit` (token ids with
            ``embedding_dim``).
        y : array-like of shape (n_samples,)
            The labels; with ``output="sequence"``, of shape
            (n_samples, n_timesteps), a list of per-sample label arrays, or
            one-hot rows (an extra last axis, Keras' ``to_categorical``).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss (times ``class_weight``'s).
        validation_data : tuple (X_val, y_val), optional
            Held-out data scored after every epoch (``validation_scores_``,
            ``validation_loss_curve_``) in place of a split of ``X``: with
            ``early_stopping``, training stops on its loss and keeps the best
            epoch. Its labels must be among those of ``y``.

        Returns
        -------
        object
            The fitted estimator, ``self``.

        Notes
        -----
        Failures and interrupts as in :meth:`RNNRegressor.fit`.
        """
        self._partial_classes = None
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    @classmethod
    def from_torch(cls, rnn, head, classes=None, *, output="last", **params):
        """A fitted classifier around weights trained in PyTorch.

        The head's outputs are the logits of ``classes`` (in that order):
        ``predict_proba`` is their softmax. See :meth:`RNNRegressor.from_torch`.

        Parameters
        ----------
        rnn : torch.nn.RNN, LSTM or GRU (or a fastrnn.nn layer)
            The recurrent layer; it fixes the cell's parameters, as in
            :meth:`RNNRegressor.from_torch`.
        head : torch.nn.Linear, or ``(weight, bias)`` arrays
            The linear head giving the logits: ``weight`` of shape
            (n_classes, hidden_size * directions), ``bias`` of shape
            (n_classes,) or None for zeros.
        classes : array-like of shape (n_outputs,), default=None
            The label of each head output, sorted and distinct, as
            ``classes_`` always is; None means ``0 .. n_outputs - 1``.
        output : {"last", "sequence"}, default="last"
            Whether the head reads the final state or every step's output.
        **params
            Other estimator parameters.

        Returns
        -------
        RNNClassifier
            Fitted: it predicts, saves, streams and exports as one trained here.
        """
        est = cls._from_layers(rnn, head, output, params)
        classes = np.arange(est._n_outputs) if classes is None else np.asarray(classes)
        if classes.shape != (est._n_outputs,) or est._n_outputs < 2:
            raise ValueError(
                f"classes must list one label per head output ({est._n_outputs}, at least 2), "
                f"got shape {classes.shape}"
            )
        if len(np.unique(classes)) != len(classes) or np.any(np.unique(classes) != classes):
            raise ValueError("classes must be sorted and distinct, as classes_ is")
        est.classes_ = est._partial_classes = classes
        est._label_encoder = LabelEncoder().fit(classes)
        return est

    @_fit_context(prefer_skip_nested_validation=True)
    @complete_docstring(_ARGUMENT_DOCS)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train one epoch over ``(X, y)``, continuing from the current weights.

        The first call starts a model (a failed first call leaves none);
        later calls keep the optimizer's state. Nothing is held out:
        ``early_stopping`` does not apply.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            The labels, as for :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Every label the model will meet, required on the first call (a
            batch may lack some); ignored afterwards.

        Returns
        -------
        object
            The estimator, ``self``.
        """
        if hasattr(self, "network_"):
            return self._fit(X, y, sample_weight, incremental=True)
        if classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        with _restored_on_failure(self):  # a failed first call leaves no half-fitted model
            self._partial_classes = np.unique(classes)
            self.classes_ = self._partial_classes
            self._label_encoder = LabelEncoder().fit(self.classes_)
            self._n_outputs = len(self.classes_)
            self._training_data(X, y, None, reset=True, fit=False, check_only=True)
            rng = as_generator(self.random_state)
            self.network_ = self._new_network(rng)
            self._optimizer = self._new_optimizer()
            self._rng = rng
            self.loss_curve_, self.validation_scores_, self.validation_loss_curve_ = [], [], []
            self.t_, self.n_iter_, self.best_loss_ = 0, 0, np.inf
            return self._fit(X, y, sample_weight, incremental=True)

    @complete_docstring(_ARGUMENT_DOCS)
    def predict_log_proba(self, X):
        """Predict the log of the class probabilities, computed stably from the logits.

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or list of ndarray
            The log-probabilities, columns following ``classes_``; with
            ``output="sequence"`` per step: (n_samples, n_timesteps,
            n_classes), or a list of per-sample arrays for ragged X.
        """
        out, lengths = self._raw_predict(X)
        logp = log_softmax(out.reshape(-1, out.shape[-1]).astype(np.float64)).reshape(out.shape)
        return self._sequence_outputs(logp, lengths) if self.output == "sequence" else logp

    @complete_docstring(_ARGUMENT_DOCS)
    def predict_proba(self, X):
        """Predict the class probabilities: the softmax of the logits.

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or list of ndarray
            The probabilities, columns following ``classes_``; with
            ``output="sequence"`` per step: (n_samples, n_timesteps,
            n_classes), or a list of per-sample arrays for ragged X.
        """
        out, lengths = self._raw_predict(X)
        p = softmax(out.astype(np.float64), axis=-1)
        return self._sequence_outputs(p, lengths) if self.output == "sequence" else p

    @complete_docstring(_ARGUMENT_DOCS)
    def predict(self, X):
        """Predict the most likely class labels.

        Returns
        -------
        ndarray of shape (n_samples,) or list of ndarray
            Labels from ``classes_``; with ``output="sequence"`` per step:
            (n_samples, n_timesteps), or a list of per-sample arrays for
            ragged X.
        """
        out, lengths = self._raw_predict(X)
        labels = self.classes_[out.argmax(axis=-1)]
        return self._sequence_outputs(labels, lengths) if self.output == "sequence" else labels
