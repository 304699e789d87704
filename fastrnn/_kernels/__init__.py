"""Backend registry: look up a kernel backend by name.

Every backend is a module keeping the contract of ``_contract.py``: the
``forward`` and ``backward`` the layers call, and capability flags
(``PREPARES_WEIGHTS``, ``TAKES_PROJECTED_INPUT``, ``HAS_STEPPER``,
``INFERS_STACKS``, ``THREADED_FLOAT32``) that say what more it can do; the
layers read the flags. A backend is checked against the contract when it is
first imported. Backends are imported lazily, so ``import fastrnn`` never
imports numba.
"""

import importlib
import warnings

import numpy as np

from fastrnn._cells import CELLS
from fastrnn._kernels._contract import check_backend

GATES = {name: cell.gates for name, cell in CELLS.items()}


def lengths_or_full(lengths, T, B):
    """The per-row lengths as a contiguous intp array (None: every row all ``T`` steps).

    The compiled loops index with them, so they are checked here, whoever
    calls: ``B`` of them, each in ``[0, T]``.
    """
    if lengths is None:
        return np.full(B, T, dtype=np.intp)
    lens = np.ascontiguousarray(lengths, dtype=np.intp)
    if lens.shape != (B,):
        raise ValueError(f"lengths must have {B} entries, got shape {lens.shape}")
    if B and (lens.min() < 0 or lens.max() > T):
        raise ValueError(f"lengths must lie in [0, {T}], got [{lens.min()}, {lens.max()}]")
    return lens


_MODULES = {
    "cython": "fastrnn._kernels._driver",
    "numba": "fastrnn._kernels._numba",
    "numpy": "fastrnn._kernels._reference",
}
_AUTO_ORDER = ("cython", "numba", "numpy")
BACKEND_NAMES = ("auto",) + tuple(_MODULES)


class BackendFallbackWarning(RuntimeWarning):
    """The preferred backend is unavailable and a slower one is used instead."""


_checked = set()


def _try_import(name):
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:  # extension not built, numba missing, ...
        return None, exc
    if name not in _checked:
        check_backend(module)  # a backend that breaks the contract is a bug: say so
        _checked.add(name)
    return module, None


def backends():
    """List the backends that work on this install, fastest first.

    Returns
    -------
    list of str
        A subset of ``['cython', 'numba', 'numpy']``: the compiled kernels,
        Numba's (with the ``numba`` extra), NumPy's reference.
    """
    return [name for name, why in backend_status() if why is None]


def backend_status():
    """List each backend, fastest first, with why it is unavailable.

    Returns
    -------
    list of (str, str or None)
        The backend's name and the reason it cannot be imported (None where
        it works).
    """
    return [
        (name, None if exc is None else str(exc))
        for name, (_, exc) in ((name, _try_import(name)) for name in _AUTO_ORDER)
    ]


def backend_name(module):
    """The registry name (``"cython"``, ...) of a backend module from :func:`get_backend`."""
    return next(name for name, path in _MODULES.items() if path == module.__name__)


_warned_fallback = False


def matmul(a, b):
    """``a [M, K] @ b [K, N]`` with each output row independent of the other rows.

    A BLAS may choose another kernel (and summation order) for another number
    of rows, so a prediction could change in its last bits with the batch it
    came in; the compiled backend's GEMM does not. Falls back to NumPy when
    the extension is not built.
    """
    module, _ = _try_import("cython")
    return a @ b if module is None else module.matmul(a, b)


def _compiled_or_reference():
    module, _ = _try_import("cython")
    return module if module is not None else importlib.import_module(_MODULES["numpy"])


def softmax_cross_entropy(z, y, w):
    """Weighted softmax cross-entropy of logits ``z [N, V]`` and its gradient.

    Returns ``(sum_i w_i * -log softmax(z_i)[y_i], w_i * (softmax(z_i) - onehot(y_i)))``:
    the compiled kernel, or NumPy's when the extension is not built.
    """
    return _compiled_or_reference().softmax_cross_entropy(z, y, w)


def reverse_within_lengths(a, lengths):
    """``a [T, B, ...]`` reversed in time within each row's length (compiled, or NumPy's).

    Steps past a row's length stay where they are, so applying it twice gives
    ``a`` back: it maps a reverse direction's input in and its output out.
    """
    module = _compiled_or_reference()
    if a.dtype.char not in "fd":
        module = importlib.import_module(_MODULES["numpy"])
    return module.reverse_within_lengths(a, lengths)


def embedding_backward(ids, dout, grad):
    """Scatter-add row ``i`` of ``dout`` into ``grad[ids[i]]`` (compiled, or NumPy's)."""
    return _compiled_or_reference().embedding_backward(ids, dout, grad)


def get_backend(name="auto"):
    """Return the backend module called ``name``.

    ``"auto"`` picks the compiled Cython backend and falls back to Numba (then
    NumPy) with a :class:`BackendFallbackWarning` — once per process — when
    the extension is not available.
    """
    global _warned_fallback
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend must be one of {list(BACKEND_NAMES)}, got {name!r}")
    if name != "auto":
        module, exc = _try_import(name)
        if module is None:
            raise ImportError(f"the {name!r} backend is not available: {exc}") from exc
        return module
    errors = []
    for candidate in _AUTO_ORDER:
        module, exc = _try_import(candidate)
        if module is not None:
            if errors and not _warned_fallback:
                _warned_fallback = True
                warnings.warn(
                    f"fastrnn: using the {candidate!r} backend because "
                    + "; ".join(errors)
                    + " (reinstall fastrnn where a C compiler is found for the compiled "
                    "kernels, several times faster; `fastrnn info` says what serves)",
                    BackendFallbackWarning,
                    stacklevel=3,
                )
            return module
        errors.append(f"the {candidate!r} backend is unavailable ({exc})")
    raise ImportError("no fastrnn backend could be imported: " + "; ".join(errors))
