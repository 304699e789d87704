"""The float32 activations of the Cython kernels against float64 NumPy."""

import numpy as np
import pytest

_driver = pytest.importorskip("fastrnn._kernels._driver")

X = np.concatenate(
    [
        np.linspace(-100, 100, 400_001),
        np.linspace(-1, 1, 100_001),
        [0.0, -0.0, 1e-30, -1e-30, 1e-8, 88.0, -88.0, 1e30, -1e30],
    ]
).astype(np.float32)
EXACT = {"tanh": np.tanh, "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_fast_float32_activation_is_within_a_few_ulp(name):
    got = _driver.activation(name, X).astype(np.float64)
    ref = EXACT[name](X.astype(np.float64))
    err = np.abs(got - ref)
    # Relative to the result; below 1e-30 (sigmoid's far tail, where exp is
    # clamped to keep 2^n a normal float) only the absolute error counts.
    assert np.max(err / np.maximum(np.abs(ref), 1e-30)) < 3e-7
    assert np.max(err) < 1.2e-7
    assert np.all((got >= -1) & (got <= 1))


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_activation_is_odd_or_symmetric_and_propagates_nan(name):
    pos = _driver.activation(name, X[X > 0])
    neg = _driver.activation(name, -X[X > 0])
    if name == "tanh":
        np.testing.assert_array_equal(neg, -pos)
    else:
        np.testing.assert_allclose(neg, 1 - pos, atol=1.2e-7)
    assert np.isnan(_driver.activation(name, np.float32([np.nan]))[0])


def test_float64_activations_keep_full_precision():
    x = np.linspace(-20, 20, 10001)
    # libm's tanh; NumPy's own SIMD tanh may differ from it in the last bit.
    np.testing.assert_allclose(_driver.activation("tanh", x), np.tanh(x), rtol=4e-16, atol=0)
