"""Regressors that predict a distribution: quantiles (pinball loss) and a Gaussian head."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastrnn
from fastrnn import RNNRegressor
from fastrnn._losses import gaussian_nll, pinball


def _numeric_grad(fn, p, eps=1e-6):
    grad = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (fn(up) - fn(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("weighted", [False, True])
def test_pinball_gradient_matches_finite_differences(weighted):
    rng = np.random.default_rng(0)
    p, y = rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    w = rng.uniform(0.5, 2, 5) if weighted else None
    levels = np.tile([0.1, 0.5, 0.9], 2)
    _, grad = pinball(p, y, w, levels=levels)
    numeric = _numeric_grad(lambda q: pinball(q, y, w, levels=levels)[0], p)
    np.testing.assert_allclose(grad, numeric, atol=1e-8)


def test_pinball_is_minimised_by_the_quantile():
    y = np.random.default_rng(1).standard_normal(2001)
    grid = np.linspace(-2, 2, 401)
    losses = [pinball(np.full((len(y), 1), c), y[:, None], levels=[0.9])[0] for c in grid]
    assert abs(grid[np.argmin(losses)] - np.quantile(y, 0.9)) < 0.02


@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_nll_gradient_matches_finite_differences(weighted):
    rng = np.random.default_rng(2)
    p, y = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    w = rng.uniform(0.5, 2, 4) if weighted else None
    _, grad = gaussian_nll(p, y, w)
    numeric = _numeric_grad(lambda q: gaussian_nll(q, y, w)[0], p)
    np.testing.assert_allclose(grad, numeric, atol=1e-7)


def _noisy_problem(n=600, seed=0):
    """A target whose noise grows with the last step's second feature."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8, 2))
    noise = rng.standard_normal(n) * (0.2 + np.abs(X[:, -1, 1]))
    return X, X[:, :, 0].sum(axis=1) + noise


def _fit(**params):
    X, y = _noisy_problem(1500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return RNNRegressor(hidden_size=16, max_iter=20, random_state=0, **params).fit(X, y)


def test_quantile_regressor_predicts_ordered_quantiles_that_cover_their_levels():
    model = _fit(loss="quantile", quantiles=(0.1, 0.5, 0.9))
    X, y = _noisy_problem(400, seed=3)  # unseen rows
    q = model.predict_quantiles(X)
    assert q.shape == (400, 3) and np.all(np.diff(q, axis=1) >= 0)
    below = (y[:, None] < q).mean(axis=0)
    np.testing.assert_allclose(below, [0.1, 0.5, 0.9], atol=0.08)
    np.testing.assert_array_equal(model.predict(X), q[:, 1])  # the median
    # Wider where the noise is: the spread follows |X[:, -1, 1]|.
    assert np.corrcoef(q[:, 2] - q[:, 0], np.abs(X[:, -1, 1]))[0, 1] > 0.5


def test_quantile_regressor_with_several_targets():
    X, y = _noisy_problem(100)
    model = RNNRegressor(
        hidden_size=8, max_iter=2, random_state=0, loss="quantile", quantiles=[0.25, 0.75]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, np.column_stack([y, -y]))
    assert model.predict_quantiles(X).shape == (100, 2, 2)
    assert model.predict(X).shape == (100, 2)


def test_gaussian_regressor_predicts_a_spread_that_calibrates():
    model = _fit(loss="gaussian")
    X, y = _noisy_problem(400, seed=3)
    mean, std = model.predict(X, return_std=True)
    assert mean.shape == std.shape == (400,) and np.all(std > 0)
    inside = np.mean(np.abs(y - mean) <= 1.645 * std)  # a 90% interval
    assert 0.82 <= inside <= 0.97
    assert np.corrcoef(std, np.abs(X[:, -1, 1]))[0, 1] > 0.5
    np.testing.assert_array_equal(model.predict(X), mean)


@pytest.mark.parametrize("loss", ["quantile", "gaussian"])
def test_distribution_models_save_and_load(tmp_path, loss):
    X, y = _noisy_problem(60)
    model = RNNRegressor(hidden_size=4, max_iter=1, random_state=0, loss=loss).fit(X, y)
    model.save(tmp_path / "m.npz")
    loaded = fastrnn.load(tmp_path / "m.npz")
    if loss == "quantile":
        np.testing.assert_array_equal(loaded.predict_quantiles(X), model.predict_quantiles(X))
    else:
        before, after = model.predict(X, return_std=True), loaded.predict(X, return_std=True)
        np.testing.assert_array_equal(np.stack(after), np.stack(before))


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(loss="quantile", quantiles=(0.5, 0.1)), "increasing levels"),
        (dict(loss="quantile", quantiles=(0.0, 0.5)), "strictly between 0 and 1"),
        (dict(loss="gaussian", output="sequence"), "needs output='last'"),
    ],
)
def test_bad_distribution_settings_are_refused(params, message):
    X, y = _noisy_problem(20)
    if params.get("output") == "sequence":
        y = X[:, :, 0]
    with pytest.raises(ValueError, match=message):
        RNNRegressor(max_iter=1, **params).fit(X, y)


def test_what_a_distribution_model_cannot_do_is_refused():
    X, y = _noisy_problem(20)
    plain = RNNRegressor(hidden_size=4, max_iter=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="return_std needs loss='gaussian'"):
        plain.predict(X, return_std=True)
    with pytest.raises(ValueError, match="predict_quantiles needs loss='quantile'"):
        plain.predict_quantiles(X)
    model = RNNRegressor(hidden_size=4, max_iter=1, random_state=0, loss="quantile").fit(X, y)
    with pytest.raises(ValueError, match="cannot be streamed"):
        model.stream()
    pytest.importorskip("onnx")
    from fastrnn.onnx import to_onnx

    with pytest.raises(TypeError, match="loss='quantile'"):
        to_onnx(model)
