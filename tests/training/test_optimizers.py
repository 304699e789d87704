"""The flat-buffer optimizers against torch.optim on the same gradients."""

import numpy as np
import pytest

from fastrnn import RNNLanguageModel, RNNRegressor
from fastrnn._training import Monitor
from fastrnn.optim import SGD, SOLVERS, Adam, RMSprop, make_optimizer
from tests.helpers import require_torch

torch = require_torch()


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda: Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
        (lambda: SGD(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (lambda: SGD(0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
        (
            lambda: SGD(0.1, momentum=0.9, nesterov=True),
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        ),
        (lambda: RMSprop(0.01), lambda p: torch.optim.RMSprop(p, lr=0.01, eps=1e-8)),
    ],
    ids=["adam", "sgd", "momentum", "nesterov", "rmsprop"],
)
def test_optimizer_matches_torch(ours, theirs):
    rng = np.random.default_rng(0)
    params = rng.standard_normal(50)
    tp = torch.tensor(params.copy(), requires_grad=True)
    opt, topt = ours(), theirs([tp])
    for _ in range(5):
        grad = rng.standard_normal(50)
        opt.update(params, grad)
        tp.grad = torch.tensor(grad)
        topt.step()
    np.testing.assert_allclose(params, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_schedules_live_in_the_optimizer():
    # "invscaling": epoch k steps at learning_rate / (k + 1) ** power_t.
    opt = make_optimizer("sgd", 0.1, schedule="invscaling", power_t=0.5)
    opt.epoch_starts(3)
    assert opt.learning_rate == pytest.approx(0.1 / 2)
    # "adaptive": the rate drops by 5 while above 1e-6, and only then stops.
    opt = make_optimizer("adam", 1e-5, schedule="adaptive")
    assert opt.trigger_stopping() is False and opt.learning_rate == pytest.approx(2e-6)
    assert opt.trigger_stopping() is False and opt.learning_rate == pytest.approx(4e-7)
    assert opt.trigger_stopping() is True
    # "constant" never changes the rate and stops when asked.
    opt = make_optimizer("rmsprop", 0.01)
    opt.epoch_starts(7)
    assert opt.learning_rate == 0.01 and opt.trigger_stopping() is True
    with pytest.raises(ValueError, match="schedule"):
        Adam(0.01, schedule="cosine")


def test_monitor_asks_the_optimizer_instead_of_writing_its_rate():
    opt = make_optimizer("sgd", 0.1, schedule="adaptive")
    monitor = Monitor(tol=0.1, n_iter_no_change=1)
    params = np.zeros(3)
    assert not monitor.update(1.0, params, opt)
    assert not monitor.update(1.0, params, opt)  # no improvement: the rate drops instead
    assert opt.learning_rate == pytest.approx(0.02)


def test_the_solver_table_serves_make_optimizer_and_the_estimators():
    for name, cls in SOLVERS.items():
        opt = make_optimizer(name, 0.05, momentum=0.5, nesterov=False)  # SGD's options
        assert type(opt) is cls and opt.learning_rate == 0.05
    assert make_optimizer("sgd", 0.1, momentum=0.5).momentum == 0.5
    with pytest.raises(ValueError, match="solver"):
        make_optimizer("adagrad", 0.1)
    for model in (RNNRegressor(), RNNLanguageModel()):
        (constraint,) = model._parameter_constraints["solver"]
        assert constraint.options == set(SOLVERS)
