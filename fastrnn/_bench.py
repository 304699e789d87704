"""Side-by-side speed comparison of fastrnn's backends with PyTorch.

``bench/compare.py`` (and later ``fastrnn bench``) are thin fronts over
:func:`main`; the logic lives here because the wheel ships no ``bench/``.

What one run does, per shape of :data:`CASES` and per mode (inference, one
training step):

1. build every engine — PyTorch and each selected fastrnn backend — with the
   *same* weights and inputs, in the ``batch_first`` layout;
2. check each fastrnn backend's outputs (and, for training, input and weight
   gradients) against PyTorch, so a fast wrong kernel cannot go unnoticed;
3. warm every engine up, then time them interleaved by blocks (A B C, B C A,
   ...), so drifts of a shared machine (clock, neighbours) hit every engine
   alike, each block starting with untimed calls so that one engine's idle
   thread pools do not slow the next (see :class:`TimingPlan`);
4. report the median with its spread and ``ratio = torch median / fastrnn
   median`` (above 1: fastrnn is faster).

Both sides get the same thread count: ``torch.set_num_threads`` for PyTorch,
``threadpoolctl`` for the BLAS that fastrnn's kernels call, and
``numba.set_num_threads`` for Numba. The environment is only read, never
changed: see :func:`machine_info` about ``OPENBLAS_CORETYPE``.
"""

import argparse
import gc
import importlib.metadata
import json
import math
import os
import platform
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace

import numpy as np

import fastrnn
from fastrnn._kernels import get_backend

RTOL, ATOL = 1e-3, 1e-4
MODES = ("inference", "train")
NUMPY_WORK_LIMIT = 100_000  # T*B*H above which the numpy backend is skipped by default
# Environment variables these machines set; they cap OpenBLAS (numpy, scipy and
# so fastrnn's Cython backend) at AVX2 kernels while PyTorch ignores them.
OPENBLAS_CAPS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FAIR_COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py"

_TORCH_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}
_FASTRNN_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}


@dataclass(frozen=True)
class Case:
    """One benchmark shape: a single-layer, unidirectional recurrent layer.

    Attributes
    ----------
    cell : {"lstm", "gru", "rnn_tanh"}
    T, B, D, H : int
        Time steps, batch size, input features, hidden units.
    """

    cell: str
    T: int
    B: int
    D: int
    H: int

    @property
    def name(self):
        """Short label for the table, e.g. ``"lstm 100x64x64x256"`` (T x B x D x H)."""
        return f"{self.cell} {self.T}x{self.B}x{self.D}x{self.H}"

    @property
    def work(self):
        """``T * B * H``, the size that decides whether the slow numpy backend runs."""
        return self.T * self.B * self.H


# The shapes of DESIGN.md's "Measured reference points", float32, batch_first.
CASES = (
    Case("lstm", 100, 64, 64, 256),
    Case("lstm", 50, 128, 128, 512),
    Case("lstm", 100, 32, 16, 64),
    Case("lstm", 50, 1, 8, 32),
    Case("lstm", 1, 1, 8, 32),
    Case("gru", 100, 64, 64, 256),
    Case("gru", 100, 32, 16, 64),
    Case("rnn_tanh", 100, 32, 16, 64),
)


# -- machine description --------------------------------------------------


def _version(dist):
    """Installed version of distribution ``dist``, or None; imports nothing."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model():
    """CPU model name from ``/proc/cpuinfo`` (falls back to :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    """The vector-ISA flags that decide which GEMM kernels can run (AVX2, AVX-512)."""
    wanted = ("avx2", "fma", "avx512f", "avx512bw", "avx512_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in wanted if flag in present]
    except OSError:
        pass
    return []


def blas_info():
    """Thread pools loaded in this process (BLAS, OpenMP), as ``threadpoolctl`` sees them.

    Returns
    -------
    list of dict or None
        None when threadpoolctl is not installed. Each OpenBLAS entry has an
        ``architecture`` field: the kernel family it runs (e.g. ``SkylakeX``
        for AVX-512, ``Haswell`` for AVX2).
    """
    try:
        import threadpoolctl
    except ImportError:
        return None
    keep = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads")
    return [
        {**{k: pool.get(k) for k in keep}, "file": os.path.basename(pool.get("filepath", ""))}
        for pool in threadpoolctl.threadpool_info()
    ]


def torch_info(torch):
    """What PyTorch computes its GEMMs with, or None without torch."""
    if torch is None:
        return None
    return {
        "version": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }


def machine_info(threads, torch):
    """Everything a reader needs to judge or reproduce the numbers.

    Call it after the engines' libraries are imported and the thread limits
    are set, so the thread pools it lists are the ones the timings used.
    """
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "fastrnn": fastrnn.__version__,
            "numpy": np.__version__,
            "scipy": _version("scipy"),
            "numba": _version("numba"),
            "torch": _version("torch"),
            "threadpoolctl": _version("threadpoolctl"),
        },
        "fastrnn_path": os.path.dirname(fastrnn.__file__),
        "blas": blas_info(),
        "torch": torch_info(torch),
        # Read only: a benchmark must not change how the libraries it measures behave.
        "env": {name: os.environ.get(name) for name in OPENBLAS_CAPS},
        # Other processes on the CPUs slow every engine unevenly; say so in the record.
        "load_avg": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def format_header(info):
    """The lines printed above the table."""
    v = info["versions"]
    lines = [
        f"CPU: {info['cpu']} ({', '.join(info['cpu_flags']) or 'no AVX2/AVX-512 flags'}); "
        f"{info['affinity_cpus']} usable of {info['logical_cpus']} logical CPUs",
        f"threads: {info['threads']} for every engine",
        "versions: "
        + ", ".join(f"{name} {v[name] or '(not installed)'}" for name in v)
        + f"; fastrnn from {info['fastrnn_path']}",
    ]
    if info["torch"] is not None:
        t = info["torch"]
        lines.append(f"torch GEMM: mkl={t['mkl']} mkldnn={t['mkldnn']}")
    if info["blas"] is None:
        lines.append(
            "BLAS: threadpoolctl is not installed, so BLAS threads are NOT limited "
            "and its kernel is unknown (pip install threadpoolctl)"
        )
    else:
        for pool in info["blas"]:
            name = " ".join(str(pool[k]) for k in ("internal_api", "version") if pool[k])
            kernel = f" kernel={pool['architecture']}" if pool["architecture"] else ""
            lines.append(
                f"{pool['user_api']}: {name}{kernel} threads={pool['num_threads']} ({pool['file']})"
            )
    capped = {k: val for k, val in info["env"].items() if val is not None}
    if capped:
        settings = " ".join(f"{k}={val}" for k, val in capped.items())
        lines += [
            f"WARNING: {settings} in the environment. This caps OpenBLAS (numpy, scipy, "
            "fastrnn's cython backend) at AVX2 kernels while PyTorch ignores it, so the "
            "comparison is unfair to fastrnn on AVX-512 CPUs.",
            f"         A fair run unsets them for that command alone: {FAIR_COMMAND}",
        ]
    else:
        lines.append(f"{' and '.join(OPENBLAS_CAPS)}: not set (OpenBLAS picks its own kernel)")
    load = info["load_avg"][0]
    if load > 0.5:
        lines.append(
            f"note: load average {load:.2f} before the run: other processes use these CPUs, "
            "so absolute times are inflated and noisy (ratios, taken interleaved, suffer less)"
        )
    return lines


# -- engines ----------------------------------------------------------------


@dataclass
class Engine:
    """One implementation under test, with its inputs bound.

    Attributes
    ----------
    name : str
        ``"torch"`` or a fastrnn backend name.
    run : dict of str -> callable
        Mode -> zero-argument function doing one timed call.
    outputs : callable
        Runs one inference and one training step; returns named NumPy arrays
        (output, final state, input gradient, weight gradients) for the check.
    """

    name: str
    run: dict
    outputs: object


def make_inputs(case, seed=0):
    """Weights, input and fixed upstream gradient shared by every engine of ``case``.

    The weights come from a fastrnn layer, in PyTorch's names and layout, so
    every engine (torch included) loads the very same numbers.
    """
    rng = np.random.default_rng(seed)
    layer = _fastrnn_layer(case, "numpy", "float32", random_state=seed)
    x = rng.standard_normal((case.B, case.T, case.D)).astype(np.float32)
    grad = rng.standard_normal((case.B, case.T, case.H)).astype(np.float32)
    return layer.state_dict(), x, grad


def _fastrnn_layer(case, backend, dtype, random_state=None):
    cls = getattr(fastrnn.nn, _FASTRNN_CLASS[case.cell])
    kwargs = {"nonlinearity": "tanh"} if case.cell == "rnn_tanh" else {}
    return cls(
        case.D,
        case.H,
        batch_first=True,
        dtype=dtype,
        backend=backend,
        random_state=random_state,
        **kwargs,
    )


def _last_state(h_n):
    """The final hidden state of the single layer, ``[B, H]`` (LSTM gives ``(h_n, c_n)``)."""
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    return np.asarray(h_n[0]).copy()  # a copy: a later call may reuse the buffer


def fastrnn_engine(case, backend, weights, x, grad, dtype="float32"):
    """An :class:`Engine` running fastrnn's layer API on ``backend``.

    A training step is what a user's loop pays: ``zero_grad``, ``forward``
    with ``training=True`` and ``backward`` of the fixed upstream gradient
    (which also yields the gradient of the input).
    """
    layer = _fastrnn_layer(case, backend, dtype)
    layer.load_state_dict(weights)
    # Converted once here, not inside the timed calls (matters only for float64).
    x = np.ascontiguousarray(x, dtype=dtype)
    grad = np.ascontiguousarray(grad, dtype=dtype)

    def infer():
        return layer.forward(x, training=False)

    def train():
        layer.zero_grad()
        layer.forward(x, training=True)
        return layer.backward(grad)

    def outputs():
        out, h = infer()
        dx = train()
        got = {"output": np.array(out), "h_n": _last_state(h), "grad_x": np.array(dx)}
        got.update({f"grad.{k}": v.copy() for k, v in layer.grad.items()})
        return got

    return Engine(backend, {"inference": infer, "train": train}, outputs)


def torch_engine(torch, case, weights, x, grad):
    """An :class:`Engine` running ``torch.nn.LSTM/GRU/RNN`` with the same weights.

    Inference runs under ``torch.no_grad()``. A training step is
    ``zero_grad``, forward and ``output.backward(grad)`` with an input that
    requires grad, so torch computes the same gradients fastrnn returns.
    """
    cls = getattr(torch.nn, _TORCH_CLASS[case.cell])
    kwargs = {"nonlinearity": "tanh"} if case.cell == "rnn_tanh" else {}
    module = cls(case.D, case.H, batch_first=True, **kwargs)
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    x_inf = torch.from_numpy(x.copy())
    x_train = torch.from_numpy(x.copy()).requires_grad_(True)
    grad_t = torch.from_numpy(grad.copy())

    def infer():
        with torch.no_grad():
            return module(x_inf)

    def train():
        module.zero_grad()
        x_train.grad = None
        out, _ = module(x_train)
        out.backward(grad_t)

    def outputs():
        out, h = infer()
        train()
        got = {"output": out.numpy(), "h_n": _last_state(h), "grad_x": x_train.grad.numpy()}
        got.update({f"grad.{k}": p.grad.numpy().copy() for k, p in module.named_parameters()})
        return got

    return Engine("torch", {"inference": infer, "train": train}, outputs)


# -- correctness --------------------------------------------------------------


def compare_outputs(got, ref):
    """Check ``got`` against ``ref`` (dicts of arrays) before anything is timed.

    Outputs and the final state use ``allclose(rtol=1e-3, atol=1e-4)``.
    Weight gradients are sums over all ``T * B`` steps and samples, so their
    float32 rounding grows with their size: their ``atol`` is scaled by the
    largest reference gradient of that weight.

    Returns
    -------
    ok : bool
    detail : str
        ``""`` when ok, else the first array that differs and by how much.
    """
    for key, want in ref.items():
        have = got.get(key)
        if have is None or have.shape != want.shape:
            shape = None if have is None else have.shape
            return False, f"{key}: shape {shape} != {want.shape}"
        atol = ATOL * max(1.0, float(np.abs(want).max())) if key.startswith("grad") else ATOL
        if not np.allclose(have, want, rtol=RTOL, atol=atol):
            err = float(np.abs(have.astype(np.float64) - want).max())
            return False, f"{key} max|diff|={err:.2e}"
    return True, ""


def reference_engine(case, weights, x, grad, torch):
    """What fastrnn is checked against: PyTorch, or without it the float64 NumPy oracle."""
    if torch is not None:
        return torch_engine(torch, case, weights, x, grad)
    return fastrnn_engine(case, "numpy", weights, x, grad, dtype="float64")


# -- timing ---------------------------------------------------------------------


@dataclass
class TimingPlan:
    """How long to measure.

    Timing is interleaved by blocks: each round gives every engine, in turn,
    a *settle* period of untimed calls and then a few timed samples. The
    settle period is there because the engines' thread pools outlive their
    calls: OpenBLAS's idle workers spin for about 0.1 s before sleeping, and
    on a 2-core machine they took a core from PyTorch when it ran right after
    fastrnn (measured here: 2x slower for about 0.1 s), while PyTorch's OpenMP
    workers slowed the first fastrnn calls after it. A user running one
    engine never pays that, so the timed calls start only once the previous
    engine's threads have gone quiet and this engine's are hot.

    Attributes
    ----------
    budget_s : float
        Target seconds of timed calls per shape and mode, all engines together.
    rounds : int
        Interleaved rounds (A B C, then B C A, ...); drifts of a shared
        machine then hit every engine alike.
    min_samples, max_samples : int
        Bounds on the timed samples per engine, over all rounds.
    settle_s : float
        Untimed calls of an engine (at least one) before each of its blocks.
    warmup_s : float
        Untimed calls per engine before anything is timed (at least one; the
        correctness check has already run each engine, so JIT compilation is
        done), also used to plan the number of samples.
    sample_s : float
        A sample times a batch of ``number`` back-to-back calls lasting at
        least this long (as ``timeit``), so microsecond calls are not drowned
        by timer overhead.
    """

    budget_s: float = 0.8
    rounds: int = 3
    min_samples: int = 6
    max_samples: int = 150
    settle_s: float = 0.15
    warmup_s: float = 0.2
    sample_s: float = 0.002


QUICK_PLAN = TimingPlan(
    budget_s=0.05, rounds=2, min_samples=2, max_samples=20, settle_s=0.02, warmup_s=0.0
)


def warm_up(fn, seconds, min_calls=1):
    """Call ``fn`` untimed for ``seconds`` (at least ``min_calls`` times).

    Returns
    -------
    float
        The fastest single call in seconds, to plan the samples.
    """
    best = math.inf
    start = time.perf_counter()
    calls = 0
    while calls < min_calls or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        calls += 1
    return best


def _timed(fn, number):
    """Seconds per call of ``number`` back-to-back calls of ``fn``."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def plan_samples(per_call, n_engines, plan):
    """Calls per sample and samples per block for one engine.

    Parameters
    ----------
    per_call : float
        Seconds one call takes (from :func:`warm_up`).
    n_engines : int
    plan : TimingPlan

    Returns
    -------
    number, per_block : int
    """
    number = max(1, math.ceil(plan.sample_s / per_call))
    block_s = plan.budget_s / (plan.rounds * n_engines)
    per_block = max(math.ceil(plan.min_samples / plan.rounds), int(block_s / (per_call * number)))
    return number, min(per_block, max(1, plan.max_samples // plan.rounds))


def measure(fns, plan):
    """Time the engines' functions, interleaved by blocks (see :class:`TimingPlan`).

    Parameters
    ----------
    fns : dict of str -> callable
        Engine name -> zero-argument function.
    plan : TimingPlan

    Returns
    -------
    dict of str -> dict
        Per engine: ``number`` (calls per sample), ``per_block`` (samples per
        round) and ``samples_s`` (seconds per call, in the order taken).
    """
    names = list(fns)
    sizes = {
        name: plan_samples(warm_up(fns[name], plan.warmup_s), len(names), plan) for name in names
    }
    samples = {name: [] for name in names}
    # The collector would bill one engine for garbage another made; timeit does the same.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(plan.rounds):
            k = r % len(names)  # rotate who goes first
            for name in names[k:] + names[:k]:
                number, per_block = sizes[name]
                warm_up(fns[name], plan.settle_s)
                samples[name] += [_timed(fns[name], number) for _ in range(per_block)]
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        name: {"number": sizes[name][0], "per_block": sizes[name][1], "samples_s": samples[name]}
        for name in names
    }


def summarize(samples_s):
    """Median, quartiles, min and max of ``samples_s``, in milliseconds."""
    ms = np.asarray(samples_s) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {
        "median_ms": float(median),
        "q1_ms": float(q1),
        "q3_ms": float(q3),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "n": int(ms.size),
    }


# -- one case -----------------------------------------------------------------


def run_case(case, backends, torch, plan, numpy_limit):
    """Check and time every engine on ``case``.

    Returns
    -------
    list of dict
        One record per mode and engine (skipped engines included, with the
        reason), ready for the table and the JSON.
    """
    weights, x, grad = make_inputs(case)
    engines, skipped = [], {}
    if torch is not None:
        engines.append(torch_engine(torch, case, weights, x, grad))
    for backend in backends:
        if backend == "numpy" and numpy_limit and case.work > numpy_limit:
            skipped[backend] = f"skipped: T*B*H={case.work} > {numpy_limit} (--numpy-limit)"
        else:
            engines.append(fastrnn_engine(case, backend, weights, x, grad))

    checks = check_engines(case, engines, weights, x, grad, torch)
    records = []
    for mode in MODES:
        timings = measure({e.name: e.run[mode] for e in engines}, plan)
        torch_median = None
        for engine in engines:
            stats = summarize(timings[engine.name]["samples_s"])
            if engine.name == "torch":
                torch_median = stats["median_ms"]
            records.append(
                {
                    "case": case.name,
                    "cell": case.cell,
                    "shape": {"T": case.T, "B": case.B, "D": case.D, "H": case.H},
                    "mode": mode,
                    "engine": engine.name,
                    "check": checks.get(engine.name),
                    **stats,
                    **timings[engine.name],
                }
            )
        for record in records:
            if record["mode"] == mode and torch_median is not None:
                record["ratio"] = torch_median / record["median_ms"]
        records += [
            {"case": case.name, "cell": case.cell, "mode": mode, "engine": name, "skipped": why}
            for name, why in skipped.items()
        ]
    return records


def check_engines(case, engines, weights, x, grad, torch):
    """Compare each fastrnn engine with the reference; engine name -> check record."""
    ref_engine = reference_engine(case, weights, x, grad, torch)
    ref = ref_engine.outputs()
    against = "torch" if torch is not None else "numpy float64"
    checks = {}
    for engine in engines:
        if engine.name == "torch":
            continue
        ok, detail = compare_outputs(engine.outputs(), ref)
        checks[engine.name] = {"ok": ok, "against": against, "detail": detail}
    return checks


# -- table ----------------------------------------------------------------------


def format_table(records):
    """Render the records as a fixed-width text table."""
    head = ("shape (TxBxDxH)", "mode", "engine", "median ms", "IQR ms", "min-max ms", "n")
    head += ("torch/x", "check")
    rows = [head]
    for r in records:
        if "skipped" in r:
            rows.append((r["case"], r["mode"], r["engine"], "-", "-", "-", "-", "-", r["skipped"]))
            continue
        check = r.get("check")
        if check is None:
            mark = "reference" if r["engine"] == "torch" else ""
        elif check["ok"]:
            mark = f"ok vs {check['against']}"
        else:
            mark = f"MISMATCH vs {check['against']}: {check['detail']}"
        ratio = r.get("ratio")
        rows.append(
            (
                r["case"],
                r["mode"],
                r["engine"],
                _ms(r["median_ms"]),
                f"{_ms(r['q1_ms'])}-{_ms(r['q3_ms'])}",
                f"{_ms(r['min_ms'])}-{_ms(r['max_ms'])}",
                str(r["n"]),
                "" if ratio is None else f"{ratio:.2f}",
                mark,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = []
    for i, row in enumerate(rows):
        cells = [c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    return lines


def _ms(value):
    """Milliseconds with about three significant digits."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


# -- command line -----------------------------------------------------------------


def parse_args(argv=None, prog=None):
    """Parse the command line of ``bench/compare.py`` / ``fastrnn bench``."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Time fastrnn's backends against PyTorch (inference and one training "
        "step), interleaved, with the same weights and thread count. For a fair run on "
        f"these machines: {FAIR_COMMAND}",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="threads for every engine (default: the CPUs this process may use)",
    )
    p.add_argument(
        "--backends",
        default=None,
        help="comma-separated fastrnn backends (default: all of fastrnn.backends())",
    )
    p.add_argument(
        "--numpy-limit",
        type=int,
        default=NUMPY_WORK_LIMIT,
        help="skip the slow numpy backend on shapes with T*B*H above this (0: never skip)",
    )
    p.add_argument("--filter", default="", help="only shapes whose name contains this text")
    p.add_argument("--quick", action="store_true", help="a fast smoke run (few, short samples)")
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timing per shape and mode (default 0.8; --quick 0.05)",
    )
    p.add_argument("--no-torch", action="store_true", help="time fastrnn alone")
    p.add_argument("--json", metavar="PATH", help="write every sample and the machine info here")
    return p.parse_args(argv)


def select_backends(requested):
    """The backends to time: those requested that this install has.

    Returns
    -------
    backends : list of str
    notes : list of str
        One line per requested backend that is unavailable.
    """
    available = fastrnn.backends()
    if requested is None:
        return available, []
    wanted = [b.strip() for b in requested.split(",") if b.strip()]
    missing = [b for b in wanted if b not in available]
    notes = [f"backend {b!r} is not available here (available: {available})" for b in missing]
    return [b for b in wanted if b in available], notes


def import_torch(disabled):
    """PyTorch, or None (with the reason) when it is not installed or ``--no-torch``."""
    if disabled:
        return None, "--no-torch: timing fastrnn alone, checked against its float64 numpy oracle"
    try:
        import torch
    except ImportError:
        return None, (
            "PyTorch is not installed: timing fastrnn alone (no ratios), checked against "
            "its float64 numpy oracle. pip install torch to compare."
        )
    return torch, None


def limit_threads(threads, torch, backends):
    """Give every engine ``threads`` threads; return a context manager holding the BLAS limit.

    PyTorch and Numba have their own setters; the BLAS libraries (OpenBLAS
    under numpy/scipy, which the Cython backend calls) need threadpoolctl.
    """
    if torch is not None:
        torch.set_num_threads(threads)
    if "numba" in backends:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=threads)


def main(argv=None, prog=None):
    """Run the comparison; print the header and the table.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments without the program name (default: ``sys.argv[1:]``).
    prog : str, optional
        Program name for ``--help`` (e.g. ``"fastrnn bench"``); default: the script's.

    Returns
    -------
    int
        Exit status: 0, or 1 when a backend's results did not match the reference.
    """
    args = parse_args(argv, prog)
    plan = QUICK_PLAN if args.quick else TimingPlan()
    if args.budget is not None:
        plan = replace(plan, budget_s=args.budget)
    cases = [c for c in CASES if args.filter in c.name]
    backends, notes = select_backends(args.backends)
    torch, torch_note = import_torch(args.no_torch)
    if torch_note:
        notes.append(torch_note)
    for backend in backends:
        # Import now, so the thread pools of every engine exist before limits are set.
        get_backend(backend)

    with limit_threads(args.threads, torch, backends):
        info = machine_info(args.threads, torch)
        for line in format_header(info) + [f"note: {n}" for n in notes]:
            print(line)
        print(flush=True)
        records = []
        for case in cases:
            start = time.perf_counter()
            records += run_case(case, backends, torch, plan, args.numpy_limit)
            took = time.perf_counter() - start
            print(f"  {case.name}: checked and timed in {took:.1f} s", file=sys.stderr, flush=True)

    print("\n".join(format_table(records)))
    print(
        "\ntorch/x = torch median / engine median (above 1: faster than PyTorch). "
        "Engines ran interleaved in blocks,\neach after untimed settling calls. "
        "IQR = 25th-75th percentile of the samples; n = samples."
    )
    if args.json:
        payload = {
            "machine": info,
            "load_avg_after": os.getloadavg(),
            "notes": notes,
            "settings": {"dtype": "float32", "batch_first": True, "rtol": RTOL, "atol": ATOL},
            "plan": asdict(plan),
            "args": vars(args),
            "results": records,
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
        print(f"raw results written to {args.json}")
    mismatches = [r for r in records if r.get("check") and not r["check"]["ok"]]
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
