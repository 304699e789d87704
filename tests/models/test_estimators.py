"""The estimators learn the classic RNN tasks and behave as scikit-learn users expect."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastrnn import RNNClassifier, RNNRegressor, _estimators, _training
from fastrnn._losses import cross_entropy, squared_error
from fastrnn._training import head_loss
from fastrnn.nn import SequenceNetwork

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def sine_windows(n, lookback, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 100, (n, 1)) + 0.3 * np.arange(lookback + 1)
    s = np.sin(t) + 0.05 * rng.standard_normal(t.shape)
    return s[:, :-1, None], s[:, -1]


def test_regressor_learns_the_next_value_of_a_noisy_sine_wave():
    X, y = sine_windows(600, 20)
    model = RNNRegressor(hidden_size=16, max_iter=30, random_state=0).fit(X[:500], y[:500])
    mse = np.mean((model.predict(X[500:]) - y[500:]) ** 2)
    assert mse < 0.05 * np.var(y[500:])


def test_classifier_learns_the_next_digit_of_a_digit_pattern():
    pattern = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])  # deterministic cycle
    starts = np.arange(300) % len(pattern)
    idx = (starts[:, None] + np.arange(7)) % len(pattern)
    X = np.eye(10)[pattern[idx[:, :6]]]  # one-hot digits, (300, 6, 10)
    y = pattern[idx[:, 6]]
    clf = RNNClassifier(hidden_size=24, max_iter=60, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.98


def test_classifier_tells_two_kinds_of_series_apart():
    rng = np.random.default_rng(1)
    t = np.arange(30) * 0.4
    phase = rng.uniform(0, 6, (200, 1))
    sine = np.sin(t + phase[:100])
    square = np.sign(np.sin(t + phase[100:]))
    X = np.concatenate([sine, square])[:, :, None] + 0.1 * rng.standard_normal((200, 30, 1))
    y = np.array(["sine"] * 100 + ["square"] * 100)
    clf = RNNClassifier(cell="gru", hidden_size=16, max_iter=40, random_state=0)
    clf.fit(X[::2], y[::2])
    assert list(clf.classes_) == ["sine", "square"]
    assert clf.score(X[1::2], y[1::2]) > 0.95
    proba = clf.predict_proba(X[1::2])
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X[1::2])), proba, rtol=1e-6)


def test_sequence_output_learns_a_many_to_many_task():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 15, 1))
    y = np.cumsum(X[:, :, 0], axis=1) / 4  # running sum at every step
    model = RNNRegressor(output="sequence", hidden_size=16, max_iter=40, random_state=0)
    model.fit(X[:250], y[:250])
    pred = model.predict(X[250:])
    assert pred.shape == (50, 15)
    assert model.score(X[250:], y[250:]) > 0.9


def test_ragged_sequences_train_and_predict_per_sample():
    rng = np.random.default_rng(3)
    X = [rng.standard_normal((rng.integers(3, 20), 2)) for _ in range(150)]
    y = np.array([x[:, 0].sum() for x in X])
    model = RNNRegressor(hidden_size=16, max_iter=40, random_state=0).fit(X[:120], y[:120])
    assert model.score(X[120:], y[120:]) > 0.8
    seq = RNNClassifier(output="sequence", hidden_size=8, max_iter=5, random_state=0)
    labels = [(x[:, 0] > 0).astype(int) for x in X]
    seq.fit(X, labels)
    out = seq.predict(X[:3])
    assert [len(o) for o in out] == [len(x) for x in X[:3]]


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_variable_length_batch_gives_the_gradients_of_each_sequence_alone(output, cell):
    rng = np.random.default_rng(4)
    lengths = np.array([6, 2, 4])
    X = rng.standard_normal((3, 6, 2))
    y = rng.standard_normal((3, 6, 1) if output == "sequence" else (3, 1))
    net = SequenceNetwork(
        cell, 2, 5, 1, bidirectional=True, output=output, dtype="float64", random_state=0
    )

    def grad_of(xb, yb, lb, weight):
        net.zero_grad()
        pred = net.forward(xb, lengths=lb, training=True)
        _, dpred = head_loss(net, pred, yb, None, lb, squared_error)
        net.backward(dpred * weight)
        return net.flat_grad.copy()

    batch = grad_of(X, y, lengths, 1.0)
    # The batch loss averages over samples ("last") or over valid steps ("sequence").
    share = lengths / lengths.sum() if output == "sequence" else np.full(3, 1 / 3)
    alone = sum(grad_of(X[i : i + 1, : lengths[i]], y[i : i + 1], None, share[i]) for i in range(3))
    np.testing.assert_allclose(batch, alone, rtol=1e-10, atol=1e-12)


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(5)
    z, y, w = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2]), rng.uniform(0.5, 2, 4)
    _, grad = cross_entropy(z, y, w)
    num = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[i] = 1e-6
        num[i] = (cross_entropy(z + e, y, w)[0] - cross_entropy(z - e, y, w)[0]) / 2e-6
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-9)


def test_pipeline_with_standard_scaler():
    X, y = sine_windows(300, 12)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("rnn", RNNRegressor(hidden_size=8, max_iter=15, random_state=0)),
        ]
    )
    pipe.fit(X[:, :, 0] * 50 + 100, y)  # 2-D: columns are time steps
    assert pipe.score(X[:, :, 0] * 50 + 100, y) > 0.8


def test_grid_search_runs_in_two_processes():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((80, 8, 1))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    search = GridSearchCV(
        RNNClassifier(max_iter=5, random_state=0),
        {"hidden_size": [4, 8], "cell": ["lstm", "gru"]},
        cv=2,
        n_jobs=2,
    )
    search.fit(X, y)
    assert set(search.best_params_) == {"hidden_size", "cell"}
    serial = GridSearchCV(
        RNNClassifier(max_iter=5, random_state=0),
        {"hidden_size": [4, 8], "cell": ["lstm", "gru"]},
        cv=2,
    ).fit(X, y)
    np.testing.assert_array_equal(
        search.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


def test_same_random_state_gives_bitwise_identical_weights():
    X, y = sine_windows(100, 10)
    params = dict(hidden_size=8, max_iter=5, dropout=0.2, num_layers=2, random_state=3)
    a = RNNRegressor(**params).fit(X, y).network_.flat_params
    b = RNNRegressor(**params).fit(X, y).network_.flat_params
    assert a.tobytes() == b.tobytes()
    c = RNNRegressor(**{**params, "random_state": 4}).fit(X, y).network_.flat_params
    assert a.tobytes() != c.tobytes()


def test_early_stopping_holds_out_the_tail_and_keeps_the_best_epoch():
    X, y = sine_windows(200, 10)
    model = RNNRegressor(
        hidden_size=8, max_iter=30, early_stopping=True, n_iter_no_change=3, random_state=0
    ).fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_ == len(model.loss_curve_)
    best = int(np.argmin(model.validation_loss_curve_))
    tail = slice(180, 200)
    # The kept weights are the best epoch's: their hold-out R² is the best recorded.
    assert model.score(X[tail], y[tail]) == pytest.approx(model.validation_scores_[best], rel=1e-5)


def test_diverging_loss_keeps_the_best_weights_with_a_warning(monkeypatch):
    X, y = sine_windows(64, 5)
    calls = {"n": 0}
    real = _estimators.train_epoch

    def flaky(*args, **kwargs):
        calls["n"] += 1
        return float("nan") if calls["n"] == 4 else real(*args, **kwargs)

    monkeypatch.setattr(_estimators, "train_epoch", flaky)
    with pytest.warns(_training.TrainingDivergedWarning) as record:
        model = RNNRegressor(hidden_size=4, max_iter=10, random_state=0).fit(X, y)
    assert record[0].filename == __file__  # the warning points at the caller of fit
    assert model.n_iter_ == 3
    assert np.all(np.isfinite(model.predict(X)))


def test_nan_in_the_first_epoch_raises_and_keeps_the_previous_model(monkeypatch):
    X, y = sine_windows(64, 5)
    model = RNNRegressor(hidden_size=4, max_iter=3, random_state=0, warm_start=True).fit(X, y)
    before = model.predict(X)
    monkeypatch.setattr(_estimators, "train_epoch", lambda *a, **k: float("nan"))
    with pytest.raises(ValueError, match="NaN or infinite in the first epoch"):
        model.fit(X, y)
    np.testing.assert_array_equal(model.predict(X), before)


def test_keyboard_interrupt_leaves_a_usable_model(monkeypatch):
    X, y = sine_windows(64, 5)
    calls = {"n": 0}
    real = _estimators.train_epoch

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_estimators, "train_epoch", interrupted)
    model = RNNRegressor(hidden_size=4, max_iter=10, random_state=0)
    # The interrupt is raised again (a loop or grid search around fit stops),
    # with the model usable: the best epoch's weights.
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    assert model.n_iter_ == 2 and np.all(np.isfinite(model.predict(X)))
    calls["n"] = 0
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(KeyboardInterrupt):
        GridSearchCV(RNNRegressor(hidden_size=4, max_iter=10), {"alpha": [0, 1e-4]}, cv=2).fit(X, y)
    assert calls["n"] == 3  # the search stopped at the interrupt


def test_invalid_parameters_raise_at_fit_naming_the_parameter():
    X, y = sine_windows(20, 4)
    with pytest.raises(ValueError, match="'hidden_size'"):
        RNNRegressor(hidden_size=0).fit(X, y)
    with pytest.raises(ValueError, match="'cell'"):
        RNNClassifier(cell="transformer").fit(X, y > 0)
    with pytest.raises(TypeError, match="unexpected"):
        RNNRegressor(hiden_size=3)


def test_bad_input_messages():
    X, y = sine_windows(20, 4)
    model = RNNRegressor(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="expecting 1 features per step"):
        model.predict(np.zeros((3, 4, 2)))
    with pytest.raises(ValueError, match="not a multiple of n_features=2"):
        RNNRegressor(n_features=2).fit(np.zeros((5, 5)), np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((2, 4, 1), np.nan))
    with pytest.raises(ValueError, match="different feature counts"):
        model.fit([np.zeros((3, 1)), np.zeros((4, 2))], [0, 1])


def test_two_d_input_with_several_features_per_step():
    rng = np.random.default_rng(7)
    X3 = rng.standard_normal((60, 5, 2))
    y = X3[:, :, 1].sum(axis=1)
    a = RNNRegressor(max_iter=3, random_state=0).fit(X3, y)
    b = RNNRegressor(n_features=2, max_iter=3, random_state=0).fit(X3.reshape(60, 10), y)
    assert b.n_features_in_ == 10 and a.n_features_in_ == 2
    np.testing.assert_allclose(a.predict(X3), b.predict(X3.reshape(60, 10)), rtol=1e-5)


def test_partial_fit_and_warm_start_continue_training():
    X, y = sine_windows(100, 8)
    model = RNNRegressor(hidden_size=8, random_state=0)
    for _ in range(3):
        model.partial_fit(X, y)
    assert model.n_iter_ == 3 and model.t_ == 300
    warm = RNNRegressor(hidden_size=8, max_iter=2, warm_start=True, random_state=0).fit(X, y)
    first = warm.network_.flat_params.copy()
    warm.fit(X, y)
    assert not np.array_equal(first, warm.network_.flat_params)
    clf = RNNClassifier(hidden_size=4, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y > 0)
    clf.partial_fit(X[:10], np.zeros(10, int), classes=[0, 1])
    clf.partial_fit(X, (y > 0).astype(int))
    assert list(clf.classes_) == [0, 1]
    with pytest.raises(ValueError, match="expecting 1 features per step"):
        clf.partial_fit(np.zeros((4, 8, 3)), [0, 1, 0, 1])


def test_convergence_warning_when_max_iter_is_reached():
    X, y = sine_windows(40, 5)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        RNNRegressor(max_iter=2, random_state=0).fit(X, y)


def test_verbose_shows_a_progress_bar(capsys):
    X, y = sine_windows(40, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        RNNRegressor(max_iter=2, verbose=True, random_state=0).fit(X, y)
    assert "epoch" in capsys.readouterr().err
    RNNRegressor(max_iter=2, random_state=0).fit(X, y)
    assert capsys.readouterr().err == ""


def test_sample_weight_and_class_weight_steer_the_fit():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((120, 4, 1))
    y = np.r_[np.zeros(60, int), np.ones(60, int)]  # labels unrelated to X
    w = np.r_[np.ones(60), np.zeros(60)]
    clf = RNNClassifier(hidden_size=4, max_iter=20, random_state=0).fit(X, y, sample_weight=w)
    assert np.mean(clf.predict(X) == 0) > 0.9
    balanced = RNNClassifier(
        hidden_size=4, max_iter=20, random_state=0, class_weight={0: 1.0, 1: 0.0}
    ).fit(X, y)
    assert np.mean(balanced.predict(X) == 0) > 0.9


def test_dataframe_columns_become_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = sine_windows(50, 4)
    df = pd.DataFrame(X[:, :, 0], columns=[f"t{i}" for i in range(4)])
    model = RNNRegressor(max_iter=2, random_state=0).fit(df, y)
    assert list(model.feature_names_in_) == ["t0", "t1", "t2", "t3"]


def test_huber_loss_trains():
    X, y = sine_windows(200, 10)
    y_out = y.copy()
    y_out[::20] += 20  # outliers
    model = RNNRegressor(loss="huber", hidden_size=8, max_iter=20, random_state=0).fit(X, y_out)
    assert model.score(X, y) > 0.5


def test_a_failed_refit_leaves_the_fitted_model_untouched():
    X, y = sine_windows(40, 5)
    model = RNNRegressor(max_iter=2, random_state=0).fit(X, y)
    before, state = model.predict(X), dict(model.__dict__)
    with pytest.raises(ValueError):
        model.fit(np.zeros((40, 5, 3)), np.full(40, np.nan))
    assert model.__dict__.keys() == state.keys() and model.n_features_in_ == 1
    np.testing.assert_array_equal(model.predict(X), before)


def test_sunspots_forecast_beats_persistence_on_the_held_out_tail():
    pytest.importorskip("statsmodels")
    from fastrnn import make_windows
    from fastrnn.demo import load_sunspots

    _, spots = load_sunspots()
    X, y = make_windows(spots, 12)
    X = X[:, :, 0]
    scale = X[:-50].std()
    model = RNNRegressor(
        cell="gru", hidden_size=16, early_stopping=True, n_iter_no_change=20, random_state=0
    ).fit(X[:-50] / scale, y[:-50])
    rmse = np.sqrt(np.mean((model.predict(X[-50:] / scale) - y[-50:]) ** 2))
    persistence = np.sqrt(np.mean((X[-50:, -1] - y[-50:]) ** 2))
    assert rmse < 0.8 * persistence


def test_validation_data_replaces_the_split_and_drives_early_stopping():
    X, y = sine_windows(80, 6)
    Xv, yv = sine_windows(30, 6, seed=5)
    model = RNNRegressor(max_iter=6, hidden_size=4, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y, validation_data=(Xv, yv))
    assert len(model.validation_scores_) == len(model.validation_loss_curve_) == 6
    assert model.t_ == 6 * len(X)  # every sample trained on: no split of X
    stopper = RNNRegressor(
        max_iter=200, early_stopping=True, n_iter_no_change=2, hidden_size=4, random_state=0
    ).fit(X, y, validation_data=(Xv, yv))
    best = int(np.argmin(stopper.validation_loss_curve_))
    assert stopper.n_iter_ < 200 and best == len(stopper.validation_loss_curve_) - 3
    with pytest.raises(ValueError, match=r"tuple \(X_val, y_val\)"):
        RNNRegressor(max_iter=1).fit(X, y, validation_data=Xv)
    clf = RNNClassifier(max_iter=2, hidden_size=4, random_state=0)
    with pytest.raises(ValueError, match="not seen"):
        clf.fit(X, y > 0, validation_data=(Xv, np.full(len(Xv), 7)))


def test_head_dropout_drops_what_the_head_reads_in_training_only():
    net = SequenceNetwork("lstm", 2, 6, 1, head_dropout=0.5, random_state=0)
    x = np.random.default_rng(1).standard_normal((40, 5, 2)).astype(np.float32)
    pred = net.forward(x, training=True)
    mask = net._head_mask
    assert 0.3 < (mask == 0).mean() < 0.7  # about half the features dropped
    plain = net.forward(x)  # inference: no dropout, the same every time
    np.testing.assert_array_equal(plain, net.forward(x))
    _, state = net.rnn.forward(x)
    h = (state[0] if isinstance(state, tuple) else state)[-1]
    np.testing.assert_allclose(pred, (h * mask) @ net.weight.T + net.bias, rtol=1e-5, atol=1e-6)
    net.zero_grad()
    net.backward(np.ones_like(pred))
    np.testing.assert_allclose(net.grad_weight, np.ones((1, 40)) @ (h * mask), rtol=1e-5)
    X, y = sine_windows(60, 5)
    a = RNNRegressor(max_iter=3, hidden_size=4, random_state=0).fit(X, y)
    b = RNNRegressor(max_iter=3, hidden_size=4, head_dropout=0.3, random_state=0).fit(X, y)
    assert not np.array_equal(a.network_.flat_params, b.network_.flat_params)
    np.testing.assert_array_equal(b.predict(X), b.predict(X))


def test_forget_bias_starts_the_forget_gates_open():
    from fastrnn.nn import LSTM

    layer = LSTM(2, 3, num_layers=2, forget_bias=1.0, random_state=0)
    for k in range(2):
        np.testing.assert_array_equal(layer.params[f"bias_ih_l{k}"][3:6], 1.0)
        np.testing.assert_array_equal(layer.params[f"bias_hh_l{k}"][3:6], 0.0)
    plain = LSTM(2, 3, random_state=0)
    assert np.abs(plain.params["bias_ih_l0"][3:6]).max() < 1 / np.sqrt(3)
    X, y = sine_windows(20, 4)
    est = RNNRegressor(forget_bias=1.0, max_iter=1, hidden_size=3, random_state=0)
    init = est._init_network(1, 1, np.random.default_rng(0))
    np.testing.assert_array_equal(init.rnn.params["bias_ih_l0"][3:6], 1.0)
    est.fit(X, y)  # trains from there
    with pytest.raises(ValueError, match="forget_bias is for LSTM"):
        SequenceNetwork("gru", 1, 3, 1, forget_bias=1.0)


def test_a_failed_partial_fit_changes_nothing_that_later_training_uses():
    X, y = sine_windows(40, 6)
    params = dict(num_layers=2, dropout=0.3, head_dropout=0.2, max_iter=2, random_state=0)
    a = RNNRegressor(**params).fit(X, y)
    b = RNNRegressor(**params).fit(X, y)
    with pytest.raises(ValueError):
        a.partial_fit(X, y[:10])  # fails before training
    with pytest.raises(ValueError):
        a.set_params(warm_start=True).fit(X, np.full_like(y, np.nan))
    a.set_params(warm_start=False)
    # The generator the dropout masks come from is the estimator's own, as before.
    assert a.network_._rng is a._rng
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    assert a.loss_curve_ == b.loss_curve_


def test_reset_after_picks_the_gru_form_and_only_for_gru():
    X, y = sine_windows(20, 4)
    nets = {}
    for reset_after in (True, False):
        est = RNNRegressor(cell="gru", reset_after=reset_after, max_iter=2, random_state=0)
        nets[reset_after] = est.fit(X, y).network_.rnn
    assert nets[True].cell == "gru" and nets[False].cell == "gru_reset_before"
    assert not nets[False].reset_after
    # Other cells ignore it, as cells other than LSTM ignore forget_bias.
    lstm = RNNRegressor(reset_after=False, max_iter=1, random_state=0).fit(X, y)
    assert lstm.network_.rnn.cell == "lstm"
    with pytest.raises(ValueError, match="reset_after"):
        RNNRegressor(reset_after="no").fit(X, y)
    with pytest.raises(ValueError, match="reset_after=False is for GRU"):
        SequenceNetwork("lstm", 1, 3, 1, reset_after=False)


def test_from_torch_takes_either_gru_form_and_keeps_it():
    from fastrnn.nn import GRU

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 2))
    head = (rng.standard_normal((1, 4)), rng.standard_normal(1))
    for reset_after in (True, False):
        layer = GRU(2, 4, reset_after=reset_after, dtype="float64", random_state=0)
        est = RNNRegressor.from_torch(layer, head)
        assert est.reset_after is reset_after and est.network_.rnn.cell == layer.cell
        expected = layer.forward(x)[1][-1] @ head[0].T + head[1]
        np.testing.assert_allclose(est.predict(x), expected[:, 0], rtol=1e-12)
        # The layer fixes the form: asking for the other one is refused, not obeyed.
        with pytest.raises(ValueError, match="fixed by the layer"):
            RNNRegressor.from_torch(layer, head, reset_after=not reset_after)


def test_sequence_targets_may_be_one_hot_or_integers():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 6, 2))
    labels = (X[:, :, 0] > 0).astype(int) + (X[:, :, 1] > 1)  # 0, 1 or 2 per step
    one_hot = np.eye(3)[labels]  # [30, 6, 3], as to_categorical gives
    a = RNNClassifier(output="sequence", max_iter=3, hidden_size=4, random_state=0).fit(X, labels)
    b = RNNClassifier(output="sequence", max_iter=3, hidden_size=4, random_state=0).fit(X, one_hot)
    np.testing.assert_array_equal(a.network_.flat_params, b.network_.flat_params)
    assert list(b.classes_) == [0, 1, 2] and b.predict(X).shape == (30, 6)
    ragged = [x[: 3 + i % 4] for i, x in enumerate(X)]
    ragged_one_hot = [np.eye(3)[lab[: 3 + i % 4]] for i, lab in enumerate(labels)]
    c = RNNClassifier(output="sequence", max_iter=2, hidden_size=4, random_state=0)
    assert len(c.fit(ragged, ragged_one_hot).predict(ragged)) == 30


def test_binary_step_labels_with_one_positive_are_not_taken_for_one_hot():
    X = np.random.default_rng(4).standard_normal((12, 5, 1))
    y = np.zeros((12, 5), int)
    y[:, 2] = 1  # one positive step per sequence: labels, not a one-hot matrix
    clf = RNNClassifier(output="sequence", max_iter=1, hidden_size=3, random_state=0).fit(X, y)
    assert clf.predict(X).shape == (12, 5)


@pytest.mark.parametrize("n_classes", [2, 10])
def test_a_sequence_classifier_scores_its_steps(n_classes):
    # Was: "multiclass-multioutput is not supported" with 10 classes, and
    # whole-sequence exact match with 2 (what cross_val_score then used).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 6, 2))
    y = np.clip((X[..., 0] * 2 + n_classes / 2).astype(int), 0, n_classes - 1)
    model = RNNClassifier(output="sequence", max_iter=3, random_state=0).fit(X, y)
    per_step = np.mean(model.predict(X) == y)
    assert model.score(X, y) == pytest.approx(per_step)
    w = rng.uniform(0.5, 2, 40)
    hits = (model.predict(X) == y).mean(axis=1)
    assert model.score(X, y, sample_weight=w) == pytest.approx(np.average(hits, weights=w))
    from sklearn.model_selection import cross_val_score

    scores = cross_val_score(RNNClassifier(output="sequence", max_iter=2), X, y, cv=2)
    assert np.all((scores >= 0) & (scores <= 1))


def test_sequence_models_score_ragged_steps():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    X = [rng.standard_normal((n, 2)) for n in rng.integers(3, 9, 30)]
    labels = [(x[:, 0] > 0).astype(int) for x in X]
    clf = RNNClassifier(output="sequence", max_iter=3, random_state=0).fit(X, labels)
    hits = np.concatenate([p == t for p, t in zip(clf.predict(X), labels)])
    assert clf.score(X, labels) == pytest.approx(hits.mean())
    targets = [x[:, 0] for x in X]
    reg = RNNRegressor(output="sequence", max_iter=3, random_state=0).fit(X, targets)
    expected = r2_score(np.concatenate(targets), np.concatenate(reg.predict(X)))
    assert reg.score(X, targets) == pytest.approx(expected)
    with pytest.raises(ValueError, match="steps"):
        reg.score(X, [t[:-1] for t in targets])


@pytest.mark.parametrize("token_input", [False, True])
def test_training_checks_the_data_once_not_every_minibatch(monkeypatch, token_input):
    from fastrnn import _validation

    X, y = sine_windows(64, 5)
    params = dict(hidden_size=4, batch_size=8, max_iter=3, random_state=0)
    if token_input:
        X = (np.abs(X[:, :, 0]) * 10).astype(int) + 3
        params.update(embedding_dim=3)
    passes = {"values": 0, "ids": 0}
    real_finite, real_ids = _validation.check_finite, _validation.check_token_ids

    def counted(kind, real):
        def check(*args, **kwargs):
            passes[kind] += 1
            return real(*args, **kwargs)

        return check

    monkeypatch.setattr(_validation, "check_finite", counted("values", real_finite))
    monkeypatch.setattr(_validation, "check_token_ids", counted("ids", real_ids))
    RNNRegressor(**params).fit(X, y)
    # 8 minibatches x 3 epochs: each used to be checked again in the layer.
    assert passes["values" if not token_input else "ids"] <= 2
    # A network called directly still checks every value, and every gradient.
    net = SequenceNetwork("gru", 2, 3, 1)
    bad = np.full((1, 2, 2), np.nan)
    with pytest.raises(ValueError, match="NaN or infinity"):
        net.forward(bad)
    assert np.isnan(net.forward(bad, check_input=False)).all()
    net.forward(np.ones((1, 2, 2)), training=True)
    with pytest.raises(ValueError, match="grad_pred contains NaN"):
        net.backward(np.array([[np.inf]]))
