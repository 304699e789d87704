"""Timing for the benchmark: warm-up, interleaved blocks, summary statistics.

Kept apart from the engines so the rules of *how* things are timed (and why)
read in one place; :mod:`fastrnn._bench` decides *what* is timed.
"""

import gc
import math
import time
from dataclasses import dataclass, replace

import numpy as np


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
    engine's threads have gone quiet and this engine's are hot. With one
    thread per engine there are no idle workers to wait out, only caches to
    warm, so a shorter settle period serves (:meth:`for_threads`); a quick
    run must keep the long one at two threads all the same — with 0.02 s,
    single calls measured 100x their time while the last engine's pool spun.

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
    settle_single_s : float
        The same when every engine runs on one thread.
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
    settle_single_s: float = 0.05
    warmup_s: float = 0.2
    sample_s: float = 0.002

    def for_threads(self, threads):
        """The plan for engines running on ``threads`` threads (see the settle period)."""
        return self if threads > 1 else replace(self, settle_s=self.settle_single_s)


QUICK_PLAN = TimingPlan(
    budget_s=0.05,
    rounds=2,
    min_samples=2,
    max_samples=20,
    settle_s=0.12,
    settle_single_s=0.01,
    warmup_s=0.0,
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
