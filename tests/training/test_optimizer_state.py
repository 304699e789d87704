"""One optimizer stepping several arrays keeps one state per array, as torch.optim."""

import copy
import pickle

import numpy as np
import pytest

from fastrnn import optim


@pytest.mark.parametrize("make", [optim.Adam, optim.RMSprop, lambda: optim.SGD(momentum=0.9)])
def test_two_arrays_step_as_with_two_optimizers(make):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(5), rng.standard_normal(3)
    a2, b2 = a.copy(), b.copy()
    shared, one, two = make(), make(), make()
    for _ in range(4):
        ga, gb = rng.standard_normal(5), 100 * rng.standard_normal(3)
        shared.update(a, ga)
        shared.update(b, gb)
        one.update(a2, ga)
        two.update(b2, gb)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)


def test_a_gradient_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="one gradient per parameter"):
        optim.Adam().update(np.zeros(4), np.zeros(3))


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda o: pickle.loads(pickle.dumps(o))])
def test_the_state_follows_a_copied_model(copier):
    params = np.ones(3)
    opt = optim.Adam()
    opt.update(params, np.full(3, 0.5))
    params2, opt2 = copier((params, opt))
    opt.update(params, np.full(3, 0.5))
    opt2.update(params2, np.full(3, 0.5))
    np.testing.assert_array_equal(params, params2)  # the moments came along
