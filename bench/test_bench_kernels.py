"""pytest-benchmark timings of the kernels themselves, per backend, cell and shape.

Run explicitly: ``pytest bench/`` (the project's ``testpaths`` is ``tests``,
so a plain ``pytest`` never collects this folder), e.g.::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE pytest bench/ --benchmark-group-by=param:shape
    pytest bench/ --benchmark-disable      # one call each: a quick sanity run

These time one backend's ``forward`` and ``forward`` + ``backward`` calls
directly, without the layer API around them, on time-major float32 inputs.
For comparisons with PyTorch and ONNX Runtime use ``bench/compare.py``.
Each benchmark first checks its backend against the NumPy reference on the
same inputs, so a timing of wrong numbers cannot pass.
"""

import numpy as np
import pytest

pytest.importorskip("pytest_benchmark")

from fastrnn._kernels import GATES, backends, get_backend  # noqa: E402

# (cell, T, B, D, H): batch-1 latency, a mid-size batch, a large GEMM-bound GRU.
SHAPES = [
    ("lstm", 50, 1, 8, 32),
    ("lstm", 100, 32, 16, 64),
    ("gru", 100, 64, 64, 256),
]
NUMPY_WORK_LIMIT = 250_000  # T*B*H above which the slow reference is not timed


def _id(shape):
    cell, T, B, D, H = shape
    return f"{cell}-{T}x{B}x{D}x{H}"


def problem(cell, T, B, D, H, seed=0):
    """Time-major float32 inputs of one kernel call (weights scaled like PyTorch's init)."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    bound = 1.0 / np.sqrt(H)

    def weight(*shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    return {
        "x": rng.standard_normal((T, B, D)).astype(np.float32),
        "h0": np.zeros((B, H), np.float32),
        "c0": np.zeros((B, H), np.float32) if cell == "lstm" else None,
        "w_ih": weight(G * H, D),
        "w_hh": weight(G * H, H),
        "b_ih": weight(G * H),
        "b_hh": weight(G * H),
        "dout": rng.standard_normal((T, B, H)).astype(np.float32),
    }


def forward(module, cell, p, training):
    args = (p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    return module.forward(cell, *args, training=training)


def forward_backward(module, cell, p):
    cache = forward(module, cell, p, training=True)[3]
    return module.backward(cache, p["dout"], None, None)


@pytest.fixture(params=backends())
def backend(request):
    return request.param


@pytest.fixture(params=SHAPES, ids=_id)
def shape(request, backend):
    _, T, B, _, H = request.param
    if backend == "numpy" and T * B * H > NUMPY_WORK_LIMIT:
        pytest.skip(f"numpy reference too slow to time at T*B*H={T * B * H}")
    return request.param


def _check_against_reference(module, cell, p):
    """The backend's outputs and gradients agree with the NumPy reference (float32 tolerances)."""
    ref = get_backend("numpy")
    got_out = forward(module, cell, p, training=False)[0]
    want_out = forward(ref, cell, p, training=False)[0]
    np.testing.assert_allclose(got_out, want_out, rtol=1e-3, atol=1e-4)
    got, want = forward_backward(module, cell, p), forward_backward(ref, cell, p)
    for g, w in zip(got, want):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(w).max()))


def test_forward(benchmark, backend, shape):
    cell = shape[0]
    module, p = get_backend(backend), problem(*shape)
    _check_against_reference(module, cell, p)
    benchmark.group = f"forward {_id(shape)}"
    benchmark(forward, module, cell, p, False)


def test_forward_backward(benchmark, backend, shape):
    cell = shape[0]
    module, p = get_backend(backend), problem(*shape)
    _check_against_reference(module, cell, p)
    benchmark.group = f"forward+backward {_id(shape)}"
    benchmark(forward_backward, module, cell, p)
