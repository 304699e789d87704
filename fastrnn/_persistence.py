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

This module holds the file's envelope only. Each model says what it saves
and how it is rebuilt from a file (:class:`SavedModel`: ``_to_file`` and
``_from_file``) and has a row in the table of names ``_MODELS``;
scikit-learn's ``Pipeline`` of such steps is described here, as it is not
ours to change.

Format versions: 1 (the first); 2 (a forecaster's scaling, season and
differencing; a version-1 forecaster reads as ``scaling="global"``). Files
of every version are kept
in ``tests/data/`` and must keep loading: a new version adds a step to
``_UPGRADES`` that turns a file of the version before into one of the new,
so the models only ever read the current version.
"""

import hashlib
import hmac
import importlib
import json
import numbers
import os
import stat
import tempfile
import tokenize
import zipfile

import numpy as np

from fastrnn import _validation as val
from fastrnn._kernels import GATES

FORMAT = "fastrnn-model"
FORMAT_VERSION = 3


def _forecasters(config, arrays, prefix=""):
    """``(config, arrays prefix)`` of each forecaster in a file (alone, or a pipeline's step)."""
    if config.get("estimator") == "RNNForecaster":
        yield config, prefix
    for i, step in enumerate(config.get("steps", ())):
        yield from _forecasters(step, arrays, f"{prefix}step{i}.")


def _v1_to_v2(config, arrays):
    """Version 2 scales a forecaster's windows (``scaling``, season, differencing).

    A version-1 forecaster scaled the whole series once: it becomes
    ``scaling="global"`` without season or differencing, and its interval
    quantiles, stored in the series' units, are stored in units of that
    scale, as version 2 keeps them.
    """
    for forecaster, prefix in _forecasters(config, arrays):
        params = forecaster["params"]
        params.update(scaling="global", seasonal_period=None, d=0, D=0)
        if isinstance(forecaster.get("fitted"), dict):
            forecaster["fitted"].update(scaling_="global", n_series_=None, time_index_=None)
        key = prefix + "residual_quantiles_"
        if key in arrays:
            arrays[key] = arrays[key] / forecaster["fitted"]["scale_"]
    return config, arrays


def _v2_to_v3(config, arrays):
    """Version 3 names the one-network strategy "mimo" (version 2's "direct"), holds a
    forecaster's regressors as a list (``inners``, arrays ``estimator{j}.``) and
    adds season features, series ids, distribution heads and a chosen seasonal
    differencing (``D_``), which a version-2 forecaster did not have (its ``D``
    was the one used); its ``residual_quantiles_`` are ``interval_offsets_``."""
    for forecaster, prefix in _forecasters(config, arrays):
        params = forecaster["params"]
        if params.get("strategy") == "direct":
            params["strategy"] = "mimo"
        params.update(season_features=False, series_id=False, uncertainty="residuals")
        fitted = forecaster.get("fitted")
        if isinstance(fitted, dict):
            n = fitted.get("n_series_")
            start = 0 if n is None else [0] * n
            fitted.update(
                cycles_=[], series_ids_=None, history_start_=start, validation_loss_curve_=[]
            )
            fitted["D_"] = params.get("D", 0)
        forecaster["inners"] = [forecaster.pop("inner")]
        key = prefix + "residual_quantiles_"  # what the interval adds: more than quantiles now
        if key in arrays:
            arrays[prefix + "interval_offsets_"] = arrays.pop(key)
        old, new = prefix + "estimator.", prefix + "estimator0."
        for key in [k for k in arrays if k.startswith(old)]:
            arrays[new + key[len(old) :]] = arrays.pop(key)
    return config, arrays


# _UPGRADES[v](config, arrays) -> (config, arrays) of version v + 1; load
# applies every step from a file's version up to FORMAT_VERSION before a
# model reads it, so the models only ever read the current version.
_UPGRADES = {1: _v1_to_v2, 2: _v2_to_v3}

# The classes a file may name: name -> (module, class), imported when a file
# names one (the models import this module, not it them). A new model is a row
# here and a SavedModel subclass.
_MODELS = {
    "RNNRegressor": ("fastrnn._estimators", "RNNRegressor"),
    "RNNClassifier": ("fastrnn._estimators", "RNNClassifier"),
    "RNNForecaster": ("fastrnn._forecasting", "RNNForecaster"),
    "RNNLanguageModel": ("fastrnn._language_model", "RNNLanguageModel"),
    "TextTokenizer": ("fastrnn.text", "TextTokenizer"),
}


def _model_class(name):
    """The class a file's ``name`` stands for, or None."""
    if not isinstance(name, str) or name not in _MODELS:
        return None
    module, attr = _MODELS[name]
    return getattr(importlib.import_module(module), attr)


class SavedModel:
    """A model that writes itself to a model file and is rebuilt from one.

    A subclass implements ``_to_file()`` -> ``(fields, arrays)``: a JSON-able
    dict (at least ``params``, usually ``fitted``) and named arrays; and the
    class method ``_from_file(fields, arrays, trust_patterns)`` that checks
    every field it reads (a file is untrusted input: a bad field raises
    ``ValueError`` naming it) and returns the fitted model. Nested models
    (a forecaster's regressor) go through :func:`describe` and :func:`rebuild`.
    """

    def save(self, path, *, key=None):
        """Save the fitted model to ``path`` in fastrnn's pickle-free format.

        The same as :func:`fastrnn.save` of this model; read it back with
        :func:`fastrnn.load`.

        Parameters
        ----------
        path : str or path-like
            Written exactly there, whatever its suffix, atomically (a failed
            save leaves the previous file as it was).
        key : str or bytes, optional
            Sign the file with this secret (HMAC-SHA256):
            ``fastrnn.load(path, key=...)`` then refuses any file not signed
            with it.
        """
        save(self, path, key=key)


def json_value(value):
    """``value`` as JSON holds it (NumPy scalars as Python's); None for what JSON cannot."""
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
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
    estimator : estimator or Pipeline
        A fitted RNNRegressor, RNNClassifier, RNNLanguageModel, RNNForecaster
        or TextTokenizer (a :mod:`fastrnn.dask` estimator is saved as its
        plain equivalent), or a fitted scikit-learn Pipeline whose steps
        before the last are TextTokenizers or scikit-learn's code-free
        preprocessing (scalers, ``SimpleImputer``, ``OneHotEncoder`` and a
        ``ColumnTransformer`` of those; the user guide lists them) and whose last
        step is one of those models.
    path : str or path-like
        Written exactly there, whatever its suffix (``.npz`` is usual: the
        file is a NumPy ``.npz`` archive; ``m.save("m.keras")`` writes
        ``m.keras``).
    key : str or bytes, optional
        Sign the file with this secret (HMAC-SHA256 over everything in it),
        for files that cross a trust boundary: ``load(path, key=...)`` then
        refuses any file not signed with the same key. Keep the key apart
        from the files.

    Raises
    ------
    TypeError
        For another kind of model or pipeline step (one holding code).

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
    from fastrnn._version import __version__

    if hasattr(estimator, "to_local"):  # fastrnn.dask's: its plain equivalent is saved
        estimator = estimator.to_local()
    config, arrays = describe(estimator)
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


def describe(model):
    """``(config, arrays)`` of a fitted model: its name, JSON-able fields and named arrays."""
    name = type(model).__name__
    if name == "Pipeline":
        return _describe_pipeline(model)
    if _model_class(name) is not type(model):
        known = ", ".join(_MODELS)
        raise TypeError(f"save() takes a fitted fastrnn estimator ({known}), got {name}")
    fields, arrays = model._to_file()
    return {"estimator": name, **fields}, arrays


def rebuild(config, arrays, trust_patterns=False):
    """The model ``config`` (of the current format version) and ``arrays`` describe."""
    name = config["estimator"]
    if name == "Pipeline":
        return _rebuild_pipeline(config, arrays, trust_patterns)
    cls = _model_class(name)
    if cls is None:
        raise ValueError(f"unknown estimator {name!r}")
    fields = {k: v for k, v in config.items() if k != "estimator"}
    return cls._from_file(fields, arrays, trust_patterns)


def prefixed(arrays, prefix):
    """The arrays whose names start with ``prefix``, without it (a nested model's)."""
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def load(path, *, key=None, trust_patterns=False):
    """Load an estimator written by :func:`save`.

    The file is read as untrusted input: no code runs from it (no pickle),
    its members' sizes and array headers are checked before anything is
    decompressed or allocated, and every field is checked before a model is
    built from it.

    Parameters
    ----------
    path : str or path-like
        The model file. If nothing is at ``path`` but ``path + ".npz"``
        exists, that is read (what versions before 0.1 wrote for such a
        path).
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

    Returns
    -------
    estimator or Pipeline
        The fitted model (or pipeline) the file holds, ready to predict, of
        the class that was saved (a :mod:`fastrnn.dask` estimator comes back
        as its plain equivalent).

    Raises
    ------
    ValueError
        If the file is not a fastrnn model, is truncated or corrupt, was
        edited after it was written (and its checksum not recomputed: see
        the user guide on what the checksum does and does not protect), comes
        from a newer format version, or declares more than it holds.
    """
    if not os.path.exists(path) and os.path.exists(os.fspath(path) + ".npz"):
        path = os.fspath(path) + ".npz"  # what save() wrote for this path before 0.1
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
        for step in range(version, FORMAT_VERSION):
            config, arrays = _UPGRADES[step](config, arrays)
        return rebuild(config, arrays, trust_patterns)
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


def check_declared_size(model, n_inputs, n_outputs, vocab, flat):
    """Refuse a network larger than the parameters the file holds, before building it.

    (A 7.5 KB file declaring ``hidden_size=6000`` allocated 1.8 GB before its
    parameters were found too few.) ``model`` has ``cell``, ``hidden_size``,
    ``num_layers`` (and maybe ``bidirectional``). The count is a lower bound:
    the layers' weights, the head's and the embedding's, biases left out.
    """
    for value, what in ((n_inputs, "features per step"), (n_outputs, "outputs")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"the model's {what} is not a positive integer: {value!r}")
    G = GATES[model.cell]
    dirs = 2 if getattr(model, "bidirectional", False) else 1
    widths = np.atleast_1d(np.asarray(model.hidden_size, dtype=np.int64))
    if widths.size == 1:
        widths = np.repeat(widths, model.num_layers)
    weights, d_in = 0, n_inputs
    for H in (int(h) for h in widths):  # each layer: its input and recurrent weights
        weights += dirs * G * H * (d_in + H)
        d_in = dirs * H
    needed = weights + n_outputs * d_in + vocab * n_inputs
    if needed > flat.size:
        raise ValueError(f"the model declares at least {needed} parameters but holds {flat.size}")


def finite_array(a, name):
    """``a`` if it holds real numbers, all finite; else ``ValueError`` naming it."""
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} holds {a.dtype}, not real numbers")
    val.check_finite(a, name)
    return a


def copy_params(net, params):
    """Copy a file's flat parameters into the network built for them."""
    finite_array(params, "flat_params")
    if params.shape != net.flat_params.shape:
        raise ValueError(
            f"flat_params has shape {params.shape}, the network needs {net.flat_params.shape}"
        )
    net.flat_params[:] = params


def _describe_pipeline(pipeline):
    """A Pipeline of saved transformers (TextTokenizer, scikit-learn's code-free
    steps of ``_sklearn_steps``) ending in a saved model.

    Step ``i``'s fields go in ``steps[i]`` with its name, its arrays under
    ``step{i}.``.
    """
    from fastrnn import _sklearn_steps

    steps, arrays = [], {}
    *transformers, last = pipeline.steps
    for name, step in transformers:
        ours = _model_class(type(step).__name__) is type(step) and hasattr(step, "transform")
        if not (ours or _sklearn_steps.is_step(step)):
            raise TypeError(
                "save() stores pipelines of TextTokenizer steps or scikit-learn's "
                f"{', '.join(_sklearn_steps.STEPS)} (NaN as the missing value, no indicator) "
                "or OneHotEncoder (dense, categories found by 'auto'), or a "
                "ColumnTransformer of those on lists of columns, "
                f"ending in a fastrnn estimator; step {name!r} is a {type(step).__name__} "
                "(pickle or skops.io store any step)"
            )
    if type(last[1]).__name__ == "Pipeline":
        raise TypeError("save() stores one pipeline, not a pipeline inside a pipeline")
    for i, (name, step) in enumerate(pipeline.steps):
        code_free = i < len(transformers) and _sklearn_steps.is_step(step)
        config, step_arrays = (_sklearn_steps.describe if code_free else describe)(step)
        steps.append({"name": name, **config})
        arrays.update({f"step{i}.{k}": v for k, v in step_arrays.items()})
    return {"estimator": "Pipeline", "steps": steps}, arrays


def _rebuild_pipeline(config, arrays, trust_patterns):
    from sklearn.pipeline import Pipeline

    from fastrnn import _sklearn_steps

    steps = []
    *transformers, last = config["steps"]
    for step in transformers:
        if step["estimator"] in _sklearn_steps.NAMES:
            continue
        cls = _model_class(step["estimator"])
        if cls is None or not hasattr(cls, "transform"):
            raise ValueError(f"unknown pipeline step {step['estimator']!r}")
    if last["estimator"] == "Pipeline":  # save never writes one; nesting took exponential time
        raise ValueError("a pipeline's last step is a pipeline")
    for i, step in enumerate(config["steps"]):
        fields = {k: v for k, v in step.items() if k != "name"}
        step_arrays = prefixed(arrays, f"step{i}.")
        if i < len(transformers) and fields["estimator"] in _sklearn_steps.NAMES:
            model = _sklearn_steps.rebuild(fields, step_arrays)
        else:
            model = rebuild(fields, step_arrays, trust_patterns)
        steps.append((step["name"], model))
    return Pipeline(steps)
