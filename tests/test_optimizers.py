"""The flat-buffer optimizers against torch.optim on the same gradients."""

import numpy as np
import pytest

from fastrnn.optim import SGD, Adam, RMSprop
from tests.conftest import require_torch

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
