"""The NumPy reference against central finite differences, in float64."""

import numpy as np
import pytest

from fastrnn._kernels import _reference as ref
from tests.helpers import make_problem

PARAMS = ("x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")


def loss(cell, p):
    """A scalar that touches every output: <dout, out> + <dh_n, h_n> (+ <dc_n, c_n>)."""
    out, h_n, c_n, _ = ref.forward(
        cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["lengths"]
    )
    value = np.sum(p["dout"] * out) + np.sum(p["dh_n"] * h_n)
    if c_n is not None:
        value += np.sum(p["dc_n"] * c_n)
    return value


def numerical_gradient(cell, p, name, eps=1e-6):
    grad = np.zeros_like(p[name])
    flat, gflat = p[name].reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        up = loss(cell, p)
        flat[i] = orig - eps
        down = loss(cell, p)
        flat[i] = orig
        gflat[i] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("ragged", [False, True], ids=["full", "ragged"])
def test_reference_backward_matches_finite_differences(cell, ragged):
    p = make_problem(cell, T=5, B=3, D=3, H=4, ragged=ragged, seed=1)
    if ragged:
        p["lengths"] = np.array([5, 2, 3])
    _, _, _, cache = ref.forward(
        cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["lengths"]
    )
    analytic = dict(zip(PARAMS, ref.backward(cache, p["dout"], p["dh_n"], p["dc_n"])))
    for name in PARAMS:
        if p[name] is None:
            assert analytic[name] is None
            continue
        numeric = numerical_gradient(cell, p, name)
        err = np.abs(analytic[name] - numeric).max() / max(np.abs(numeric).max(), 1e-3)
        assert err < 1e-6, f"{cell} d{name}: relative error {err:.2e}"


def test_padded_steps_output_zero_and_get_no_gradient(cell):
    p = make_problem(cell, T=6, B=3, D=2, H=3, seed=2)
    p["lengths"] = np.array([6, 1, 4])
    out, h_n, _, cache = ref.forward(
        cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["lengths"]
    )
    assert np.all(out[1:, 1] == 0) and np.all(out[4:, 2] == 0)
    np.testing.assert_array_equal(h_n[1], out[0, 1])
    np.testing.assert_array_equal(h_n[2], out[3, 2])
    dx = ref.backward(cache, p["dout"], p["dh_n"], p["dc_n"])[0]
    assert np.all(dx[1:, 1] == 0) and np.all(dx[4:, 2] == 0)
    # A truncated sequence behaves exactly as the short sequence alone.
    short = ref.forward(
        cell,
        p["x"][:4, 2:3],
        p["h0"][2:3],
        None if p["c0"] is None else p["c0"][2:3],
        p["w_ih"],
        p["w_hh"],
        p["b_ih"],
        p["b_hh"],
    )
    np.testing.assert_allclose(short[1][0], h_n[2], rtol=1e-14)
