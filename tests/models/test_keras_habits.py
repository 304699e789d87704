"""What a Keras or PyTorch user expects of the estimators' training loop."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor
from fastrnn.callbacks import LearningRateScheduler


def _data(n=64, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, 6, 2))
    return X, X[:, :, 0].sum(axis=1)


def test_tol_none_runs_every_epoch_asked_for_without_a_warning():
    X = np.zeros((32, 4, 1))
    y = np.zeros(32)  # nothing to learn: the training loss stops improving at once
    stopped = RNNRegressor(hidden_size=4, max_iter=50, random_state=0).fit(X, y)
    assert stopped.n_iter_ < 50  # scikit-learn's MLP stop on the training loss
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        every = RNNRegressor(hidden_size=4, max_iter=50, tol=None, random_state=0).fit(X, y)
    assert every.n_iter_ == 50 and len(every.loss_curve_) == 50


def test_tol_none_with_early_stopping_still_stops_on_the_validation_loss():
    X, y = _data(200)
    model = RNNRegressor(
        hidden_size=4,
        max_iter=300,
        tol=None,
        early_stopping=True,
        n_iter_no_change=3,
        learning_rate_init=0.05,
        random_state=0,
    ).fit(X, y)
    assert model.n_iter_ < 300


class _Record:
    def __init__(self, stop_after=None):
        self.begun, self.logs, self.stop_after = [], [], stop_after

    def on_epoch_begin(self, model, epoch, optimizer):
        self.begun.append(epoch)

    def on_epoch_end(self, model, epoch, logs):
        self.logs.append(dict(logs))
        return self.stop_after is not None and epoch + 1 >= self.stop_after


def test_callbacks_see_every_epoch_with_labelled_numbers_and_can_stop():
    X, y = _data()
    record = _Record(stop_after=3)
    model = RNNRegressor(hidden_size=4, max_iter=20, tol=None, callbacks=[record], random_state=0)
    model.fit(X, y, validation_data=(X[:16], y[:16]))
    assert model.n_iter_ == 3 and record.begun == [0, 1, 2]
    assert set(record.logs[0]) == {"loss", "val_loss", "val_r2", "learning_rate"}
    assert record.logs[-1]["loss"] == model.loss_curve_[-1]
    assert record.logs[-1]["val_loss"] == model.validation_loss_curve_[-1]
    assert record.logs[-1]["val_r2"] == model.validation_scores_[-1]
    # A single callback needs no list; the classifier's score is its accuracy.
    record = _Record()
    RNNClassifier(hidden_size=4, max_iter=2, tol=None, early_stopping=True, callbacks=record).fit(
        X, y > 0
    )
    assert "val_accuracy" in record.logs[0]


def test_a_learning_rate_schedule_object_sets_each_epochs_rate():
    X, y = _data()
    record = _Record()
    schedule = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    RNNRegressor(hidden_size=4, max_iter=4, tol=None, callbacks=[schedule, record]).fit(X, y)
    np.testing.assert_allclose(
        [r["learning_rate"] for r in record.logs], [0.1, 0.05, 0.1 / 3, 0.025]
    )
    with pytest.raises(ValueError, match="learning rate -1"):
        RNNRegressor(max_iter=2, callbacks=[LearningRateScheduler(lambda e, lr: -1)]).fit(X, y)


def test_callbacks_clone_and_are_not_saved(tmp_path):
    X, y = _data()
    model = RNNRegressor(hidden_size=4, max_iter=2, tol=None, callbacks=[_Record()])
    twin = clone(model)
    assert isinstance(twin.callbacks[0], _Record) and twin.callbacks[0] is not model.callbacks[0]
    model.fit(X, y).save(tmp_path / "m.npz")
    assert fastrnn.load(tmp_path / "m.npz").callbacks is None


def test_a_callback_without_the_methods_is_refused():
    X, y = _data()
    with pytest.raises(TypeError, match="neither on_epoch_begin"):
        RNNRegressor(max_iter=1, callbacks=[print]).fit(X, y)


def test_a_learning_rate_number_gets_a_hint():
    X, y = _data()
    with pytest.raises(ValueError, match="The learning rate itself is learning_rate_init"):
        RNNRegressor(learning_rate=0.001).fit(X, y)


def test_dropout_on_one_layer_warns_that_it_does_nothing():
    X, y = _data()
    with pytest.warns(UserWarning, match="with num_layers=1 it does nothing"):
        RNNRegressor(dropout=0.5, max_iter=1, tol=None).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        RNNRegressor(dropout=0.5, num_layers=2, max_iter=1, tol=None).fit(X, y)
        # Layers of two widths are two layers: dropout acts between them.
        RNNRegressor(dropout=0.5, hidden_size=(8, 4), max_iter=1, tol=None).fit(X, y)


def test_the_dask_regressor_refuses_the_distribution_losses():
    pytest.importorskip("distributed")
    from fastrnn.dask import DaskRNNRegressor

    assert "quantiles" not in DaskRNNRegressor().get_params()
    with pytest.raises(ValueError, match="loss"):
        DaskRNNRegressor(loss="quantile")._validate_params()
