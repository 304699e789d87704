"""The compiled kernels' thread pool (``_threads.h``): every part runs once, whatever
thread runs it; limits per calling thread; concurrent callers; a forked child."""

import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from fastrnn._threadpools import limit_threads, usable_cpus
from tests.helpers import make_problem, run_kernel

driver = pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")

# Big enough that a limit of 2 or more threads cuts the batch into chunks.
SPLIT = dict(T=30, B=32, D=16, H=64, dtype=np.float32, ragged=True)


def _flat(result):
    return [x for part in result for x in part]


def _chunks(threads):
    with threadpool_limits(limits=threads, user_api="openmp"):
        return driver._row_chunks(np.full(32, 30), 2 * 4 * 64 * 80, np.float32).shape[0] - 1


def test_the_limit_sets_the_chunks():
    assert _chunks(1) == 1
    assert _chunks(2) == 2
    assert _chunks(4) == 4  # more threads than this machine's CPUs is allowed


def test_limits_belong_to_the_calling_thread():
    before = driver.thread_limit()
    with ThreadPoolExecutor(1) as ex:
        assert ex.submit(lambda: driver.thread_limit(1)).result() == 1
    assert driver.thread_limit() == before  # another thread's limit is its own
    with threadpool_limits(limits=1):  # threadpoolctl sees the pool ...
        assert driver.thread_limit() == 1
    assert driver.thread_limit() == before  # ... and restores it
    info = [i for i in threadpool_info() if i["internal_api"] == "fastrnn"]
    assert len(info) == 1 and info[0]["user_api"] == "openmp"
    with pytest.raises(ValueError, match="thread limit"):
        driver.thread_limit(-1)


@pytest.mark.parametrize("env, expected", [("1", 1), ("100000", None), ("junk", None)])
def test_omp_num_threads_sets_the_default_up_to_the_cpus(env, expected):
    # None: the CPUs this process may use (a larger value would start that
    # many threads, which only wait on each other).
    code = "from fastrnn._kernels import _driver; print(_driver.thread_limit())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, OMP_NUM_THREADS=env),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == (expected or usable_cpus())


def test_n_threads_is_bounded_by_the_cpus():
    with limit_threads(100_000):
        assert driver.thread_limit() == usable_cpus()
    with limit_threads(1):
        assert driver.thread_limit() == 1


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_concurrent_callers_get_what_serial_calls_give(threads):
    # One caller at a time owns the pool; the others run their chunks
    # themselves. Either way every chunk runs once: the bits are the same.
    cells = ["lstm", "gru", "rnn_tanh", "gru_reset_before", "lstm", "gru"]
    problems = [make_problem(c, **SPLIT, seed=s) for s, c in enumerate(cells)]

    def run(i):
        driver.thread_limit(threads)
        try:
            return _flat(run_kernel(driver, cells[i], problems[i]))
        finally:
            driver.thread_limit(0)

    serial = [run(i) for i in range(len(cells))]
    with ThreadPoolExecutor(len(cells)) as ex:
        for _ in range(4):
            for got, expected in zip(ex.map(run, range(len(cells))), serial):
                for g, e in zip(got, expected):
                    if e is not None:
                        np.testing.assert_array_equal(g, e)


def _forward_in_child(p):
    driver.thread_limit(2)
    return _flat(run_kernel(driver, "lstm", p))


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_a_forked_child_starts_its_own_pool():
    # The parent's workers do not exist in the child: it must not wait for them.
    p = make_problem("lstm", **SPLIT, seed=7)
    with threadpool_limits(limits=2, user_api="openmp"):
        expected = _flat(run_kernel(driver, "lstm", p))  # the parent's pool is running
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_forward_in_child, (p,)).get(timeout=120)
    for g, e in zip(got, expected):
        if e is not None:
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_reset_before", "rnn_tanh"])
@pytest.mark.parametrize("ragged", [False, True])
def test_one_chunk_backward_is_the_same_on_more_threads(cell, ragged):
    # A batch too small for row chunks: its weight sums and dx run in bands
    # over the threads (those of W_hh's rows for the reset-before GRU cut
    # across its r, z | n split); each element sums its rows in one order.
    p = make_problem(cell, T=40, B=5, D=32, H=64, dtype=np.float32, ragged=ragged, seed=3)
    with threadpool_limits(limits=1, user_api="openmp"):
        expected = _flat(run_kernel(driver, cell, p))
    for threads in (2, 3):
        with threadpool_limits(limits=threads, user_api="openmp"):
            got = _flat(run_kernel(driver, cell, p))
        for g, e in zip(got, expected):
            if e is not None:
                np.testing.assert_array_equal(g, e)
