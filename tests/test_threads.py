"""One fitted model used from many threads at once gives the serial results."""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastrnn import RNNClassifier, RNNRegressor

N_THREADS, N_CALLS = 8, 25


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 12, 2))
    return X, X.sum(axis=(1, 2))


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _hammer(fn, n_threads=N_THREADS, n_calls=N_CALLS):
    """``fn(thread, call)`` from many threads started together; all results."""
    start = threading.Barrier(n_threads)

    def worker(i):
        start.wait()
        return [fn(i, j) for j in range(n_calls)]

    with ThreadPoolExecutor(n_threads) as pool:
        return list(pool.map(worker, range(n_threads)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_concurrent_predict_equals_serial(data, cell):
    X, y = data
    # n_threads: each call limits the thread pools while others run.
    reg = RNNRegressor(cell=cell, hidden_size=16, max_iter=2, n_threads=2, random_state=0)
    reg = _fit(reg, X, y)
    clf = _fit(RNNClassifier(cell=cell, hidden_size=16, max_iter=2, random_state=0), X, y > 0)
    # Batches of different sizes and offsets, so threads run different shapes.
    batches = [X[i % 7 : i % 7 + 1 + 9 * (i % 5)] for i in range(N_CALLS)]
    serial = [(reg.predict(b), clf.predict_proba(b)) for b in batches]
    results = _hammer(lambda i, j: (reg.predict(batches[j]), clf.predict_proba(batches[j])))
    for per_thread in results:
        for (r, p), (r0, p0) in zip(per_thread, serial):
            np.testing.assert_array_equal(r, r0)
            np.testing.assert_array_equal(p, p0)


def test_concurrent_ragged_predict_equals_serial(data):
    X, y = data
    ragged = [x[: 3 + i % 9] for i, x in enumerate(X)]
    reg = _fit(RNNRegressor(hidden_size=8, max_iter=2, random_state=0), ragged, y)
    serial = reg.predict(ragged)
    for per_thread in _hammer(lambda i, j: reg.predict(ragged), n_calls=5):
        for r in per_thread:
            np.testing.assert_array_equal(r, serial)


def test_streams_in_threads_equal_serial_streams(data):
    X, y = data
    reg = _fit(RNNRegressor(hidden_size=16, max_iter=2, random_state=0), X, y)

    def run(rows):
        stream = reg.stream(batch_size=len(rows))
        return np.stack([stream.step(rows[:, t]) for t in range(rows.shape[1])], axis=1)

    chunks = [X[8 * i : 8 * i + 8] for i in range(N_THREADS)]
    serial = [run(c) for c in chunks]
    results = _hammer(lambda i, j: run(chunks[i]), n_calls=4)
    for i, per_thread in enumerate(results):
        for r in per_thread:
            np.testing.assert_array_equal(r, serial[i])


def test_overlapping_thread_limits_leave_blas_as_it_was(data):
    from threadpoolctl import threadpool_info

    X, y = data
    reg = _fit(RNNRegressor(hidden_size=4, max_iter=1, n_threads=1, random_state=0), X, y)
    before = {(p["filepath"], p["num_threads"]) for p in threadpool_info()}
    _hammer(lambda i, j: reg.predict(X[:2]), n_calls=40)
    after = {(p["filepath"], p["num_threads"]) for p in threadpool_info()}
    assert after == before


def test_a_fit_gives_blas_one_thread_where_the_kernels_own_the_threads(data, monkeypatch):
    # Two thread pools on two cores made default-thread fits slower than one
    # thread: during a compiled float32 fit, BLAS (head, loss) keeps to one.
    from threadpoolctl import threadpool_info

    import fastrnn._estimators as est_module

    seen = []
    real = est_module.train_epoch

    def spy(*args, **kwargs):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return real(*args, **kwargs)

    monkeypatch.setattr(est_module, "train_epoch", spy)
    X, y = data
    before = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    _fit(RNNRegressor(max_iter=2, random_state=0), X.astype(np.float32), y)
    assert seen and all(s == {1} for s in seen)
    assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == before
    seen.clear()
    _fit(RNNRegressor(max_iter=1, random_state=0, backend="numpy"), X, y)  # BLAS does the work
    assert seen and all(s == before for s in seen)
