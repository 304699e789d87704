"""Callbacks: code the estimators run at each epoch (``callbacks=``).

A callback is any object with either or both of

- ``on_epoch_begin(model, epoch, optimizer)``: before an epoch; it may set
  ``optimizer.learning_rate``;
- ``on_epoch_end(model, epoch, logs)``: after it, with ``logs`` the epoch's
  numbers by name (``loss``; with held-out data ``val_loss`` and ``val_r2``
  or ``val_accuracy``; ``learning_rate``); returning True stops training.

as Keras' and skorch's callbacks are, without a base class to inherit.
Checkpoints, logging to a tracker or pruning a hyperparameter search's
trial are a few lines each::

    class Log:
        def on_epoch_end(self, model, epoch, logs):
            print(epoch, logs["loss"])

    RNNRegressor(callbacks=[Log()]).fit(X, y)
"""

import numbers

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler:
    """Set the learning rate before each epoch, as Keras' ``LearningRateScheduler``.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, learning_rate) -> new learning rate``: the epoch's
        number (from 0, counted over the model's whole training) and the
        rate in use.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn import RNNRegressor
    >>> from fastrnn.callbacks import LearningRateScheduler
    >>> halve = LearningRateScheduler(lambda epoch, lr: lr / 2 if epoch and epoch % 5 == 0 else lr)
    >>> class Record:
    ...     rates = []
    ...     def on_epoch_end(self, model, epoch, logs):
    ...         self.rates.append(logs["learning_rate"])
    >>> X = np.random.default_rng(0).standard_normal((64, 5, 1))
    >>> record = Record()
    >>> model = RNNRegressor(max_iter=11, tol=None, learning_rate_init=0.01,
    ...                      callbacks=[halve, record], random_state=0).fit(X, X[:, :, 0].sum(1))
    >>> record.rates[4], record.rates[5], record.rates[10]
    (0.01, 0.005, 0.0025)
    """

    def __init__(self, schedule):
        self.schedule = schedule

    def on_epoch_begin(self, model, epoch, optimizer):
        """Set ``optimizer.learning_rate`` to what the schedule gives for this epoch.

        Parameters
        ----------
        model : estimator
            The model being trained (not used).
        epoch : int
            The epoch about to start, from 0 over the model's whole training.
        optimizer : fastrnn.optim.Optimizer
            The model's optimizer, whose ``learning_rate`` is set.

        Raises
        ------
        ValueError
            If the schedule gives anything but a positive number.
        """
        rate = self.schedule(epoch, optimizer.learning_rate)
        if not isinstance(rate, numbers.Real) or not rate > 0:
            raise ValueError(f"the schedule gave learning rate {rate!r} at epoch {epoch}")
        optimizer.learning_rate = float(rate)
