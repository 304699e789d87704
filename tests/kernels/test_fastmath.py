"""The float32 activations of the compiled kernels against float64 NumPy."""

import importlib

import numpy as np
import pytest

from tests.helpers import COMPILED

X = np.concatenate(
    [
        np.linspace(-100, 100, 400_001),
        np.linspace(-1, 1, 100_001),
        [0.0, -0.0, 1e-30, -1e-30, 1e-8, 88.0, -88.0, 1e30, -1e30, np.inf, -np.inf],
    ]
).astype(np.float32)
EXACT = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}
MODULES = {"cython": "fastrnn._kernels._driver", "numba": "fastrnn._kernels._numba"}


@pytest.fixture(params=COMPILED)
def kernels(request):
    return importlib.import_module(MODULES[request.param])


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_fast_float32_activation_is_within_a_few_ulp(kernels, name):
    got = kernels.activation(name, X)
    assert got.dtype == np.float32
    got = got.astype(np.float64)
    with np.errstate(over="ignore"):  # exp(1e30) in the reference
        ref = EXACT[name](X.astype(np.float64))
    err = np.abs(got - ref)
    # Relative to the result; below 1e-30 (sigmoid's far tail, where exp is
    # clamped to keep 2^n a normal float) only the absolute error counts.
    assert np.max(err / np.maximum(np.abs(ref), 1e-30)) < 3e-7
    assert np.max(err) < 1.2e-7
    assert np.all((got >= -1) & (got <= 1))


def _pointwise_kernels():
    driver = pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")
    names = []
    for name in ("avx512", "avx2", "generic"):
        try:
            driver.activation("tanh", np.zeros(1, np.float32), kernel=name)
            names.append(name)
        except ValueError:
            pass
    return names


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_every_simd_version_of_the_cells_activations_is_within_a_few_ulp(name):
    # The fused cell pass runs this CPU's widest version; each one that the
    # CPU can run is held to the same bounds (also at odd lengths: masked tails).
    driver = pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")
    for kernel in _pointwise_kernels():
        for x in (X, X[:1001]):
            got = driver.activation(name, x, kernel=kernel).astype(np.float64)
            with np.errstate(over="ignore"):
                ref = EXACT[name](x.astype(np.float64))
            err = np.abs(got - ref)
            assert np.max(err / np.maximum(np.abs(ref), 1e-30)) < 3e-7, kernel
            assert np.max(err) < 1.2e-7, kernel
        assert np.isnan(driver.activation(name, np.float32([np.nan] * 3), kernel=kernel)).all()


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_activation_is_odd_or_symmetric_and_propagates_nan(kernels, name):
    pos = kernels.activation(name, X[X > 0])
    neg = kernels.activation(name, -X[X > 0])
    if name == "tanh":
        np.testing.assert_array_equal(neg, -pos)
    else:
        np.testing.assert_allclose(neg, 1 - pos, atol=1.2e-7)
    assert np.isnan(kernels.activation(name, np.float32([np.nan]))[0])


def test_float64_activations_keep_full_precision(kernels):
    x = np.linspace(-20, 20, 10001)
    # libm's functions; NumPy's own SIMD tanh may differ from them in the last bit.
    np.testing.assert_allclose(kernels.activation("tanh", x), np.tanh(x), rtol=4e-16, atol=0)
    np.testing.assert_allclose(
        kernels.activation("sigmoid", x), 1 / (1 + np.exp(-x)), rtol=4e-16, atol=0
    )


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_numba_and_cython_activations_agree_closely(name):
    if len(COMPILED) < 2:
        pytest.skip("needs both compiled backends")
    a, b = (importlib.import_module(MODULES[m]) for m in ("cython", "numba"))
    for x in (X, np.linspace(-20, 20, 10001)):
        np.testing.assert_allclose(
            a.activation(name, x), b.activation(name, x), rtol=3e-7, atol=1e-30
        )
