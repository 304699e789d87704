"""What the benchmark records about the machine: CPU, libraries, BLAS kernel, GEMM peak.

Everything here only *reads* the environment. In particular the OpenBLAS caps
these machines set (``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``) are reported,
never changed: a benchmark must not alter how the libraries it measures behave.
"""

import importlib.metadata
import os
import platform
import time

import numpy as np

import fastrnn

# Environment variables these machines set; they cap OpenBLAS (numpy, scipy and
# so fastrnn's Cython backend) at AVX2 kernels while PyTorch ignores them.
OPENBLAS_CAPS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
FAIR_COMMAND = "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py"
GEMM_N = 2048  # size of the square float32 matmul that gives "numpy's GEMM peak"
_DISTRIBUTIONS = (
    "numpy",
    "scipy",
    "numba",
    "torch",
    "onnxruntime",
    "onnx",
    "scikit-learn",
    "threadpoolctl",
    "matplotlib",
)


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


def gemm_providers(backends):
    """The GEMM provider each fastrnn backend reports, by backend name.

    A backend module may expose ``gemm_provider`` (a string, or a function
    returning one); until it does, the entry says so rather than guessing.
    """
    from fastrnn._kernels import get_backend

    providers = {}
    for name in backends:
        value = getattr(get_backend(name), "gemm_provider", None)
        value = value() if callable(value) else value
        providers[name] = value or "not reported by the backend"
    return providers


def gemm_peak(n=GEMM_N, repeats=5):
    """numpy's float32 GEMM throughput under the current thread limits.

    The best of ``repeats`` timed ``n x n`` matmuls after one untimed call:
    the ceiling the recurrent kernels' GEMMs can reach with this BLAS, used
    to express their speed as a fraction of it.

    Returns
    -------
    dict
        ``n``, ``gflops`` (best) and ``samples_s`` (seconds per matmul).
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # untimed: thread start-up, page faults of `out`
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        samples.append(time.perf_counter() - t0)
    return {"n": n, "gflops": 2 * n**3 / min(samples) / 1e9, "samples_s": samples}


def best_peak(first, second):
    """Combine two :func:`gemm_peak` results (taken before and after the timings).

    A neighbour's burst of work can depress one measurement; the peak is the
    best seen, and every sample is kept.
    """
    samples = first["samples_s"] + second["samples_s"]
    return {"n": first["n"], "gflops": max(first["gflops"], second["gflops"]), "samples_s": samples}


def machine_info(threads, torch, backends):
    """Everything a reader needs to judge or reproduce the numbers.

    Call it after the engines' libraries are imported and the thread limits
    are set, so the thread pools it lists are the ones the timings used.

    Parameters
    ----------
    threads : list of int
        The thread counts every engine ran at.
    torch : module or None
    backends : list of str
        The fastrnn backends timed.
    """
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "threads": list(threads),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "fastrnn": fastrnn.__version__,
            **{name: _version(name) for name in _DISTRIBUTIONS},
        },
        "fastrnn_path": os.path.dirname(fastrnn.__file__),
        "blas": blas_info(),
        "gemm_providers": gemm_providers(backends),
        "torch": torch_info(torch),
        # Read only: a benchmark must not change how the libraries it measures behave.
        "env": {name: os.environ.get(name) for name in OPENBLAS_CAPS},
        # Other processes on the CPUs slow every engine unevenly; say so in the record.
        "load_avg": os.getloadavg(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def blas_kernels(info):
    """Short ``"openblas 0.3.x kernel=SkylakeX"`` descriptions of the BLAS pools."""
    if info["blas"] is None:
        return ["unknown (threadpoolctl is not installed)"]
    found = []
    for pool in info["blas"]:
        if pool["user_api"] != "blas":
            continue
        name = " ".join(str(pool[k]) for k in ("internal_api", "version") if pool[k])
        kernel = f" kernel={pool['architecture']}" if pool["architecture"] else ""
        found.append(f"{name}{kernel} ({pool['file']})")
    return found or ["none loaded"]


def format_header(info, gemm=None):
    """The lines printed above the table (and listed above the Markdown table).

    Parameters
    ----------
    info : dict
        From :func:`machine_info`.
    gemm : dict of int -> dict, optional
        Thread count -> :func:`gemm_peak` result.
    """
    v = info["versions"]
    threads = ", ".join(str(t) for t in info["threads"])
    lines = [
        f"CPU: {info['cpu']} ({', '.join(info['cpu_flags']) or 'no AVX2/AVX-512 flags'}); "
        f"{info['affinity_cpus']} usable of {info['logical_cpus']} logical CPUs",
        f"threads: {threads} for every engine (BLAS via threadpoolctl, torch.set_num_threads, "
        "numba.set_num_threads, ONNX Runtime intra_op_num_threads with inter_op 1, sequential)",
        "versions: "
        + ", ".join(f"{name} {v[name] or '(not installed)'}" for name in v)
        + f"; fastrnn from {info['fastrnn_path']}",
        "BLAS kernel: " + "; ".join(blas_kernels(info)),
        "fastrnn GEMM provider: "
        + ", ".join(f"{b}: {p}" for b, p in info.get("gemm_providers", {}).items()),
    ]
    if gemm:
        lines.append(
            f"numpy float32 GEMM n={GEMM_N} peak: "
            + ", ".join(f"{g['gflops']:.0f} GFLOP/s at {t} thread(s)" for t, g in gemm.items())
        )
    if info["torch"] is not None:
        t = info["torch"]
        lines.append(f"torch GEMM: mkl={t['mkl']} mkldnn={t['mkldnn']}")
    if info["blas"] is not None:
        pools = [
            f"{pool['user_api']} {pool['internal_api']}={pool['num_threads']}"
            for pool in info["blas"]
        ]
        lines.append(f"thread pools at {info['threads'][0]} thread(s): " + ", ".join(pools))
    else:
        lines.append(
            "BLAS: threadpoolctl is not installed, so BLAS threads are NOT limited "
            "and its kernel is unknown (pip install threadpoolctl)"
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
