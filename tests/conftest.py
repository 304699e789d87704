"""Shared fixtures and helpers for the kernel and layer tests."""

import numpy as np
import pytest

from fastrnn._kernels import GATES, backends

CELLS = tuple(GATES)
COMPILED = [b for b in ("cython", "numba") if b in backends()]
# Tolerances of a compiled backend against the float64 reference, per dtype.
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


def make_problem(cell, T, B, D, H, dtype=np.float64, ragged=False, seed=0, scale=0.5):
    """Random inputs, states, weights and upstream gradients for one kernel call."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]

    def rand(*shape):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    lengths = rng.integers(1, T + 1, size=B) if ragged else None
    if ragged:
        lengths[0] = T  # keep the longest step in play
    return dict(
        x=rand(T, B, D),
        h0=rand(B, H),
        c0=rand(B, H) if cell == "lstm" else None,
        w_ih=rand(G * H, D),
        w_hh=rand(G * H, H),
        b_ih=rand(G * H),
        b_hh=rand(G * H),
        lengths=lengths,
        dout=rand(T, B, H),
        dh_n=rand(B, H),
        dc_n=rand(B, H) if cell == "lstm" else None,
    )


def run_kernel(module, cell, p):
    """Forward and backward of one backend module on problem ``p``."""
    out, h_n, c_n, cache = module.forward(
        cell,
        p["x"],
        p["h0"],
        p["c0"],
        p["w_ih"],
        p["w_hh"],
        p["b_ih"],
        p["b_hh"],
        lengths=p["lengths"],
    )
    grads = module.backward(cache, p["dout"], p["dh_n"], p["dc_n"])
    return (out, h_n, c_n), grads


@pytest.fixture(params=CELLS)
def cell(request):
    return request.param
