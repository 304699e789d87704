"""An LSTM split by hidden units over threads (``_split.h``): taken for a batch
of a few rows, bitwise what one thread computes, whatever the blocks; in
training too (what backward reads, and so the gradients)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from tests.helpers import make_problem, run_kernel

driver = pytest.importorskip("fastrnn._kernels._driver", reason="extension not built")


def _weights(rng, D, H, dtype=np.float32, cell="lstm"):
    G = 4 if cell == "lstm" else 3
    w = [
        rng.standard_normal((G * H, D)) * 0.2,
        rng.standard_normal((G * H, H)) * 0.2,
        rng.standard_normal(G * H) * 0.5,
        rng.standard_normal(G * H) * 0.5,
    ]
    return [a.astype(dtype) for a in w]


def _limit(n):
    return threadpool_limits(limits=n, user_api="openmp")


def test_when_the_split_is_taken():
    rng = np.random.default_rng(0)
    lstm = driver.Prepared("lstm", *_weights(rng, 8, 128))
    with _limit(2):
        assert driver._split_parts(lstm, 1) == 2
        assert driver._split_parts(lstm, 7) == 2  # still one chunk of rows
        assert driver._split_parts(lstm, 8) == 0  # row chunks instead
        for other in (
            driver.Prepared("lstm", *_weights(rng, 8, 64)),
            driver.Prepared("lstm", *_weights(rng, 8, 128, np.float64)),
            driver.Prepared("gru", *_weights(rng, 8, 128, cell="gru")),
        ):
            assert driver._split_parts(other, 1) == 0
    with _limit(1):
        assert driver._split_parts(lstm, 1) == 0
    with _limit(8):  # at least 64 units a block
        assert driver._split_parts(lstm, 1) == 2
        assert driver._split_parts(driver.Prepared("lstm", *_weights(rng, 8, 256)), 1) == 4


@pytest.mark.parametrize("H, parts", [(128, 2), (200, 3), (320, 4), (1024, 16)])
def test_blocks_cover_the_units_on_vector_edges(H, parts):
    rng = np.random.default_rng(1)
    lstm = driver.Prepared("lstm", *_weights(rng, 4, H))
    edges = lstm.split(parts).edges
    assert edges[0] == 0 and edges[-1] == H and len(edges) == parts + 1
    assert all(b - a >= 48 for a, b in zip(edges, edges[1:]))
    assert all(e % 16 == 0 for e in edges[1:-1])
    assert lstm.split(parts) is lstm.split(parts)  # built once per count
    with pytest.raises(ValueError, match="cannot split"):
        lstm.split(H // 32)


@pytest.mark.parametrize("threads", [2, 3, 4])
@pytest.mark.parametrize("B", [1, 3, 7])
def test_split_forward_is_bitwise_one_thread(threads, B):
    rng = np.random.default_rng(B)
    T, D, H = 9, 5, 272  # blocks of 144 and 128 units (2), or unequal ones
    w = _weights(rng, D, H)
    lstm = driver.Prepared("lstm", *w)
    x = rng.standard_normal((T, B, D)).astype(np.float32)
    h0, c0 = (rng.standard_normal((B, H)).astype(np.float32) for _ in range(2))
    lengths = rng.integers(1, T + 1, B)
    for lens in (None, lengths):
        with _limit(1):
            want = driver.forward("lstm", x, h0, c0, *w, lens, training=False, prepared=lstm)
        with _limit(threads):
            assert driver._split_parts(lstm, B) == threads
            got = driver.forward("lstm", x, h0, c0, *w, lens, training=False, prepared=lstm)
        for a, b in zip(want[:3], got[:3]):
            np.testing.assert_array_equal(a, b)
    if B > 1:  # the rows past their lengths are zero
        short = int(np.argmin(lengths))
        assert not got[0][lengths[short] :, short].any()


@pytest.mark.parametrize("ragged", [False, True])
def test_split_training_is_bitwise_one_thread(ragged):
    # Forward's outputs, what it keeps for backward, and so every gradient.
    p = make_problem("lstm", T=11, B=3, D=10, H=144, dtype=np.float32, ragged=ragged, seed=5)
    lstm = driver.Prepared("lstm", p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    with _limit(1):
        want = run_kernel(driver, "lstm", p)
    for threads in (2, 3):
        with _limit(threads):
            assert driver._split_parts(lstm, 3) == 2  # 144 units: two blocks at most
            got = run_kernel(driver, "lstm", p)
        for a, b in zip(want[0] + want[1], got[0] + got[1]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch_first", [False, True])
def test_split_stack_is_bitwise_one_thread(batch_first):
    rng = np.random.default_rng(2)
    T, B, D, H = 12, 2, 7, 128
    layers = [driver.Prepared("lstm", *_weights(rng, d, H)) for d in (D, H)]
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(np.float32)
    h0, c0 = (rng.standard_normal((2, B, H)).astype(np.float32) for _ in range(2))
    with _limit(1):
        want = driver.infer(layers, x, h0, c0, batch_first)
    with _limit(2):
        got = driver.infer(layers, x, h0, c0, batch_first)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(h0, h0.copy())  # the caller's state is not advanced


def test_split_calls_from_several_threads_at_once():
    # Only one call owns the pool; the others run every block on their own
    # thread (claiming them all), and none waits for a thread that never comes.
    rng = np.random.default_rng(3)
    T, D, H = 20, 16, 256
    w = _weights(rng, D, H)
    lstm = driver.Prepared("lstm", *w)
    xs = [rng.standard_normal((T, 1, D)).astype(np.float32) for _ in range(6)]
    zeros = np.zeros((1, H), np.float32)

    def run(x):
        return driver.forward("lstm", x, zeros, zeros, *w, training=False, prepared=lstm)[0]

    with _limit(1):
        want = [run(x) for x in xs]

    def limited(x):
        with _limit(2):
            return run(x)

    with ThreadPoolExecutor(3) as ex:
        got = list(ex.map(limited, xs * 3))
    for i, out in enumerate(got):
        np.testing.assert_array_equal(out, want[i % len(xs)])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_inference_at_batch_one_takes_the_split(bidirectional):
    nn = pytest.importorskip("fastrnn.nn")
    rng = np.random.default_rng(4)
    layer = nn.LSTM(6, 128, num_layers=2, batch_first=True, bidirectional=bidirectional)
    x = rng.standard_normal((2, 15, 6)).astype(np.float32)
    for lengths in (None, [15, 9]):
        with _limit(1):
            want = layer(x, lengths=lengths)
        with _limit(2):
            got = layer(x, lengths=lengths)
        np.testing.assert_array_equal(want[0], got[0])
        for a, b in zip(want[1], got[1]):
            np.testing.assert_array_equal(a, b)
