"""What several test files share: kernel problems, tolerances, optional imports.

Imported as ``from tests.helpers import ...``; ``conftest.py`` keeps the
fixtures only.
"""

import os

import numpy as np
import pytest

from fastrnn._kernels import GATES, backends

# The golden model files of every released format version (tests/data/).
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# The repository's root.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CELLS = tuple(GATES)
COMPILED = [b for b in ("cython", "numba") if b in backends()]
# Relative tolerance of a compiled backend against the float64 reference.
RTOL = {np.float64: 1e-10, np.float32: 1e-4}


def assert_close(actual, expected, rtol, err_msg=""):
    """Elementwise ``rtol``, with an absolute floor of ``rtol`` times the array's scale.

    Gradients summed over many steps carry rounding error of the size of
    their largest entries, so entries near zero are judged against that scale.
    """
    scale = float(np.abs(expected).max()) if np.size(expected) else 0.0
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-3), err_msg=err_msg
    )


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


def require(module, install):
    """Import ``module``; skip without it locally, but fail in CI, where these tests must run."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed ({install})", allow_module_level=True)


def require_torch():
    """torch, for the parity tests (see :func:`require`)."""
    return require("torch", "pip install torch==2.13.0")


def copy_network_into_torch(net, embedding, rnn, head):
    """Give torch's ``Embedding``, recurrent module and ``Linear`` the weights of ``net``."""
    import torch

    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(net.embedding.weight))
        for name, p in rnn.named_parameters():
            p.copy_(torch.from_numpy(net.rnn.params[name]))
        head.weight.copy_(torch.from_numpy(net.weight))
        head.bias.copy_(torch.from_numpy(net.bias))


def resigned(src, change, dst=None):
    """Model file ``src`` rewritten (to ``dst``, default in place) with ``change(config,
    arrays)`` applied and a matching checksum: what anyone who knows the format can
    do (the checksum is not a signature). A signature is kept as it was."""
    import json

    from fastrnn._persistence import _digest

    with np.load(src) as archive:
        arrays = {k: archive[k] for k in archive.files}
    config = json.loads(str(arrays.pop("config")))
    config.pop("sha256")
    signature = config.pop("signature", None)  # only the key makes one
    change(config, arrays)
    config["sha256"] = _digest(config, arrays)
    if signature is not None:
        config["signature"] = signature
    np.savez(src if dst is None else dst, config=np.array(json.dumps(config)), **arrays)
