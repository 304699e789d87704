"""Saving and loading fitted estimators without pickle.

A model file is one ``.npz`` archive holding the numeric arrays (the flat
parameter buffer, target scaling, classes, feature names) and one JSON
document, ``config``, with the estimator's class, parameters and fitted
state (a text pipeline's tokenizers and vocabularies too). Loading never
executes code (no pickle), checks the archive's sizes and array headers
before reading anything, and checks a SHA-256 digest over everything, so a
truncated or corrupt file is rejected with a clear ``ValueError``. The digest
is unkeyed: it catches corruption and careless edits, not someone who edits
a file and recomputes it (the fields are checked for that, not the digest).

Format versions: 1 (fastrnn 0.1). Files of every released version are kept
in ``tests/data/`` and must keep loading.
"""

import hashlib
import hmac
import json
import numbers
import os
import stat
import tempfile
import tokenize
import zipfile

import numpy as np

from fastrnn._kernels import GATES

FORMAT = "fastrnn-model"
FORMAT_VERSION = 1

# Fitted attributes stored in the JSON document (arrays go in the archive).
_FITTED = (
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


# The language model's fitted state besides its weights and vocabulary.
_LM_FITTED = ("n_iter_", "loss_curve_")


def _estimator_classes():
    from fastrnn._estimators import RNNClassifier, RNNRegressor
    from fastrnn._forecasting import RNNForecaster
    from fastrnn._language_model import RNNLanguageModel

    return {
        "RNNRegressor": RNNRegressor,
        "RNNClassifier": RNNClassifier,
        "RNNLanguageModel": RNNLanguageModel,
        "RNNForecaster": RNNForecaster,
    }


def _json_value(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (str, bool, numbers.Number, dict)):
        return value
    return None  # e.g. a RandomState instance: not reproducible from a file anyway


def _digest(config, arrays, key=None):
    """SHA-256 over the config document and every array (with ``key``: its HMAC)."""
    h = hmac.new(_key_bytes(key), digestmod=hashlib.sha256) if key is not None else hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.data if a.size else b"")  # the bytes in place, not a copy of them
    return h.hexdigest()


def _key_bytes(key):
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, (bytes, bytearray)) and len(key):
        return bytes(key)
    raise TypeError(f"key must be a non-empty str or bytes, got {type(key).__name__}")


def save(estimator, path, *, key=None):
    """Write a fitted fastrnn estimator to ``path``.

    Parameters
    ----------
    estimator : fitted RNNRegressor, RNNClassifier, RNNLanguageModel or RNNForecaster,
        or a fitted Pipeline of TextTokenizer steps ending in a regressor or classifier
    path : str or path-like
        Usually ending in ``.npz`` (added if missing, as numpy does).
    key : str or bytes, optional
        Sign the file with this secret (HMAC-SHA256 over everything in it),
        for files that cross a trust boundary: ``load(path, key=...)`` then
        refuses any file not signed with the same key. Keep the key apart
        from the files.

    Notes
    -----
    The file is written beside ``path`` under a temporary name, flushed to
    disk and renamed over ``path`` in one step: a save that fails (a full
    disk, an interrupt) leaves whatever was at ``path`` as it was, readers
    see the old file or the new one, never half of one, and a symbolic link
    at ``path`` is replaced, not followed. (A process killed outright while
    writing cannot clean up: it may leave a hidden ``.NAME.npz.XXXXXXXX``
    beside the model, never a damaged model.)
    """
    from fastrnn import __version__

    if hasattr(estimator, "to_local"):  # fastrnn.dask's: its plain equivalent is saved
        estimator = estimator.to_local()
    config, arrays = _describe(estimator)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastrnn_version": __version__,
        **config,
    }
    signature = _digest(config, arrays, key) if key is not None else None
    config["sha256"] = _digest(config, arrays)
    if signature is not None:
        config["signature"] = signature
    _write_atomically(path, lambda f: np.savez(f, config=np.array(json.dumps(config)), **arrays))


def _write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    directory = os.path.dirname(os.path.abspath(path))
    mode = 0o666 & ~_UMASK  # what a new file gets; an old regular file keeps its own
    try:
        info = os.stat(path, follow_symlinks=False)
        if stat.S_ISREG(info.st_mode):  # (not a link's 0o777)
            mode = stat.S_IMODE(info.st_mode)
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # atomic; a link at path is replaced, not followed
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # the rename itself to disk (POSIX)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask sets it to read it


def _describe(estimator):
    """``(config, arrays)`` of a fitted estimator: JSON-able fields and named arrays."""
    from sklearn.utils.validation import check_is_fitted

    name = type(estimator).__name__
    if name == "Pipeline":
        return _describe_pipeline(estimator)
    if name not in _estimator_classes():
        known = ", ".join(_estimator_classes())
        raise TypeError(f"save() takes a fitted fastrnn estimator ({known}), got {name}")
    if name == "RNNForecaster":
        return _describe_forecaster(estimator)
    check_is_fitted(estimator, "network_")
    keys = _LM_FITTED if name == "RNNLanguageModel" else _FITTED
    fitted = {k: _json_value(getattr(estimator, k)) for k in keys}
    if name != "RNNLanguageModel" and estimator.embedding_dim is not None:  # token input
        fitted["vocab_size_"] = int(estimator.vocab_size_)
    arrays = {"flat_params": estimator.network_.flat_params}
    if getattr(estimator, "embedding_weights", None) is not None:  # a parameter, an array
        arrays["param.embedding_weights"] = np.asarray(estimator.embedding_weights)
    if name == "RNNLanguageModel":
        # In the JSON (not a NumPy string array, which drops trailing NUL characters).
        fitted["vocabulary_"] = list(estimator.vocabulary_)
    elif name == "RNNRegressor":
        fitted["_y_2d"] = bool(estimator._y_2d)
        arrays["y_mean"] = np.asarray(estimator._y_mean, np.float64)
        arrays["y_scale"] = np.asarray(estimator._y_scale, np.float64)
    else:
        classes = np.asarray(estimator.classes_)
        if classes.dtype.kind == "O":
            if not all(isinstance(c, str) for c in classes):
                raise TypeError("save() can store class labels that are numbers or strings only")
            classes = classes.astype(str)
        arrays["classes"] = classes
    if hasattr(estimator, "feature_names_in_"):
        arrays["feature_names_in"] = np.asarray(estimator.feature_names_in_, dtype=str)
    params = {k: _json_value(v) for k, v in estimator.get_params().items()}
    return {"estimator": name, "params": params, "fitted": fitted}, arrays


# A forecaster's fitted arrays (None where it has no exogenous features).
_FORECASTER_ARRAYS = (
    "history_",
    "exog_history_",
    "exog_mean_",
    "exog_scale_",
    "residual_quantiles_",
)


def _describe_forecaster(forecaster):
    """The forecaster's own fields, and its regressor's under ``estimator.``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(forecaster, "estimator_")
    inner, inner_arrays = _describe(forecaster.estimator_)
    params = {k: v for k, v in forecaster.get_params(deep=False).items() if k != "estimator"}
    fitted = {
        "mean_": float(forecaster.mean_),
        "scale_": float(forecaster.scale_),
        "n_exog_": int(forecaster.n_exog_),
    }
    arrays = {f"estimator.{k}": v for k, v in inner_arrays.items()}
    for key in _FORECASTER_ARRAYS:
        value = getattr(forecaster, key)
        if value is not None:
            arrays[key] = np.asarray(value, np.float64)
    config = {
        "estimator": "RNNForecaster",
        "params": _json_value(params),
        "fitted": fitted,
        "inner": inner,
    }
    return config, arrays


def load(path, *, key=None, trust_patterns=False):
    """Load an estimator written by :func:`save`.

    The file is read as untrusted input: no code runs from it (no pickle),
    its members' sizes and array headers are checked before anything is
    decompressed or allocated, and every field is checked before a model is
    built from it.

    Parameters
    ----------
    path : str or path-like
    key : str or bytes, optional
        The secret the file was signed with (``save(..., key=...)``): the file
        must carry a signature made with it, or it is refused. Without a key,
        a signature is not checked (the checksum still is).
    trust_patterns : bool, default=False
        Load a text pipeline whose ``TextTokenizer`` has its own
        ``token_pattern``. A regular expression is code of a kind: one
        crafted to backtrack takes time exponential in the length of the
        texts it is given. Without this, such a file is refused; pass True
        for files from a source you trust.

    Raises
    ------
    ValueError
        If the file is not a fastrnn model, is truncated or corrupt, was
        edited after it was written (and its checksum not recomputed: see
        the README on what the checksum does and does not protect), comes
        from a newer format version, or declares more than it holds.
    """
    try:
        arrays = _read_members(path)
    except ValueError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        KeyError,
        MemoryError,
        RecursionError,
        TypeError,
        SyntaxError,  # a malformed .npy header (numpy parses it as a Python literal)
        tokenize.TokenError,
    ) as exc:
        raise ValueError(f"{path} is not a readable fastrnn model file: {exc}") from exc
    try:
        config = json.loads(str(arrays.pop("config")))
    except (KeyError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path} is not a fastrnn model file (no valid config)") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path} is not a fastrnn model file")
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{path} has no valid model format version (got {version!r})")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version}; this fastrnn reads up to "
            f"{FORMAT_VERSION} (upgrade fastrnn)"
        )
    expected = config.pop("sha256", None)
    signature = config.pop("signature", None)
    if expected != _digest(config, arrays):
        raise ValueError(f"{path} is corrupt or was modified: its checksum does not match")
    if key is not None:
        if not isinstance(signature, str) or not hmac.compare_digest(
            signature, _digest(config, arrays, key)
        ):
            raise ValueError(f"{path} is not signed with this key")
    try:
        return _rebuild(config, arrays, trust_patterns)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        raise ValueError(f"{path} holds an inconsistent model: {exc}") from exc


# What a model file's members may hold: real numbers, booleans, text (labels,
# feature names, the config document). Anything else is refused unread.
_ARRAY_KINDS = "fiubU"
# A member may expand to at most this many times the file's size (plus a
# little): fastrnn writes its members uncompressed, and a 1 MB zip that
# expands to gigabytes is an attack, not a model.
_MAX_EXPANSION = 4
_EXPANSION_SLACK = 1 << 20


def _read_members(path):
    """The arrays of a model file by name, each member checked, then read once."""
    info = os.stat(path)  # (follows a link: reading through one is fine)
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise ValueError(f"{path} is not a regular file")
    with open(path, "rb") as raw, zipfile.ZipFile(raw) as archive:
        members = archive.infolist()
        declared = sum(m.file_size for m in members)
        if declared > _MAX_EXPANSION * info.st_size + _EXPANSION_SLACK:
            raise ValueError(
                f"{path} declares {declared} bytes of arrays in a file of {info.st_size}: "
                "refused unread (fastrnn's files are not compressed)"
            )
        arrays = {}
        for member in members:
            name = member.filename
            if not name.endswith(".npy") or name[:-4] in arrays:
                raise ValueError(f"{path} has an unexpected member {name!r}")
            with archive.open(member) as f:
                arrays[name[:-4]] = _read_array(f, member.file_size, name)
    return arrays


def _read_array(f, size, name):
    """One ``.npy`` member: its header checked against its size before its data is read."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"{name} is an .npy of version {version}, which fastrnn never writes")
    if dtype.kind not in _ARRAY_KINDS or dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"{name} holds {dtype}: a model file holds numbers and text only")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    nbytes = count * dtype.itemsize
    if nbytes > size:
        raise ValueError(f"{name} declares shape {shape} of {dtype} in a member of {size} bytes")
    buf = bytearray(nbytes)
    if f.readinto(buf) != nbytes:
        raise ValueError(f"{name} is truncated")
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(
        shape, order="F" if fortran else "C"
    )


def _rebuild(config, arrays, trust_patterns=False):
    if config["estimator"] == "Pipeline":
        return _rebuild_pipeline(config, arrays, trust_patterns)
    cls = _estimator_classes().get(config["estimator"])
    if cls is None:
        raise ValueError(f"unknown estimator {config['estimator']!r}")
    if cls.__name__ == "RNNForecaster":
        return _rebuild_forecaster(cls, config, arrays)
    params = dict(config["params"])
    if "param.embedding_weights" in arrays:
        params["embedding_weights"] = _finite(
            "embedding_weights", arrays["param.embedding_weights"]
        )
    est = cls(**params)
    est._validate_params()
    fitted = config["fitted"]
    if cls.__name__ == "RNNLanguageModel":
        return _rebuild_language_model(est, fitted, arrays)
    for key in _FITTED:
        setattr(est, key, fitted[key])
    if cls.__name__ == "RNNRegressor":
        est._y_2d = fitted["_y_2d"]
        y_mean, y_scale = _finite("y_mean", arrays["y_mean"]), _finite("y_scale", arrays["y_scale"])
        if not np.all(y_scale > 0) or y_mean.shape != y_scale.shape:
            raise ValueError("y_scale is not positive, or not shaped as y_mean")
        est._y_mean, est._y_scale = y_mean, y_scale
    else:
        from sklearn.preprocessing import LabelEncoder

        classes = arrays["classes"]
        if classes.ndim != 1 or len(classes) < 2 or not np.all(classes[1:] > classes[:-1]):
            # (LabelEncoder sorts them: stored unsorted, every label would be another's)
            raise ValueError("classes are not at least two distinct labels in sorted order")
        est.classes_ = classes
        est._label_encoder = LabelEncoder().fit(est.classes_)
    if "feature_names_in" in arrays:
        est.feature_names_in_ = arrays["feature_names_in"].astype(object)
    if est.embedding_dim is not None:
        est.vocab_size_ = fitted["vocab_size_"]
        if not isinstance(est.vocab_size_, int) or est.vocab_size_ < 2:
            raise ValueError("vocab_size_ is not a vocabulary size")
    vocab = est.vocab_size_ if est.embedding_dim is not None else 0
    _check_declared_size(est, est._step_features, est._n_outputs, vocab, arrays["flat_params"])
    net = est._init_network(est._step_features, est._n_outputs, rng=None)
    _copy_params(net, arrays["flat_params"])
    est.network_ = net
    return est


def _check_declared_size(est, n_inputs, n_outputs, vocab, flat):
    """Refuse a network larger than the parameters the file holds, before building it.

    (A 7.5 KB file declaring ``hidden_size=6000`` allocated 1.8 GB before its
    parameters were found too few.) The count is a lower bound: the layers'
    weights, the head's and the embedding's, biases left out.
    """
    for value, what in ((n_inputs, "features per step"), (n_outputs, "outputs")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"the model's {what} is not a positive integer: {value!r}")
    G, H = GATES[est.cell], est.hidden_size
    dirs = 2 if getattr(est, "bidirectional", False) else 1
    weights = dirs * G * H * (n_inputs + H) + (est.num_layers - 1) * dirs * G * H * (dirs * H + H)
    needed = weights + n_outputs * dirs * H + vocab * n_inputs
    if needed > flat.size:
        raise ValueError(f"the model declares at least {needed} parameters but holds {flat.size}")


def _finite(name, a):
    """``a`` if it holds finite real numbers (float64 for the scaling), else ValueError."""
    if a.dtype.kind not in "fiu" or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds {a.dtype} values that are not all finite numbers")
    return a.astype(np.float64) if name.startswith("y_") else a


def _copy_params(net, params):
    _finite("flat_params", params)
    if params.shape != net.flat_params.shape:
        raise ValueError(
            f"flat_params has shape {params.shape}, the network needs {net.flat_params.shape}"
        )
    net.flat_params[:] = params


def _rebuild_language_model(est, fitted, arrays):
    from fastrnn.text import RESERVED, TextTokenizer

    vocabulary = fitted["vocabulary_"]
    if not (isinstance(vocabulary, list) and all(isinstance(t, str) for t in vocabulary)):
        raise ValueError("the vocabulary is not a list of strings")
    if tuple(vocabulary[: len(RESERVED)]) != RESERVED or len(set(vocabulary)) != len(vocabulary):
        raise ValueError(
            "the vocabulary does not start with <pad>, <unk>, <eos> or repeats a token"
        )
    tokenizer = TextTokenizer(
        level=est.tokenizer,
        lowercase=est.lowercase,
        max_tokens=est.max_tokens,
        min_frequency=est.min_frequency,
    )
    tokenizer.vocabulary_ = vocabulary
    tokenizer.token_to_id_ = {t: i for i, t in enumerate(vocabulary)}
    _check_declared_size(
        est, est.embedding_dim, len(vocabulary), len(vocabulary), arrays["flat_params"]
    )
    net = est._init_network(len(vocabulary))
    _copy_params(net, arrays["flat_params"])
    for key in _LM_FITTED:
        setattr(est, key, fitted[key])
    est.tokenizer_, est.vocabulary_, est.network_ = tokenizer, vocabulary, net
    return est


def _rebuild_forecaster(cls, config, arrays):
    from sklearn.base import clone

    prefix = "estimator."
    if config["inner"].get("estimator") != "RNNRegressor":  # (checked before, not after,
        raise ValueError("a forecaster's model must be an RNNRegressor")  # a deep nesting)
    inner = _rebuild(
        config["inner"], {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    )
    if type(inner).__name__ != "RNNRegressor":
        raise ValueError("a forecaster's model must be an RNNRegressor")
    est = cls(**config["params"], estimator=clone(inner))
    est._validate_params()
    fitted = config["fitted"]
    if not isinstance(fitted, dict) or set(fitted) != {"mean_", "scale_", "n_exog_"}:
        raise ValueError("the forecaster's fitted fields are not mean_, scale_, n_exog_")
    mean, scale, k = fitted["mean_"], fitted["scale_"], fitted["n_exog_"]
    numbers_ok = all(isinstance(v, (int, float)) and np.isfinite(v) for v in (mean, scale))
    if not numbers_ok or scale <= 0:
        raise ValueError("the forecaster's scaling is not two finite numbers with scale_ > 0")
    if not isinstance(k, int) or k < 0:
        raise ValueError("n_exog_ is not a count")
    L, H = est.lookback, est.horizon
    shapes = {"history_": (L,), "residual_quantiles_": (2, H)}
    if k:
        shapes.update(exog_history_=(L, k), exog_mean_=(k,), exog_scale_=(k,))
    if set(shapes) != {key for key in _FORECASTER_ARRAYS if key in arrays}:
        raise ValueError("the forecaster's arrays do not match its exogenous features")
    for key, shape in shapes.items():
        if arrays[key].shape != shape or not np.all(np.isfinite(arrays[key])):
            raise ValueError(f"{key} has shape {arrays[key].shape}, expected finite {shape}")
    if k and not np.all(arrays["exog_scale_"] > 0):
        raise ValueError("exog_scale_ is not positive")
    outputs = H if est.strategy == "direct" else 1
    if inner._step_features != 1 + k or inner._n_outputs != outputs:
        raise ValueError("the forecaster's model does not fit its lookback, horizon and features")
    est.estimator_, est.mean_, est.scale_, est.n_exog_ = inner, float(mean), float(scale), k
    for key in _FORECASTER_ARRAYS:
        setattr(est, key, arrays[key].astype(np.float64) if key in arrays else None)
    return est


def _describe_pipeline(pipeline):
    """A Pipeline of TextTokenizer steps and a fastrnn estimator: each step's fields.

    Step ``i``'s arrays are stored under ``step{i}.``; a tokenizer's
    vocabulary goes in the JSON.
    """
    from sklearn.utils.validation import check_is_fitted

    from fastrnn.text import TextTokenizer

    steps, arrays = [], {}
    *transformers, (last_name, last) = pipeline.steps
    for name, step in transformers:
        if not isinstance(step, TextTokenizer):
            raise TypeError(
                f"save() stores pipelines of TextTokenizer steps and a fastrnn estimator; "
                f"step {name!r} is a {type(step).__name__}"
            )
        check_is_fitted(step, "vocabulary_")
        step._check_params()  # e.g. a compiled token_pattern, which JSON cannot hold
        if not all(isinstance(t, str) for t in step.vocabulary_):
            raise TypeError(f"step {name!r} has a vocabulary of non-strings")
        params = {k: _json_value(v) for k, v in step.get_params().items()}
        steps.append(
            {
                "name": name,
                "estimator": "TextTokenizer",
                "params": params,
                "fitted": {"vocabulary_": list(step.vocabulary_)},
            }
        )
    if type(last).__name__ == "Pipeline":
        raise TypeError("save() stores one pipeline, not a pipeline inside a pipeline")
    config, last_arrays = _describe(last)
    steps.append({"name": last_name, **config})
    arrays.update({f"step{len(steps) - 1}.{k}": v for k, v in last_arrays.items()})
    return {"estimator": "Pipeline", "steps": steps}, arrays


def _rebuild_pipeline(config, arrays, trust_patterns):
    from sklearn.pipeline import Pipeline

    from fastrnn.text import RESERVED, TextTokenizer

    steps = []
    *transformers, last = config["steps"]
    for step in transformers:
        if step["estimator"] != "TextTokenizer":
            raise ValueError(f"unknown pipeline step {step['estimator']!r}")
        tok = TextTokenizer(**step["params"])
        if tok.token_pattern is not None and not trust_patterns:
            raise ValueError(
                f"step {step['name']!r} has its own token_pattern {tok.token_pattern!r}; a "
                "regular expression from a file can be made to take exponential time, so "
                "load(..., trust_patterns=True) loads it, for files you trust"
            )
        tok._check_params()
        vocabulary = step["fitted"]["vocabulary_"]
        if not (isinstance(vocabulary, list) and all(isinstance(t, str) for t in vocabulary)):
            raise ValueError("a tokenizer's vocabulary is not a list of strings")
        if tuple(vocabulary[: len(RESERVED)]) != RESERVED or len(set(vocabulary)) != len(
            vocabulary
        ):
            raise ValueError("a tokenizer's vocabulary does not start with the reserved tokens")
        tok.vocabulary_ = vocabulary
        tok.token_to_id_ = {t: i for i, t in enumerate(vocabulary)}
        steps.append((step["name"], tok))
    prefix = f"step{len(steps)}."
    if last["estimator"] == "Pipeline":  # save never writes one; nesting took exponential time
        raise ValueError("a pipeline's last step is a pipeline")
    model = _rebuild(
        {k: v for k, v in last.items() if k != "name"},
        {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
    )
    steps.append((last["name"], model))
    return Pipeline(steps)
