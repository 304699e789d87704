"""The parameter constraints every fastrnn model shares.

scikit-learn validates an estimator's parameters against its
``_parameter_constraints`` (``fit`` does it once, through ``_fit_context``).
The regressor, the classifier and the language model take the same network
and training parameters; their constraints are written here once and each
model adds its own.
"""

import numbers

from sklearn.utils._param_validation import Interval, StrOptions

from fastrnn._cells import ESTIMATOR_CELLS
from fastrnn._kernels import BACKEND_NAMES
from fastrnn.optim import SCHEDULES, SOLVERS


def _at_least(low):
    return [Interval(numbers.Integral, low, None, closed="left")]


NETWORK = {
    "cell": [StrOptions(set(ESTIMATOR_CELLS))],
    "hidden_size": _at_least(1),
    "num_layers": _at_least(1),
    "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    "reset_after": ["boolean"],
    "backend": [StrOptions(set(BACKEND_NAMES))],
    "dtype": [StrOptions({"float32", "float64"})],
    "n_threads": _at_least(1) + [None],
}

TRAINING = {
    "solver": [StrOptions(set(SOLVERS))],
    "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
    "max_iter": _at_least(1),
    "alpha": [Interval(numbers.Real, 0, None, closed="left")],
    "clip_grad_norm": [Interval(numbers.Real, 0, None, closed="neither"), None],
    "tol": [Interval(numbers.Real, 0, None, closed="left"), None],
    "n_iter_no_change": _at_least(1),
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}

# The schedule of the estimators' ``learning_rate`` (the optimizers hold it).
SCHEDULE = {
    "learning_rate": [StrOptions(set(SCHEDULES))],
    "power_t": [Interval(numbers.Real, 0, None, closed="left")],
}
