"""The backend registry: names, lazy imports, and the fallback of "auto"."""

import subprocess
import sys

import pytest

from fastrnn import _kernels
from fastrnn._kernels import BackendFallbackWarning, backends, get_backend

needs_kernels = pytest.mark.skipif(
    "cython" not in backends(), reason="the compiled kernels are not built here"
)


@needs_kernels
def test_import_fastrnn_neither_imports_numba_nor_compiles():
    code = (
        "import sys, fastrnn; from fastrnn.nn import LSTM; LSTM(2, 3);"
        "assert 'numba' not in sys.modules, 'numba imported';"
        "assert 'fastrnn._kernels._numba' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_kernels
def test_a_fit_with_n_threads_does_not_import_numba():
    # Limiting threads looks at the loaded libraries once the compiled kernels
    # are: that must not load the other backends (numba costs seconds).
    code = (
        "import sys, warnings, numpy as np, fastrnn;"
        "X = np.zeros((8, 3, 2), np.float32); y = np.arange(8) % 2;"
        "warnings.simplefilter('ignore');"
        "fastrnn.RNNClassifier(max_iter=1, n_threads=1).fit(X, y);"
        "assert 'numba' not in sys.modules, 'numba imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_kernels
def test_auto_is_cython_when_the_extension_is_built():
    assert get_backend("auto").__name__ == "fastrnn._kernels._driver"


def test_auto_falls_back_with_one_warning(monkeypatch):
    # Numba where it is installed (the numba extra), else the NumPy reference.
    fallback = "numba" if "numba" in _kernels.backends() else "numpy"
    monkeypatch.setitem(_kernels._MODULES, "cython", "fastrnn._kernels._not_built")
    monkeypatch.setattr(_kernels, "_warned_fallback", False)
    with pytest.warns(BackendFallbackWarning, match=f"'{fallback}' backend"):
        assert get_backend("auto").__name__ == _kernels._MODULES[fallback]
    assert "cython" not in _kernels.backends()


def test_a_missing_named_backend_is_an_import_error(monkeypatch):
    monkeypatch.setitem(_kernels._MODULES, "cython", "fastrnn._kernels._not_built")
    with pytest.raises(ImportError, match="'cython' backend is not available"):
        get_backend("cython")


def test_unknown_backend_name_is_a_value_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        get_backend("gpu")


@pytest.mark.parametrize(
    "setting, mode, cached", [("0", 0o700, False), (None, 0o777, False), (None, 0o700, True)]
)
def test_numba_caches_only_where_no_one_else_writes(tmp_path, setting, mode, cached):
    # Numba reads its cache index with pickle: a cache others can write is a
    # way to run code in this process.
    pytest.importorskip("numba")
    import os

    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, mode)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env.pop("FASTRNN_NUMBA_CACHE", None)
    if setting is not None:
        env["FASTRNN_NUMBA_CACHE"] = setting
    code = "from fastrnn._kernels import _numba; print(_numba._JIT['cache'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(cached)


def test_every_backend_keeps_the_written_contract():
    import types

    from fastrnn._kernels import _contract

    for name in _kernels.backends():
        module = get_backend(name)
        _contract.check_backend(module)
        assert isinstance(module, _contract.Backend)
    # A flag promises members: set without them, the backend is refused by name.
    reference = get_backend("numpy")
    fake = types.ModuleType("fake_backend")
    fake.__dict__.update({k: getattr(reference, k) for k in dir(reference) if k[0] != "_"})
    fake.INFERS_STACKS = True
    with pytest.raises(TypeError, match="lacks infer .InfersStacks"):
        _contract.check_backend(fake)
    fake.INFERS_STACKS = False
    fake.PREPARES_WEIGHTS = True  # with prepare and same_bytes, but a forward without prepared=
    fake.prepare = lambda cell, w_ih, w_hh, b_ih, b_hh: None
    fake.same_bytes = lambda a, b: True
    with pytest.raises(TypeError, match="forward takes .*PreparesWeights"):
        _contract.check_backend(fake)
    fake.PREPARES_WEIGHTS = False
    fake.backward = lambda cache, dout: None  # a parameter short
    with pytest.raises(TypeError, match=r"backward takes \['cache', 'dout'\]"):
        _contract.check_backend(fake)
