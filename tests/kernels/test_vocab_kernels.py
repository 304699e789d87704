"""The embedding and softmax-head kernels: compiled vs NumPy, NumPy vs finite differences."""

import numpy as np
import pytest

from fastrnn._kernels import _reference
from fastrnn.nn import Embedding
from tests.helpers import COMPILED

driver = pytest.importorskip("fastrnn._kernels._driver") if "cython" in COMPILED else None
KERNELS = [_reference] + ([driver] if driver is not None else [])


@pytest.mark.parametrize("kernels", KERNELS, ids=lambda m: m.__name__.split(".")[-1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_backward_adds_repeated_rows(kernels, dtype):
    rng = np.random.default_rng(0)
    ids = np.array([[3, 1, 3], [0, 3, 1]])
    dout = rng.standard_normal((2, 3, 4)).astype(dtype)
    grad = np.ones((5, 4), dtype)
    kernels.embedding_backward(ids, dout, grad)
    expected = np.ones((5, 4))
    for i, row in zip(ids.ravel(), dout.reshape(-1, 4)):
        expected[i] += row
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    assert grad.dtype == dtype


def _logits(dtype, n=7, v=11, seed=1):
    rng = np.random.default_rng(seed)
    z = (3 * rng.standard_normal((n, v))).astype(dtype)
    return z, rng.integers(0, v, n), rng.uniform(0.1, 1, n).astype(dtype)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
def test_compiled_softmax_cross_entropy_matches_numpy(dtype, tol):
    if driver is None:
        pytest.skip("the compiled backend is not built")
    z, y, w = _logits(dtype)
    z[0, 0] = 80  # large logits stay finite
    loss, grad = driver.softmax_cross_entropy(z, y, w)
    ref_loss, ref_grad = _reference.softmax_cross_entropy(z.astype(np.float64), y, w)
    assert loss == pytest.approx(ref_loss, rel=tol)
    np.testing.assert_allclose(grad, ref_grad, rtol=tol * 10, atol=tol)


def test_softmax_cross_entropy_gradient_matches_finite_differences():
    z, y, w = _logits(np.float64)
    loss, grad = _reference.softmax_cross_entropy(z, y, w)
    eps, numeric = 1e-6, np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        numeric[idx] = (
            _reference.softmax_cross_entropy(zp, y, w)[0]
            - _reference.softmax_cross_entropy(zm, y, w)[0]
        ) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kernels", KERNELS, ids=lambda m: m.__name__.split(".")[-1])
def test_targets_out_of_range_are_refused(kernels):
    z, _, w = _logits(np.float32, n=2, v=3)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\)"):
        kernels.softmax_cross_entropy(z, np.array([0, 3]), w)


def test_embedding_gradient_matches_finite_differences():
    emb = Embedding(6, 3, dtype="float64", random_state=0)
    ids = np.array([[1, 4, 1], [5, 0, 1]])
    G = np.random.default_rng(2).standard_normal((2, 3, 3))
    emb.forward(ids, training=True)
    emb.backward(G)
    numeric = np.zeros_like(emb.weight)
    for idx in np.ndindex(emb.weight.shape):
        saved = emb.weight[idx]
        emb.weight[idx] = saved + 1e-6
        up = float(np.sum(emb.forward(ids) * G))
        emb.weight[idx] = saved - 1e-6
        down = float(np.sum(emb.forward(ids) * G))
        emb.weight[idx] = saved
        numeric[idx] = (up - down) / 2e-6
    np.testing.assert_allclose(emb.grad, numeric, rtol=1e-7, atol=1e-9)


def test_embedding_matches_torch_and_keeps_padding_out_of_the_gradient():
    torch = pytest.importorskip("torch")
    module = torch.nn.Embedding(7, 4, padding_idx=2)
    emb = Embedding(7, 4, padding_idx=2)
    emb.load_state_dict(module.state_dict())
    ids = np.array([[2, 5, 1, 5], [0, 2, 6, 3]])
    G = np.random.default_rng(3).standard_normal((2, 4, 4)).astype(np.float32)
    out_t = module(torch.from_numpy(ids))
    (out_t * torch.from_numpy(G)).sum().backward()
    np.testing.assert_array_equal(emb.forward(ids, training=True), out_t.detach().numpy())
    emb.backward(G)
    np.testing.assert_allclose(emb.grad, module.weight.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert not emb.grad[2].any()


@pytest.mark.parametrize(
    "ids, error, match",
    [
        ([[0, 7]], ValueError, r"ids must lie in \[0, 7\)"),
        ([[-1, 0]], ValueError, "must lie in"),
        ([[0.5, 1]], TypeError, "integer token ids"),
        ([["a"]], TypeError, "integer token ids"),
    ],
)
def test_bad_ids_are_refused(ids, error, match):
    with pytest.raises(error, match=match):
        Embedding(7, 2).forward(ids)


@pytest.mark.parametrize("kernels", KERNELS, ids=lambda m: m.__name__.split(".")[-1])
def test_kernels_refuse_what_would_read_or_write_out_of_bounds(kernels):
    grad = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        kernels.embedding_backward(np.array([5, -1]), np.ones((2, 2), np.float32), grad)
    with pytest.raises(TypeError, match="ids must be integers"):
        kernels.embedding_backward(np.array([1.7]), np.ones((1, 2), np.float32), grad)
    assert not grad.any()
    z, y, w = _logits(np.float32, n=4, v=3)
    with pytest.raises(ValueError, match="N targets and N weights"):
        kernels.softmax_cross_entropy(z, y[:2], w)
    with pytest.raises(ValueError, match="N targets and N weights"):
        kernels.softmax_cross_entropy(z, y, w[:1])
    with pytest.raises(TypeError, match="targets must be integers"):
        kernels.softmax_cross_entropy(z, y.astype(float), w)


@pytest.mark.parametrize("kernels", KERNELS, ids=lambda m: m.__name__.split(".")[-1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_lengths", [True, False])
def test_reverse_within_lengths(kernels, dtype, with_lengths):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 4, 3)).astype(dtype)
    lengths = np.array([6, 1, 3, 4]) if with_lengths else None
    got = kernels.reverse_within_lengths(a, lengths)
    lens = lengths if with_lengths else np.full(4, 6)
    for b, n in enumerate(lens):
        np.testing.assert_array_equal(got[:n, b], a[:n, b][::-1])
        np.testing.assert_array_equal(got[n:, b], a[n:, b])  # padding stays in place
    np.testing.assert_array_equal(kernels.reverse_within_lengths(got, lengths), a)


def test_infinite_ids_are_refused_everywhere():
    # One check of token ids for the embedding and the estimators: a float id
    # of infinity once passed the embedding's (inf == round(inf)).
    emb = Embedding(7, 3)
    with pytest.raises(TypeError, match="integer token ids"):
        emb.forward(np.array([[0.0, np.inf]]))
    from fastrnn import RNNClassifier

    with pytest.raises(TypeError, match="integer token ids"):
        RNNClassifier(embedding_dim=2, max_iter=1).fit(np.array([[1.0, np.inf]]), [0])
