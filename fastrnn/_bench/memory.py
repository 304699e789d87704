"""Peak memory of one training step per engine, each measured in a fresh process.

In the benchmark's own process every engine has already run, so the peak
resident size says nothing about any one of them. Here a child process
imports only what its engine needs, builds the inputs and the engine, and
then records how far the resident set grows while it runs a few training
steps (the first allocates the workspaces; later ones show any caching).
Before that, one step on a tiny shape of the same cell takes the one-off
costs of the process (Numba's compilation, lazy library set-up) out of the
figure; what remains grows with the shape.

How the growth is read (``method`` in the result):

- ``"VmHWM reset"``: on Linux, writing ``5`` to ``/proc/self/clear_refs``
  resets the peak (``VmHWM``, which ``ru_maxrss`` follows) to the current
  resident size; the increase is then the peak during the steps minus the
  resident size just before them — what the steps themselves needed.
- ``"ru_maxrss"``: elsewhere, ``getrusage(RUSAGE_SELF).ru_maxrss`` after the
  steps minus the same before them. When importing the libraries peaked
  higher than the steps do, this reads 0: a lower bound, flagged as such.
"""

import gc
import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, replace

MIB = 1024 * 1024
STEPS = 3
TIMEOUT_S = 300


def _status_kib(field):
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak():
    """Reset the kernel's peak-RSS mark to the current RSS; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _maxrss_bytes():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes


def _set_threads(threads, torch, backend):
    """Give the child's engine the same thread limits as the parent's timed run."""
    if torch is not None:
        torch.set_num_threads(threads)
    if backend == "numba":
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=threads)


def child_main(spec_json):
    """Entry point of the child process: measure, print one JSON line.

    Parameters
    ----------
    spec_json : str
        JSON of ``{"case": Case fields, "engine": name, "threads": int}``.
    """
    from fastrnn._bench.engines import Case, make_engine, make_inputs
    from fastrnn._kernels import get_backend

    spec = json.loads(spec_json)
    case, name = Case(**spec["case"]), spec["engine"]
    torch = None
    if name.startswith("torch"):
        import torch
    else:
        get_backend(name)
    _set_threads(spec["threads"], torch, name)
    # One step on a tiny shape of the same cell and kind first: Numba's JIT
    # compilation and the libraries' lazy set-up are one-off costs of the
    # process, not of the step, and must not be billed to it.
    tiny = replace(case, T=min(case.T, 2), B=2, D=2, H=2)
    make_engine(name, tiny, make_inputs(tiny), torch).run["train"]()
    inputs = make_inputs(case)
    engine = make_engine(name, case, inputs, torch)
    gc.collect()
    before_rss = _status_kib("VmRSS")
    before_peak = _maxrss_bytes()
    reset = _reset_peak()
    for _ in range(STEPS):
        engine.run["train"]()
    if reset:
        increase = _status_kib("VmHWM") * 1024 - before_rss * 1024
        method = "VmHWM reset"
    else:
        increase = _maxrss_bytes() - before_peak
        method = "ru_maxrss"
    result = {
        "peak_mib": max(increase, 0) / MIB,
        "method": method,
        "baseline_mib": (before_rss * 1024 if before_rss else before_peak) / MIB,
        "steps": STEPS,
    }
    print(json.dumps(result))


def measure_peak(case, engine, threads, timeout=TIMEOUT_S):
    """Run :func:`child_main` for one engine and shape in a fresh Python process.

    The child inherits the environment unchanged (the OpenBLAS settings
    included), with the directory holding this ``fastrnn`` put first on
    ``PYTHONPATH`` so a source checkout measures itself.

    Returns
    -------
    dict
        ``peak_mib``, ``method``, ``baseline_mib``, ``steps``; or ``error``.
    """
    spec = json.dumps({"case": asdict(case), "engine": engine, "threads": threads})
    code = f"from fastrnn._bench.memory import child_main; child_main({spec!r})"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"child failed (exit {proc.returncode}): {tail}"}
    return json.loads(lines[-1])


def add_peak_memory(records, cases, progress=None):
    """Measure every timed training-step record's engine, in place.

    Parameters
    ----------
    records : list of dict
        The benchmark's records; those with ``mode == "train"`` that were
        timed get ``peak_mib`` (or ``peak_error``) and ``peak_method``.
    cases : dict of str -> Case
        Case name -> case.
    progress : callable, optional
        Called with a line of text after each measurement.
    """
    for record in records:
        if record["mode"] != "train" or "skipped" in record:
            continue
        case = cases[record["case"]]
        result = measure_peak(case, record["engine"], record["threads"])
        if "error" in result:
            record["peak_error"] = result["error"]
        else:
            record["peak_mib"] = result["peak_mib"]
            record["peak_method"] = result["method"]
        if progress is not None:
            mib = record.get("peak_mib")
            shown = f"{mib:.1f} MiB" if mib is not None else record["peak_error"]
            progress(f"  memory {case.name} {record['engine']} x{record['threads']}: {shown}")
