"""The time loop's own float32 GEMM, and what it buys: results that do not
depend on the batch a row came in or on the number of threads."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from fastrnn._kernels import _reference as ref
from tests.helpers import RTOL, assert_close, make_problem, run_kernel

driver = pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")


def _supported():
    a, b = np.ones((1, 1), np.float32), np.ones((1, 1), np.float32)
    names = []
    for name in ("avx512", "avx2", "neon", "generic"):
        try:
            driver.sgemm(name, a, b, np.empty((1, 1), np.float32))
            names.append(name)
        except ValueError:
            pass
    return names


KERNELS = _supported()


def test_the_portable_kernel_always_runs():
    assert "generic" in KERNELS
    assert driver.gemm_provider.startswith("fastrnn's ")


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=30, deadline=None)
@given(
    M=st.integers(1, 13),
    N=st.integers(1, 150),
    K=st.integers(1, 70),
    accumulate=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_kernel_matches_float64_and_each_row_is_batch_invariant(kernel, M, N, K, accumulate, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    got = driver.sgemm(kernel, a, b, c0.copy(), accumulate)
    expected = a.astype(np.float64) @ b.astype(np.float64) + (c0 if accumulate else 0)
    # K float32 products summed in order: error grows at most like K ulp.
    scale = np.abs(a).astype(np.float64) @ np.abs(b) + (np.abs(c0) if accumulate else 0)
    assert np.all(np.abs(got - expected) <= 2 * (K + 1) * np.finfo(np.float32).eps * scale)
    # Every row alone gives the same bits as inside the batch.
    for i in range(M):
        alone = driver.sgemm(kernel, a[i : i + 1].copy(), b, c0[i : i + 1].copy(), accumulate)
        np.testing.assert_array_equal(alone[0], got[i])
    # A transposed A (the weight gradients' form) sums in the same order.
    at = np.ascontiguousarray(a.T)
    got_t = driver.sgemm(kernel, at, b, c0.copy(), accumulate, transpose_a=True)
    np.testing.assert_array_equal(got_t, got)


@pytest.mark.parametrize("kernel", KERNELS)
def test_every_kernel_sums_in_the_same_order(kernel):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((9, 77)).astype(np.float32)
    b = rng.standard_normal((77, 131)).astype(np.float32)
    got = driver.sgemm(kernel, a, b, np.empty((9, 131), np.float32))
    best = driver.matmul(a, b)
    # FMA (the SIMD kernels) and multiply-then-add (generic without FMA) may
    # round differently; the SIMD kernels agree bit for bit with each other.
    if kernel == "generic":
        assert_close(got, best, 1e-5)
    else:
        np.testing.assert_array_equal(got, best)


def test_empty_sums_and_bad_shapes():
    a, b = np.ones((3, 0), np.float32), np.ones((0, 4), np.float32)
    c = np.full((3, 4), 7, np.float32)
    assert np.all(driver.sgemm("generic", a, b, c.copy(), False) == 0)
    assert np.all(driver.sgemm("generic", a, b, c.copy(), True) == 7)
    assert driver.matmul(np.ones((0, 3), np.float32), np.ones((3, 2), np.float32)).shape == (0, 2)
    with pytest.raises(ValueError, match="shapes do not match"):
        driver.sgemm("generic", np.ones((2, 3), np.float32), b, c)
    for name in ("sse9", "avx", ""):
        with pytest.raises(ValueError, match=f"cannot run the '{name}' kernel"):
            driver.sgemm(name, a, b, c)


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_reset_before", "rnn_tanh"])
@pytest.mark.parametrize("ragged", [False, True])
def test_outputs_and_gradients_do_not_depend_on_thread_count(cell, ragged):
    # Big enough that two threads get a chunk of rows each.
    p = make_problem(
        cell, T=30, B=24, D=12, H=40, dtype=np.float32, ragged=ragged, seed=3, scale=0.2
    )
    with threadpool_limits(limits=2, user_api="openmp"):
        chunks = driver._row_chunks(np.full(24, 30), 2 * 3 * 40 * 52, np.float32)
    assert chunks.shape[0] == 3
    runs = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="openmp"):
            runs.append([x for part in run_kernel(driver, cell, p) for x in part])
    for one, two in zip(*runs):
        if one is None:
            continue
        # Forward and the per-row gradients are bitwise equal; the weight
        # gradients sum over rows in BLAS, whose order may follow the threads.
        assert_close(two, one, 1e-6)
    for one, two in zip(runs[0][:6], runs[1][:6]):
        if one is not None:
            np.testing.assert_array_equal(two, one)
    ref_p = {k: (v if v is None or k == "lengths" else v.astype(np.float64)) for k, v in p.items()}
    expected = [x for part in run_kernel(ref, cell, ref_p) for x in part]
    for e, g in zip(expected, runs[1]):
        if e is not None:
            assert_close(g, e, RTOL[np.float32])


def test_row_chunks_balance_steps_not_rows():
    flops = 10**6  # per row and step: every row is worth a thread
    with threadpool_limits(limits=2, user_api="openmp"):
        lens = np.array([100] * 4 + [10] * 36)
        bounds = driver._row_chunks(lens, flops, np.float32)
        assert bounds[0] == 0 and bounds[-1] == 40 and np.all(np.diff(bounds) > 0)
        work = [lens[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])]
        assert max(work) <= 0.6 * lens.sum()
        # Small problems, float64 and single threads stay in one chunk.
        assert list(driver._row_chunks(lens, 10, np.float32)) == [0, 40]
        assert list(driver._row_chunks(lens, flops, np.float64)) == [0, 40]
    with threadpool_limits(limits=1, user_api="openmp"):
        assert list(driver._row_chunks(lens, flops, np.float32)) == [0, 40]


def test_concurrent_calls_from_threads_match_serial_calls():
    # Each thread has its own workspaces; the kernels release the GIL.
    from concurrent.futures import ThreadPoolExecutor

    problems = [
        make_problem(cell, T=20, B=B, D=7, H=24, dtype=np.float32, ragged=True, seed=s)
        for s, (cell, B) in enumerate([("lstm", 3), ("gru", 16), ("rnn_tanh", 9), ("lstm", 12)])
    ]
    cells = ["lstm", "gru", "rnn_tanh", "lstm"]

    def run(i):
        return [x for part in run_kernel(driver, cells[i], problems[i]) for x in part]

    serial = [run(i) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            for got, expected in zip(pool.map(run, range(4)), serial):
                for g, e in zip(got, expected):
                    if e is not None:
                        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=30, deadline=None)
@given(
    M=st.integers(1, 13),
    N=st.integers(1, 200),
    K=st.integers(1, 70),
    accumulate=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_packed_weights_give_the_bits_of_the_plain_product(kernel, M, N, K, accumulate, seed):
    # The time loop multiplies by weights packed in the kernel's column
    # panels (full and partial panels, tiles of 4 rows and single rows): the
    # same sums in the same order as the row-major product, row by row.
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c0 = rng.standard_normal((M, N)).astype(np.float32)
    plain = driver.sgemm(kernel, a, b, c0.copy(), accumulate)
    packed = driver.sgemm(kernel, a, b, c0.copy(), accumulate, packed=True)
    np.testing.assert_array_equal(packed, plain)  # one chain per element, k in order
    for i in range(M):
        alone = driver.sgemm(
            kernel, a[i : i + 1].copy(), b, c0[i : i + 1].copy(), accumulate, packed=True
        )
        np.testing.assert_array_equal(alone[0], packed[i])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("H", [1, 7, 8, 16, 33, 64])
@pytest.mark.parametrize("training", [True, False])
def test_fused_lstm_pass_matches_float64(kernel, H, training):
    rng = np.random.default_rng(H)
    n = 5
    gates = (3 * rng.standard_normal((n, 4 * H))).astype(np.float32)
    bias = rng.standard_normal(4 * H).astype(np.float32)
    c = rng.standard_normal((n, H)).astype(np.float32)
    g_out, h, c_new, tc = driver.lstm_pointwise(kernel, gates, bias, c, training)
    pre = gates.astype(np.float64) + bias
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = (
        sig(pre[:, :H]),
        sig(pre[:, H : 2 * H]),
        np.tanh(pre[:, 2 * H : 3 * H]),
        sig(pre[:, 3 * H :]),
    )
    c_exp = f * c + i * g
    np.testing.assert_allclose(c_new, c_exp, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(h, o * np.tanh(c_exp), rtol=2e-6, atol=2e-6)
    if training:
        np.testing.assert_allclose(
            g_out, np.concatenate([i, f, g, o], axis=1), rtol=1e-6, atol=1e-7
        )
        np.testing.assert_allclose(tc, np.tanh(c_exp), rtol=2e-6, atol=2e-6)
    else:
        np.testing.assert_array_equal(g_out, gates)
        assert np.isnan(tc).all()  # not written
    # A row alone gives the bits it gives among others (no unit depends on its place).
    alone = driver.lstm_pointwise(kernel, gates[2:3], bias, c[2:3], training)
    np.testing.assert_array_equal(alone[1][0], h[2])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("H", [1, 7, 8, 16, 33, 64])
def test_fused_lstm_backward_pass_matches_float64(kernel, H):
    rng = np.random.default_rng(H)
    n = 5
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    pre = 3 * rng.standard_normal((n, 4 * H))
    gates = np.concatenate(
        [sig(pre[:, : 2 * H]), np.tanh(pre[:, 2 * H : 3 * H]), sig(pre[:, 3 * H :])], axis=1
    ).astype(np.float32)
    c_prev, tc, dout, dh, dc = (rng.standard_normal((n, H)).astype(np.float32) for _ in range(5))
    tc = np.tanh(tc)
    dg, dh_out, dc_out = driver.lstm_pointwise_backward(kernel, gates, c_prev, tc, dout, dh, dc)
    g64 = gates.astype(np.float64)
    i, f, g, o = (g64[:, k * H : (k + 1) * H] for k in range(4))
    t = tc.astype(np.float64)
    dh_t = dout.astype(np.float64) + dh
    dc_t = dc + dh_t * o * (1 - t**2)
    expected = np.concatenate(
        [
            dc_t * g * i * (1 - i),
            dc_t * c_prev * f * (1 - f),
            dc_t * i * (1 - g**2),
            dh_t * t * o * (1 - o),
        ],
        axis=1,
    )
    np.testing.assert_allclose(dg, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dc_out, dc_t * f, rtol=1e-5, atol=1e-6)
    assert not dh_out.any()  # cleared for the recurrent product to add dh_{t-1} into
    # A row alone gives the bits it gives among others.
    alone = driver.lstm_pointwise_backward(
        kernel, gates[2:3], c_prev[2:3], tc[2:3], dout[2:3], dh[2:3], dc[2:3]
    )
    np.testing.assert_array_equal(alone[0][0], dg[2])
    np.testing.assert_array_equal(alone[2][0], dc_out[2])
