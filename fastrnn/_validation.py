"""Input checks at the edge of the public API, in one place.

Each function validates one argument, converts it to the buffer layout the
kernels expect (time-major, C-contiguous, the model's dtype) and raises a
``ValueError`` or ``TypeError`` that names the argument and the problem.
Inside the package, buffers that came through here are trusted.
"""

import numbers
import sys

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def user_stacklevel():
    """The ``stacklevel`` that makes a warning point at the user's line.

    For ``warnings.warn`` called in the function that calls this: the count
    of frames up to the first one outside fastrnn and scikit-learn (a fit or
    predict reaches the check through a varying number of their calls:
    ``score`` is scikit-learn's, calling fastrnn's ``predict``).
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        ("fastrnn", "sklearn")
    ):
        frame, level = frame.f_back, level + 1
    return level


def check_dtype(dtype):
    """Return ``dtype`` as a NumPy float32 or float64 dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from exc
    if dt.type not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


def check_bool(value, name):
    """Return ``value`` as a bool, refusing anything but True or False (NumPy's too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(value, name, minimum=1):
    """Return ``value`` as an int, checking it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def as_float_array(a, dtype, name):
    """Convert ``a`` to a C-contiguous array of ``dtype``, rejecting non-numbers.

    Arrays of another float or integer dtype, and non-contiguous arrays, are
    converted (a copy), not rejected. A torch tensor is accepted too.
    """
    if hasattr(a, "detach") and hasattr(a, "numpy"):  # torch.Tensor, without importing torch
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} is complex; fastrnn works on real numbers")
    refuse_dates(arr, name)  # (astype would turn them into nanoseconds since 1970)
    if arr.dtype.kind not in "fiub":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}") from exc
    return np.ascontiguousarray(arr, dtype=dtype)


def refuse_dates(X, name):
    """Raise ``TypeError`` if ``X`` (an array, or a DataFrame's columns) holds dates or durations.

    scikit-learn's ``check_array`` converts them to float (nanoseconds since
    1970), which no model of fastrnn's means."""
    if hasattr(X, "columns") and hasattr(X, "dtypes"):  # a DataFrame
        kinds = {d.kind for d in X.dtypes}
    elif isinstance(X, (list, tuple)):  # of per-sample arrays
        kinds = {getattr(getattr(x, "dtype", None), "kind", "") for x in X}
    else:
        kinds = {getattr(getattr(X, "dtype", None), "kind", "")}
    if kinds & set("mM"):
        raise TypeError(f"{name} holds dates or durations; convert them to numbers")


def check_finite(arr, name):
    """Raise ``ValueError`` if ``arr`` holds NaN or infinity.

    min and max propagate NaN and expose infinities, so two vectorised passes
    without temporaries do what ``np.isfinite(arr).all()`` does at a fraction
    of its cost.
    """
    if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        raise ValueError(f"{name} contains NaN or infinity")


def check_sequences(x, input_size, dtype, batch_first, name="x", values=True):
    """Validate a batch of sequences and return it time-major.

    Parameters
    ----------
    x : array-like of shape [B, T, D] (``batch_first``) or [T, B, D]
    input_size : int
        Expected D.
    dtype : numpy dtype
    batch_first : bool
    values : bool, default=True
        Check that every value is finite (a pass over ``x``); False for data
        checked once already (a training minibatch).

    Returns
    -------
    x : ndarray [T, B, D], C-contiguous, of ``dtype``
    """
    arr = as_float_array(x, dtype, name) if not isinstance(x, np.ndarray) else x
    if arr.ndim != 3:
        layout = "(batch, time, features)" if batch_first else "(time, batch, features)"
        raise ValueError(f"{name} must be a 3-D array {layout}, got shape {arr.shape}")
    if batch_first:
        arr = arr.transpose(1, 0, 2)
    T, B, D = arr.shape
    if B == 0 or T == 0:
        raise ValueError(f"{name} is empty: {B} sequences of {T} steps")
    if D != input_size:
        raise ValueError(f"{name} has {D} features per step, but the layer expects {input_size}")
    arr = as_float_array(arr, dtype, name)
    if values:
        check_finite(arr, name)
    return arr


def check_projected(xw, n_directions, width, dtype):
    """Validate the per-direction input products of ``forward_projected``.

    Parameters
    ----------
    xw : list or tuple of array-like [T, B, width], one per direction
    n_directions : int
    width : int
        Values per step (the gates: ``G * hidden_size``).
    dtype : numpy dtype

    Returns
    -------
    list of ndarray [T, B, width], C-contiguous, of ``dtype``, one shape
    """
    if not isinstance(xw, (list, tuple)):
        raise TypeError(
            f"xw must be a list of {n_directions} arrays [T, B, {width}], one per direction, "
            f"got {type(xw).__name__}"
        )
    if len(xw) != n_directions:
        raise ValueError(f"xw must hold {n_directions} arrays, one per direction, got {len(xw)}")
    out = []
    for d, a in enumerate(xw):
        arr = check_sequences(a, width, dtype, batch_first=False, name=f"xw[{d}]")
        if out and arr.shape != out[0].shape:
            raise ValueError(
                f"xw[{d}] has shape {arr.shape} but xw[0] has {out[0].shape}: "
                "every direction reads the same steps of the same batch"
            )
        out.append(arr)
    return out


def check_token_ids(ids, name, upper=None):
    """``ids`` as an intp array of token ids: integers, or whole finite floats,
    at least 0 and, with ``upper``, below it (the vocabulary's size)."""
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu" and arr.size:
        whole = arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
        if not whole:
            raise TypeError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    arr = arr.astype(np.intp, copy=False)
    if not arr.size:
        return arr
    if upper is not None and (arr.min() < 0 or arr.max() >= upper):
        raise ValueError(f"{name} must lie in [0, {upper}), got {arr.min()}..{arr.max()}")
    if arr.min() < 0:
        raise ValueError(f"{name} holds a negative token id ({arr.min()})")
    return arr


def check_lengths(lengths, batch_size, n_steps):
    """Validate per-sequence lengths; return them as an intp array or None.

    Every length must be an integer in ``[1, n_steps]`` and there must be one
    per sequence.
    """
    if lengths is None:
        return None
    if hasattr(lengths, "detach") and hasattr(lengths, "numpy"):
        lengths = lengths.detach().cpu().numpy()
    arr = np.asarray(lengths)
    if arr.ndim != 1:
        raise ValueError(f"lengths must be a 1-D array, got shape {arr.shape}")
    if arr.shape[0] != batch_size:
        raise ValueError(
            f"lengths has {arr.shape[0]} entries but the batch has {batch_size} sequences"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError("lengths must be whole numbers")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.intp)
    if arr.min() < 1:
        raise ValueError(f"lengths must be >= 1, got {arr.min()} (an empty sequence has no output)")
    if arr.max() > n_steps:
        raise ValueError(f"lengths must be <= the number of time steps {n_steps}, got {arr.max()}")
    return arr


def check_state(h, shape, dtype, name, values=True):
    """Validate an initial state (or its gradient) of the given shape (``values``: finite)."""
    arr = as_float_array(h, dtype, name)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {arr.shape}")
    if values:
        check_finite(arr, name)
    return arr


def pad_sequences(seqs, dtype, name="X"):
    """Stack a list of ``[T_i, F]`` arrays into ``[N, max T_i, F]`` plus lengths.

    1-D items are univariate sequences ``[T_i]``. Padded steps are zero; the
    kernels never read them.
    """
    arrays = []
    for i, s in enumerate(seqs):
        a = as_float_array(s, dtype, f"{name}[{i}]")
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(f"{name}[{i}] must be 2-D (time, features), got shape {a.shape}")
        if a.shape[0] == 0:
            raise ValueError(f"{name}[{i}] is an empty sequence")
        check_finite(a, f"{name}[{i}]")
        arrays.append(a)
    if not arrays:
        raise ValueError(f"{name} is an empty list: 0 samples")
    widths = {a.shape[1] for a in arrays}
    if len(widths) > 1:
        raise ValueError(f"the sequences in {name} have different feature counts {sorted(widths)}")
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.intp)
    out = np.zeros((len(arrays), lengths.max(), widths.pop()), dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out, lengths


def is_ragged_list(X):
    """True for a list or tuple of per-sample arrays (the ragged input form)."""
    return (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(np.ndim(x) in (1, 2) and not np.isscalar(x) for x in X)
        and len({np.shape(x)[0] for x in X}) > 1
    )
