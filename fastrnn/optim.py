"""Optimizers over one flat parameter buffer, for training loops written by hand.

Each optimizer updates the whole buffer in place with a handful of vectorised
NumPy operations — no Python loop over parameter arrays — which is what the
flat layout of :class:`fastrnn.nn.RNNBase` is for. One verb,
``update(params, grad)``, as the ``update_params`` of scikit-learn's
``_stochastic_optimizers``; it is ``torch.optim``'s ``step()`` with the
buffers named (and, like it, keeps its moments per array updated)::

    net = fastrnn.nn.SequenceNetwork("lstm", 1, 50, 1)
    opt = fastrnn.optim.Adam(learning_rate=0.01)  # torch.optim.Adam(params, lr=0.01)
    net.zero_grad()
    pred = net.forward(x, training=True)
    net.backward(2 * (pred - y) / pred.size)  # dL/dpred of the mean squared error
    opt.update(net.flat_params, net.flat_grad)  # opt.step()

The estimators train with the same classes (their ``solver`` parameter names
one in :data:`SOLVERS`), and the tests check each against ``torch.optim`` on
the same gradients. A learning-rate schedule is the optimizer's own, as in
scikit-learn's MLP: the training loop calls :meth:`Optimizer.epoch_starts`
before each epoch and :meth:`Optimizer.trigger_stopping` when the loss has
stopped improving, and never writes ``learning_rate`` itself.
"""

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "SOLVERS", "SCHEDULES"]

import inspect

import numpy as np

# How the learning rate changes over a fit (scikit-learn's MLP ``learning_rate``).
SCHEDULES = ("constant", "invscaling", "adaptive")


class Optimizer:
    """What every optimizer shares: the learning rate and its schedule.

    Subclasses implement :meth:`update`.

    Parameters
    ----------
    learning_rate : float
        The initial step size.
    schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        "invscaling" sets the rate of epoch ``k`` (from 0) to
        ``learning_rate / (k + 1) ** power_t``; "adaptive" divides it by 5
        each time the loss stops improving, until it falls below 1e-6.
    power_t : float, default=0.5
        The exponent of "invscaling".
    """

    def __init__(self, learning_rate, schedule="constant", power_t=0.5):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.learning_rate_init = learning_rate
        self.learning_rate = learning_rate
        self.schedule = schedule
        self.power_t = power_t
        self._states = []

    def update(self, params, grad):
        """Take one step on ``params`` in place, given ``grad``.

        Parameters
        ----------
        params : ndarray
            The parameters (a flat buffer, such as a network's
            ``flat_params``), updated in place.
        grad : ndarray
            The gradient of the loss with respect to ``params``, of its shape.
        """
        raise NotImplementedError

    def _state(self, params, grad):
        """The running state (moments, step count) of the array ``params``.

        One per array updated, as ``torch.optim`` keeps one per parameter: an
        optimizer stepping two arrays never mixes their moments.
        """
        if np.shape(grad) != np.shape(params):
            raise ValueError(
                f"grad has shape {np.shape(grad)}, params {np.shape(params)}: one gradient "
                "per parameter"
            )
        # A list searched by identity, not a dict keyed by id(): ids change
        # when a model is pickled or copied, identities within it do not.
        for array, state in self._states:
            if array is params:
                return state
        self._states.append((params, {}))
        return self._states[-1][1]

    def epoch_starts(self, epoch):
        """Set the learning rate of an epoch, as the schedule says.

        Parameters
        ----------
        epoch : int
            The epoch about to start, counted from 0 over the whole fit.
        """
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / ((epoch + 1) ** self.power_t)

    def trigger_stopping(self):
        """Say whether to stop, now that the loss has stopped improving.

        The "adaptive" schedule divides the rate by 5 and goes on while it is
        above 1e-6; the others stop.

        Returns
        -------
        bool
            True to stop training, False to go on (with the lowered rate).
        """
        if self.schedule == "adaptive" and self.learning_rate > 1e-6:
            self.learning_rate /= 5
            return False
        return True


# The subclasses' docstrings end with the schedule's arguments, which they pass on to
# Optimizer.
_SCHEDULE = """
    schedule : {"constant", "invscaling", "adaptive"}, default="constant"
        The learning-rate schedule, as for :class:`Optimizer`.
    power_t : float, default=0.5
        The exponent of "invscaling".
"""


class SGD(Optimizer):
    __doc__ = (
        """Stochastic gradient descent with optional (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float, default=0.01
        The initial step size.
    momentum : float, default=0.0
        The fraction of the previous step added to each step; 0 is plain
        gradient descent.
    nesterov : bool, default=False
        Use Nesterov's momentum (with ``momentum`` > 0)."""
        + _SCHEDULE
    )

    def __init__(
        self, learning_rate=0.01, momentum=0.0, nesterov=False, schedule="constant", power_t=0.5
    ):
        super().__init__(learning_rate, schedule, power_t)
        self.momentum = momentum
        self.nesterov = nesterov

    def update(self, params, grad):
        state = self._state(params, grad)
        if not self.momentum:
            params -= self.learning_rate * grad
            return
        if "velocity" not in state:
            state["velocity"] = np.zeros_like(params)
        v = state["velocity"]
        v *= self.momentum
        v -= self.learning_rate * grad
        if self.nesterov:
            params += self.momentum * v - self.learning_rate * grad
        else:
            params += v

    update.__doc__ = Optimizer.update.__doc__  # every update takes the same arguments


class Adam(Optimizer):
    __doc__ = (
        """Adam (Kingma & Ba, 2014) with bias correction, as ``torch.optim.Adam``.

    Parameters
    ----------
    learning_rate : float, default=0.001
        The initial step size.
    beta_1 : float, default=0.9
        Decay rate of the first moment estimate.
    beta_2 : float, default=0.999
        Decay rate of the second moment estimate.
    epsilon : float, default=1e-8
        Added to the denominator for numerical stability."""
        + _SCHEDULE
    )

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        schedule="constant",
        power_t=0.5,
    ):
        super().__init__(learning_rate, schedule, power_t)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def update(self, params, grad):
        state = self._state(params, grad)
        if "m" not in state:
            state.update(t=0, m=np.zeros_like(params), v=np.zeros_like(params))
        state["t"] += 1
        t, m, v = state["t"], state["m"], state["v"]
        m *= self.beta_1
        m += (1 - self.beta_1) * grad
        v *= self.beta_2
        v += (1 - self.beta_2) * grad * grad
        step = self.learning_rate / (1 - self.beta_1**t)
        denom = np.sqrt(v / (1 - self.beta_2**t))
        denom += self.epsilon
        params -= step * m / denom

    update.__doc__ = Optimizer.update.__doc__  # every update takes the same arguments


class RMSprop(Optimizer):
    __doc__ = (
        """RMSprop (Hinton), as ``torch.optim.RMSprop`` without momentum or centering.

    Parameters
    ----------
    learning_rate : float, default=0.01
        The initial step size.
    rho : float, default=0.99
        Decay rate of the running mean of squared gradients.
    epsilon : float, default=1e-8
        Added to the denominator for numerical stability."""
        + _SCHEDULE
    )

    def __init__(
        self, learning_rate=0.01, rho=0.99, epsilon=1e-8, schedule="constant", power_t=0.5
    ):
        super().__init__(learning_rate, schedule, power_t)
        self.rho = rho
        self.epsilon = epsilon

    def update(self, params, grad):
        state = self._state(params, grad)
        if "square_avg" not in state:
            state["square_avg"] = np.zeros_like(params)
        square_avg = state["square_avg"]
        square_avg *= self.rho
        square_avg += (1 - self.rho) * grad * grad
        params -= self.learning_rate * grad / (np.sqrt(square_avg) + self.epsilon)

    update.__doc__ = Optimizer.update.__doc__  # every update takes the same arguments


# The estimators' ``solver`` names: the one table their parameter constraints
# and make_optimizer read. A new optimizer is a class above and a row here.
SOLVERS = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop}


def make_optimizer(solver, learning_rate, schedule="constant", power_t=0.5, **options):
    """The optimizer an estimator's ``solver`` names, with its schedule.

    ``options`` are the solver's own (``momentum``, ``nesterov`` for "sgd");
    an option the solver does not take is dropped, so one call serves every
    solver.
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
    cls = SOLVERS[solver]
    taken = inspect.signature(cls).parameters
    own = {k: v for k, v in options.items() if k in taken}
    return cls(learning_rate, schedule=schedule, power_t=power_t, **own)
