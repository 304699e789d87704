"""Optimizers over one flat parameter buffer, for training loops written by hand.

Each optimizer updates the whole buffer in place with a handful of vectorised
NumPy operations — no Python loop over parameter arrays — which is what the
flat layout of :class:`fastrnn.nn.RNNBase` is for. One verb,
``update(params, grad)``, as the ``update_params`` of scikit-learn's
``_stochastic_optimizers``; it is ``torch.optim``'s ``step()`` with the
buffers named::

    net = fastrnn.nn.SequenceNetwork("lstm", 1, 50, 1)
    opt = fastrnn.optim.Adam(learning_rate=0.01)  # torch.optim.Adam(params, lr=0.01)
    net.zero_grad()
    pred = net.forward(x, training=True)
    net.backward(2 * (pred - y) / pred.size)  # dL/dpred of the mean squared error
    opt.update(net.flat_params, net.flat_grad)  # opt.step()

The estimators train with the same classes (their ``solver`` parameter), and
the tests check each against ``torch.optim`` on the same gradients.
"""

__all__ = ["SGD", "Adam", "RMSprop"]

import numpy as np


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float, default=0.01
    momentum : float, default=0.0
    nesterov : bool, default=False
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity = None

    def update(self, params, grad):
        """Take one step: ``params -= lr * direction``, in place."""
        if not self.momentum:
            params -= self.learning_rate * grad
            return
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v = self.velocity
        v *= self.momentum
        v -= self.learning_rate * grad
        if self.nesterov:
            params += self.momentum * v - self.learning_rate * grad
        else:
            params += v


class Adam:
    """Adam (Kingma & Ba, 2014) with bias correction, as ``torch.optim.Adam``.

    Parameters
    ----------
    learning_rate : float, default=0.001
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.m = self.v = None

    def update(self, params, grad):
        """Take one step on ``params`` in place."""
        if self.m is None:
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)
        self.t += 1
        self.m *= self.beta_1
        self.m += (1 - self.beta_1) * grad
        self.v *= self.beta_2
        self.v += (1 - self.beta_2) * grad * grad
        step = self.learning_rate / (1 - self.beta_1**self.t)
        denom = np.sqrt(self.v / (1 - self.beta_2**self.t))
        denom += self.epsilon
        params -= step * self.m / denom


class RMSprop:
    """RMSprop (Hinton), as ``torch.optim.RMSprop`` without momentum or centering.

    Parameters
    ----------
    learning_rate : float, default=0.01
    rho : float, default=0.99
        Decay rate of the running mean of squared gradients.
    epsilon : float, default=1e-8
    """

    def __init__(self, learning_rate=0.01, rho=0.99, epsilon=1e-8):
        self.learning_rate = learning_rate
        self.rho = rho
        self.epsilon = epsilon
        self.square_avg = None

    def update(self, params, grad):
        """Take one step on ``params`` in place."""
        if self.square_avg is None:
            self.square_avg = np.zeros_like(params)
        self.square_avg *= self.rho
        self.square_avg += (1 - self.rho) * grad * grad
        params -= self.learning_rate * grad / (np.sqrt(self.square_avg) + self.epsilon)


def make_optimizer(solver, learning_rate, momentum=0.9, nesterov=True):
    """Build the optimizer named by an estimator's ``solver`` parameter."""
    if solver == "adam":
        return Adam(learning_rate)
    if solver == "rmsprop":
        return RMSprop(learning_rate)
    if solver == "sgd":
        return SGD(learning_rate, momentum=momentum, nesterov=nesterov)
    raise ValueError(f"solver must be 'adam', 'sgd' or 'rmsprop', got {solver!r}")
