"""Who uses the cores during a call: the kernels' thread pool and BLAS's.

``limit_threads`` is the one place a fit or predict sets thread limits (the
estimators', the language model's and the Dask estimators' ``n_threads``),
through threadpoolctl, which reaches BLAS and the compiled kernels' pool alike.
"""

import contextlib
import os
import sys
import threading

import numpy as np

_controller = None
_blas_lock = threading.Lock()
_blas_users = 0  # calls inside limit_threads now; the first sets BLAS's limit, the last restores
_blas_limiter = None


def threadpool_controller():
    """The process's threadpoolctl controller, made once."""
    global _controller
    with _blas_lock:
        if _controller is None:
            # Inspecting the loaded libraries costs milliseconds: once, on first
            # use, after the compiled kernels (if built) registered their pool.
            from threadpoolctl import ThreadpoolController

            from fastrnn._kernels import _try_import

            _try_import("cython")  # (not backends(): that would import numba too)

            _controller = ThreadpoolController()
    return _controller


def dask_worker_threads():
    """Threads for this call on the Dask worker running it, or None outside one.

    The worker's threads shared among the tasks it runs at once: all of them
    for a task alone, one each when every thread runs a task (Dask's nanny
    starts workers with BLAS and OpenMP at one thread for that reason).
    """
    distributed = sys.modules.get("distributed")  # only if the caller has it loaded
    if distributed is None:
        return None
    try:
        state = distributed.get_worker().state
    except ValueError:  # not inside a task on a worker
        return None
    return max(1, state.nthreads // max(1, state.executing_count))


def kernels_own_the_threads(network):
    """Whether ``network``'s recurrent layers split their rows over the kernels' thread
    pool (the compiled backend in float32); a fit's BLAS then keeps to one thread."""
    return network.rnn._kernels.THREADED_FLOAT32 and network.rnn.dtype == np.float32


def usable_cpus():
    """The CPUs this process may run on (its affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@contextlib.contextmanager
def limit_threads(n_threads, network=None):
    """Limit BLAS's and the kernels' threads to ``n_threads`` while a call runs (None: untouched).

    The Cython kernels split a batch over their own thread pool, which
    threadpoolctl limits as an "openmp" pool; BLAS (and Numba's np.dot)
    computes the rest. The pool's limit belongs to the calling thread.
    BLAS's is process-wide: overlapping calls from several threads share it —
    the first sets it, the last restores it — so no call leaves it changed.
    Inside a task on a Dask worker, None means the worker's threads shared
    among the tasks running on it (:func:`dask_worker_threads`), so its
    tasks together use its ``threads_per_worker``.

    ``network`` (given by fits): where its kernels own the threads, BLAS —
    the head, the loss and the optimizer's share — gets one, whatever
    ``n_threads`` says. Two thread pools on the same cores made a fit slower
    at the default threads than on one thread: the kernels' threads (then
    OpenMP's) spin-waited between regions on the cores BLAS's threads need,
    and the other way round (a 100-class fit, 2 cores: 3.7 s default, 1.9 s on
    one thread, 1.1 s with this rule). BLAS's limit is process-wide and set by the
    first of overlapping calls: code running beside a fit (another thread's
    predict, a float64 fit, whose products are BLAS's) shares its one thread.
    """
    global _blas_users, _blas_limiter
    one_blas = network is not None and kernels_own_the_threads(network)
    if n_threads is None:
        n_threads = dask_worker_threads()
    if n_threads is not None:  # (a model file may say anything: 100,000 threads made 588)
        n_threads = min(n_threads, usable_cpus())
    if n_threads is None and not one_blas:
        yield
        return
    controller = threadpool_controller()
    with _blas_lock:
        if _blas_users == 0:
            blas = 1 if one_blas else n_threads
            _blas_limiter = controller.limit(limits=blas, user_api="blas")
        _blas_users += 1
    try:
        with (
            controller.limit(limits=n_threads, user_api="openmp")
            if n_threads is not None
            else contextlib.nullcontext()
        ):
            yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


# Constructor parameters shared by both estimators, with their defaults.
