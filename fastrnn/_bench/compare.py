"""Side-by-side speed comparison of fastrnn's backends with PyTorch and ONNX Runtime.

``bench/compare.py`` and ``fastrnn bench`` are thin fronts over :func:`main`;
the logic lives in the package because the wheel ships no ``bench/``. The
parts, one module each: the shapes and engines (:mod:`fastrnn._bench.engines`,
ONNX Runtime in :mod:`fastrnn._bench.onnx`), the timing rules
(:mod:`fastrnn._bench.timing`), the machine record
(:mod:`fastrnn._bench.machine`), peak memory in fresh processes
(:mod:`fastrnn._bench.memory`), the end-to-end fit (:mod:`fastrnn._bench.e2e`)
and the outputs (:mod:`fastrnn._bench.report`).

What one run does, per thread count (``--threads 1,2``), per shape and per
mode (inference, one training step):

1. build every engine — PyTorch, ONNX Runtime (inference only) and each
   selected fastrnn backend — with the *same* weights and inputs, in the
   ``batch_first`` layout (ragged batches: PyTorch packed, plus a padded
   PyTorch baseline beside it);
2. check each engine's outputs (and, for training, input and weight
   gradients) against PyTorch, so a fast wrong kernel cannot go unnoticed;
3. warm every engine up, then time them interleaved by blocks (A B C, B C A,
   ...), so drifts of a shared machine (clock, neighbours) hit every engine
   alike, each block starting with untimed calls so that one engine's idle
   thread pools do not slow the next (see :class:`TimingPlan`);
4. report the median with its spread, ``torch/x`` and ``ort/x`` ratios
   (above 1: x is faster) and, on large shapes, GFLOP/s against numpy's
   float32 GEMM peak measured in the same run.

Then, unless ``--quick`` (or when asked for): each training step's peak
memory, every engine alone in a fresh process, and the end-to-end
comparison of ``RNNClassifier.fit`` with a plain PyTorch training loop.

Every engine gets the same thread count: ``torch.set_num_threads``,
``threadpoolctl`` for the BLAS that fastrnn's kernels call,
``numba.set_num_threads`` and ONNX Runtime's session options. The
environment is only read, never changed: see
:func:`fastrnn._bench.machine.format_header` about ``OPENBLAS_CORETYPE``.
"""

import argparse
import json
import os
import sys
import textwrap
import time
from contextlib import nullcontext
from dataclasses import asdict, replace

import fastrnn
from fastrnn._bench.e2e import QUICK_E2E, EndToEndPlan, run_end_to_end
from fastrnn._bench.engines import (
    ATOL,
    CASES,
    RTOL,
    TORCH_CELLS,
    check_engines,
    fastrnn_engine,
    make_inputs,
    parse_shape,
    stream_engine,
    torch_engine,
)
from fastrnn._bench.machine import (
    FAIR_COMMAND,
    best_peak,
    format_header,
    gemm_peak,
    machine_info,
)
from fastrnn._bench.memory import add_peak_memory
from fastrnn._bench.onnx import import_onnxruntime, onnx_model, ort_engine
from fastrnn._bench.report import (
    LARGE_FLOPS,
    LEGEND,
    derive,
    format_end_to_end,
    format_table,
    markdown,
    payload_gemm,
    plot,
)
from fastrnn._bench.timing import QUICK_PLAN, TimingPlan, measure, summarize
from fastrnn._kernels import get_backend

MODES = ("inference", "train")
NUMPY_WORK_LIMIT = 100_000  # T*B*H above which the numpy backend is skipped by default


# -- one case -----------------------------------------------------------------------


def build_engines(case, inputs, setup, threads, onnx_cache):
    """Every engine of ``case``, and the reasons for those left out.

    Parameters
    ----------
    case : Case
    inputs : Inputs
    setup : dict
        ``torch``, ``ort`` (modules or None), ``backends`` and ``numpy_limit``.
    threads : int
        For ONNX Runtime's session options.
    onnx_cache : dict
        Case -> ``(model, how)``: the ONNX model is made once per shape and
        reused at every thread count.

    Returns
    -------
    engines : list of Engine
        PyTorch first (it is the reference), then ONNX Runtime, then fastrnn.
    skipped : dict of str -> (str, tuple of str)
        Engine name -> (reason, modes it would have run).
    """
    torch, ort = setup["torch"], setup["ort"]
    engines, skipped = [], {}
    if torch is not None and case.cell not in TORCH_CELLS:
        skipped["torch"] = (f"skipped: torch.nn has no {case.cell} layer", MODES)
    elif torch is not None:
        engines.append(torch_engine(torch, case, inputs))
        if inputs.lengths is not None:
            engines.append(torch_engine(torch, case, inputs, packed=False))
    if ort is not None:
        if case not in onnx_cache:
            onnx_cache[case] = onnx_model(torch, case, inputs)
        model, how = onnx_cache[case]
        try:
            if model is None:
                raise RuntimeError(how)
            engines.append(ort_engine(ort, case, inputs, model, how, threads))
        except Exception as exc:  # a model ORT refuses is a finding, not a crash
            skipped["ort"] = (f"skipped: {exc}", ("inference",))
    limit = setup["numpy_limit"]
    for backend in setup["backends"]:
        if backend == "numpy" and limit and case.work > limit:
            reason = f"skipped: T*B*H={case.work} > {limit} (--numpy-limit)"
            skipped[backend] = (reason, MODES)
        else:
            engines.append(fastrnn_engine(case, backend, inputs))
            if case.kind == "step" and case.T == 1:
                engines.append(stream_engine(case, backend, inputs))
    return engines, skipped


def reference_outputs(case, inputs, engines, torch):
    """The outputs every engine is checked against, and the reference's name.

    PyTorch (the first engine) when it is there, else fastrnn's float64 NumPy
    oracle.
    """
    if torch is not None and engines and engines[0].name == "torch":
        return engines[0].outputs(), "torch"
    oracle = fastrnn_engine(case, "numpy", inputs, dtype="float64")
    return oracle.outputs(), "numpy float64"


def run_case(case, setup, plan, threads, onnx_cache):
    """Check and time every engine on ``case`` at ``threads`` threads.

    Returns
    -------
    list of dict
        One record per mode and engine (skipped engines included, with the
        reason), ready for the table and the JSON.
    """
    inputs = make_inputs(case)
    engines, skipped = build_engines(case, inputs, setup, threads, onnx_cache)
    ref, against = reference_outputs(case, inputs, engines, setup["torch"])
    checks = check_engines(engines, ref, against)
    base = {
        "case": case.name,
        "cell": case.cell,
        "kind": case.kind,
        "shape": {"T": case.T, "B": case.B, "D": case.D, "H": case.H},
        "threads": threads,
        "forward_flops": case.flops("inference"),
    }
    records = []
    for mode in MODES:
        timed = [e for e in engines if mode in e.run]
        timings = measure({e.name: e.run[mode] for e in timed}, plan.for_threads(threads))
        for engine in timed:
            records.append(
                {
                    **base,
                    "mode": mode,
                    "engine": engine.name,
                    "check": checks.get(engine.name),
                    "note": engine.note,
                    "flops": case.flops(mode),
                    **summarize(timings[engine.name]["samples_s"]),
                    **timings[engine.name],
                }
            )
        records += [
            {**base, "mode": mode, "engine": name, "skipped": why}
            for name, (why, modes) in skipped.items()
            if mode in modes
        ]
    return records


# -- command line -----------------------------------------------------------------------


def default_threads():
    """1 and the CPUs this process may use (every engine runs at both: one thread
    compares the kernels, all of them how each engine scales)."""
    n = len(os.sched_getaffinity(0))
    return [1, n] if n > 1 else [1]


def parse_threads(text):
    """``"1,2"`` -> ``[1, 2]`` (argparse ``type``)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"--threads {text!r}: expected positive integers, e.g. 2 or 1,2"
        )
    return list(dict.fromkeys(values))


def positive_int(text):
    """An integer of at least 1 (argparse ``type``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def parse_args(argv=None, prog=None):
    """Parse the command line of ``bench/compare.py`` / ``fastrnn bench``."""
    from fastrnn._cli import HelpFormatter

    p = argparse.ArgumentParser(
        prog=prog,
        description="Time fastrnn's backends against PyTorch and ONNX Runtime (inference and "
        "one training step), checked first, interleaved, with the same weights and thread "
        f"count. For a fair run on these machines: {FAIR_COMMAND}",
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--forecast",
        action="store_true",
        help="instead: forecasts against seasonal naive, ETS, Theta, ARIMA and a PyTorch "
        "LSTM on real series (--forecast --help for its options)",
    )
    p.add_argument(
        "--threads",
        type=parse_threads,
        default=default_threads(),
        help="thread counts for every engine, e.g. 2 or 1,2 (default: 1 and the CPUs this "
        "process may use)",
    )
    p.add_argument(
        "--backends",
        default=None,
        help="comma-separated fastrnn backends (default: all of fastrnn.backends())",
    )
    p.add_argument(
        "--shape",
        type=parse_shape,
        action="append",
        default=[],
        metavar="CELL:T,B,D,H[:KIND]",
        help="add a shape, e.g. lstm:100,32,16,64 or gru:100,32,16,64:ragged "
        "(kinds: dense, step, ragged); repeatable",
    )
    p.add_argument(
        "--numpy-limit",
        type=int,
        default=NUMPY_WORK_LIMIT,
        help="skip the slow numpy backend on shapes with T*B*H above this (0: never skip)",
    )
    p.add_argument("--filter", default="", help="only shapes whose name contains this text")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a run of about a minute: few, short samples; no memory or end-to-end unless asked",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timing per shape and mode (default 0.8; --quick 0.05)",
    )
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--no-ort", action="store_true", help="leave ONNX Runtime out")
    p.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="peak memory of each training step, each engine in a fresh process "
        "(slow; default: on, off with --quick)",
    )
    p.add_argument(
        "--end-to-end",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="RNNClassifier.fit vs a plain PyTorch loop on ragged digits "
        "(default: on, off with --quick)",
    )
    p.add_argument(
        "--e2e-epochs",
        type=positive_int,
        default=None,
        help=f"epochs of the end-to-end fits (default {EndToEndPlan.epochs}; "
        f"--quick {QUICK_E2E.epochs})",
    )
    p.add_argument("--json", metavar="PATH", help="write every sample and the machine info here")
    p.add_argument("--markdown", metavar="PATH", help="write a Markdown report here")
    p.add_argument("--plot", metavar="PATH.png", help="draw the ratios as a bar chart here")
    p.add_argument(
        "--from-json",
        metavar="PATH",
        help="run nothing: redraw the table (and --markdown/--plot) from a saved --json file",
    )
    return p.parse_args(argv)


def select_backends(requested):
    """The backends to time: those requested that this install has.

    Returns
    -------
    backends : list of str
    notes : list of str
        One line per requested backend that is unavailable.
    """
    if requested is None:
        return fastrnn.backends(), []
    wanted = [b.strip() for b in requested.split(",") if b.strip()]
    found, notes = [], []
    for name in wanted:
        # Only the requested ones are imported: listing all would import Numba too.
        try:
            get_backend(name)
        except (ImportError, ValueError) as exc:
            notes.append(f"backend {name!r} is not available here: {exc}")
        else:
            found.append(name)
    return found, notes


def select_cases(args):
    """The built-in shapes plus ``--shape`` ones, those matching ``--filter``, no repeats."""
    cases = list(dict.fromkeys(list(CASES) + args.shape))
    return [c for c in cases if args.filter in c.name]


def import_torch(disabled):
    """PyTorch, or None (with the reason) when it is not installed or ``--no-torch``."""
    if disabled:
        return None, "--no-torch: engines checked against fastrnn's float64 numpy oracle"
    try:
        import torch
    except ImportError:
        return None, (
            "PyTorch is not installed: engines checked against fastrnn's float64 numpy "
            "oracle, no torch/x ratios. pip install torch to compare."
        )
    return torch, None


def limit_threads(threads, torch, backends):
    """Give every engine ``threads`` threads; return a context manager holding the BLAS limit.

    PyTorch and Numba have their own setters; the BLAS libraries (OpenBLAS
    under numpy/scipy, which the Cython backend calls) need threadpoolctl.
    ONNX Runtime gets its count through its session options.
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


def _progress(line):
    print(line, file=sys.stderr, flush=True)


def run_all(args, setup, plan, notes):
    """Time every case at every thread count, then measure memory and end to end.

    Returns
    -------
    dict
        The payload written by ``--json`` and drawn by the reports.
    """
    cases = select_cases(args)
    records, gemm, e2e = [], {}, []
    onnx_cache, info = {}, None
    for threads in args.threads:
        with limit_threads(threads, setup["torch"], setup["backends"]):
            if info is None:
                info = machine_info(args.threads, setup["torch"], setup["backends"])
                print("\n".join(format_header(info) + [f"note: {n}" for n in notes]) + "\n")
            # Only large shapes show a fraction of the peak; its matmuls take a second.
            want_peak = any(c.flops("inference") >= LARGE_FLOPS for c in cases)
            repeats = 3 if args.quick else 5
            if want_peak:
                gemm[threads] = gemm_peak(repeats=repeats)
            for case in cases:
                start = time.perf_counter()
                records += run_case(case, setup, plan, threads, onnx_cache)
                took = time.perf_counter() - start
                _progress(f"  {case.name} x{threads}: checked and timed in {took:.1f} s")
            if want_peak:
                gemm[threads] = best_peak(gemm[threads], gemm_peak(repeats=repeats))
                peak = gemm[threads]["gflops"]
                _progress(f"  numpy float32 GEMM peak at {threads} thread(s): {peak:.0f} GFLOP/s")
            if setup["e2e_plan"] is not None:
                e2e.append(run_end_to_end(setup["torch"], threads, setup["e2e_plan"]))
                _progress(f"  end to end x{threads}: done")
    derive(records, gemm)
    if setup["memory"]:
        add_peak_memory(records, {c.name: c for c in cases}, _progress)
    return {
        "machine": info,
        "gemm_peak": gemm,
        "load_avg_after": os.getloadavg(),
        "notes": notes,
        "settings": {"dtype": "float32", "batch_first": True, "rtol": RTOL, "atol": ATOL},
        "plan": asdict(plan),
        "args": {k: v for k, v in vars(args).items() if k != "shape"}
        | {"shape": [asdict(c) for c in args.shape]},
        "results": records,
        "end_to_end": e2e,
    }


def _require_matplotlib(path):
    """Fail before a long run, not after it, when ``--plot`` cannot be drawn."""
    if path is None:
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "--plot needs matplotlib, which is not installed: pip install matplotlib"
    return None


def report(payload, args):
    """Print the table and write the ``--json``/``--markdown``/``--plot`` outputs.

    Returns
    -------
    int
        0, or 1 when an engine did not match the reference.
    """
    print("\n".join(format_table(payload["results"])))
    print("\n" + textwrap.fill(LEGEND, width=100))
    e2e_lines = format_end_to_end(payload.get("end_to_end"))
    if e2e_lines:
        print("\n" + "\n".join(e2e_lines))
    if args.json and not args.from_json:
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
        print(f"raw results written to {args.json}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(payload))
        print(f"Markdown report written to {args.markdown}")
    if args.plot:
        plot(payload, args.plot)
        print(f"chart written to {args.plot}")
    mismatches = [r for r in payload["results"] if r.get("check") and not r["check"]["ok"]]
    return 1 if mismatches else 0


def redraw(args):
    """``--from-json``: print and draw the outputs of a saved run."""
    with open(args.from_json) as f:
        payload = json.load(f)
    derive(payload["results"], payload_gemm(payload))
    header = format_header(payload["machine"], payload_gemm(payload))
    print("\n".join(header + [f"note: {n}" for n in payload.get("notes", [])]) + "\n")
    return report(payload, args)


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
        Exit status: 0, 1 when an engine's results did not match the
        reference, 2 when ``--plot`` cannot be drawn (matplotlib missing).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--forecast" in argv:  # the other benchmark: forecasts against the baselines
        from fastrnn._bench.forecast import main as forecast_main

        argv.remove("--forecast")
        return forecast_main(argv, prog=f"{prog or 'bench/compare.py'} --forecast")
    args = parse_args(argv, prog)
    problem = _require_matplotlib(args.plot)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.from_json:
        return redraw(args)
    plan = QUICK_PLAN if args.quick else TimingPlan()
    if args.budget is not None:
        plan = replace(plan, budget_s=args.budget)
    backends, notes = select_backends(args.backends)
    torch, torch_note = import_torch(args.no_torch)
    ort, ort_note = import_onnxruntime(args.no_ort)
    notes += [n for n in (torch_note, ort_note) if n]
    for backend in backends:
        # Import now, so the thread pools of every engine exist before limits are set.
        get_backend(backend)
    e2e_plan = None
    if args.end_to_end if args.end_to_end is not None else not args.quick:
        e2e_plan = QUICK_E2E if args.quick else EndToEndPlan()
        if args.e2e_epochs is not None:
            e2e_plan = replace(e2e_plan, epochs=args.e2e_epochs)
    setup = {
        "torch": torch,
        "ort": ort,
        "backends": backends,
        "numpy_limit": args.numpy_limit,
        "memory": args.memory if args.memory is not None else not args.quick,
        "e2e_plan": e2e_plan,
    }
    payload = run_all(args, setup, plan, notes)
    return report(payload, args)


if __name__ == "__main__":
    sys.exit(main())
