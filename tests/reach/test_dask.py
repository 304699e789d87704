"""fastrnn.dask on a real cluster of two worker processes: training, prediction, searches."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor
from tests.helpers import require

distributed = require("distributed", 'pip install "dask[distributed,dataframe]"')
da = require("dask.array", 'pip install "dask[distributed,dataframe]"')
from fastrnn.dask import DaskRNNClassifier, DaskRNNRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _cluster(n_workers=2):
    return distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",  # any free port: never the 8787 of a cluster already running
    )


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as c:
        yield c


def _split(client, X, rows_per_chunk=30):
    """A dask array of ``X`` whose chunks are placed by hand, alternately on each worker."""
    workers = sorted(client.scheduler_info()["workers"])
    chunks = []
    for i, start in enumerate(range(0, len(X), rows_per_chunk)):
        part = X[start : start + rows_per_chunk]
        future = client.scatter(part, workers=[workers[i % len(workers)]])
        chunks.append(da.from_delayed(future, shape=part.shape, dtype=part.dtype))
    return da.concatenate(chunks)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 8, 3))
    return X, X.sum(axis=(1, 2)), np.where(X[:, 0, 0] > 0, "a", "b")


def test_data_parallel_fit_equals_the_single_process_fit(client, data):
    X, y, _ = data
    Xd = _split(client, X)
    params = dict(
        max_iter=4, batch_size=16, dtype="float64", alpha=1e-3, early_stopping=True, random_state=0
    )
    dask_model = DaskRNNRegressor(**params).fit(Xd, da.from_array(y, chunks=50))
    local = RNNRegressor(**params).fit(X, y)
    assert len(dask_model.workers_) == 2  # both workers computed gradients
    # The same minibatches, the same updates: equal up to the order of the sums.
    np.testing.assert_allclose(dask_model.loss_curve_, local.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(dask_model.validation_scores_, local.validation_scores_, rtol=1e-12)
    np.testing.assert_allclose(
        dask_model.network_.flat_params, local.network_.flat_params, rtol=1e-9, atol=1e-12
    )


def test_classifier_with_sample_and_class_weights_equals_the_single_process_fit(client, data):
    X, _, labels = data
    Xd = _split(client, X, rows_per_chunk=25)
    sw = np.linspace(0.5, 2.0, len(X))
    params = dict(max_iter=3, batch_size=20, dtype="float64", class_weight="balanced")
    dask_model = DaskRNNClassifier(random_state=1, **params)
    dask_model.fit(Xd, da.from_array(labels, chunks=40), sample_weight=da.from_array(sw, chunks=60))
    local = RNNClassifier(random_state=1, **params).fit(X, labels, sample_weight=sw)
    np.testing.assert_allclose(dask_model.loss_curve_, local.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(
        dask_model.network_.flat_params, local.network_.flat_params, rtol=1e-9, atol=1e-12
    )
    proba = dask_model.predict_proba(Xd)
    assert isinstance(proba, da.Array) and proba.shape == (120, 2)
    np.testing.assert_allclose(proba.compute(), local.predict_proba(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(dask_model.predict(Xd).compute(), local.predict(X))


def test_sequence_output_from_a_dask_dataframe_and_validation_data(client):
    dd = require("dask.dataframe", 'pip install "dask[distributed,dataframe]"')
    pd = require("pandas", "pip install pandas")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((90, 6))  # 2-D: one feature, six steps
    y = np.cumsum(X, axis=1)  # a target per step
    frame = dd.from_pandas(pd.DataFrame(X, columns=[f"t{i}" for i in range(6)]), npartitions=3)
    params = dict(output="sequence", max_iter=3, batch_size=32, dtype="float64", random_state=0)
    val = (da.from_array(X[:30], chunks=15), y[:30])
    dask_model = DaskRNNRegressor(**params).fit(frame, da.from_array(y, chunks=(30, 6)))
    dask_model.set_params(early_stopping=True).fit(frame, y, validation_data=val)
    local = RNNRegressor(**params, early_stopping=True).fit(X, y, validation_data=(X[:30], y[:30]))
    np.testing.assert_allclose(dask_model.validation_loss_curve_, local.validation_loss_curve_)
    np.testing.assert_allclose(dask_model.network_.flat_params, local.network_.flat_params)
    pred = dask_model.predict(frame)
    assert pred.shape == (90, 6)
    np.testing.assert_allclose(pred.compute(), local.predict(X), rtol=1e-9, atol=1e-12)


def test_predictions_equal_the_local_model_and_the_model_travels_once(client, data):
    X, y, _ = data
    model = DaskRNNRegressor(hidden_size=64, max_iter=2, random_state=0)
    Xd = da.from_array(X, chunks=(20, 8, 3))
    model.fit(Xd, da.from_array(y, chunks=20))
    pred = model.predict(Xd)
    # float32: each row's prediction is bitwise the same in any batch.
    np.testing.assert_array_equal(pred.compute(), model.to_local().predict(X))
    # Six prediction tasks, one scattered model: the graph holds a reference, not six copies.
    import pickle

    graph_bytes = len(pickle.dumps(dict(pred.__dask_graph__())))
    assert graph_bytes < model.network_.flat_params.nbytes


def test_to_local_save_and_load(client, data, tmp_path):
    X, y, _ = data
    model = DaskRNNRegressor(max_iter=2, random_state=0).fit(da.from_array(X, chunks=40), y)
    local = model.to_local()
    # The Dask model's parameters, and the local class's defaults for its own
    # (the distribution losses' quantiles).
    shared = {k: v for k, v in model.get_params().items() if k != "client"}
    assert type(local) is RNNRegressor
    assert local.get_params() == {**RNNRegressor().get_params(), **shared}
    model.save(tmp_path / "a.npz")
    fastrnn.save(model, tmp_path / "b.npz")
    for name in ("a.npz", "b.npz"):
        loaded = fastrnn.load(tmp_path / name)
        assert type(loaded) is RNNRegressor
        np.testing.assert_array_equal(loaded.predict(X), local.predict(X))
    local.network_.flat_params[:] = 0  # a copy: the Dask model is untouched
    assert model.network_.flat_params.any()


def test_bad_input_is_named_and_a_failed_fit_changes_nothing(client, data):
    X, y, _ = data
    model = DaskRNNRegressor(max_iter=2, random_state=0).fit(da.from_array(X, chunks=40), y)
    before = model.network_.flat_params.copy()
    with pytest.raises(ValueError, match="chunked along samples"):
        model.fit(da.from_array(X, chunks=(40, 4, 3)), y)
    with pytest.raises(ValueError, match="X has 120 samples but y has 100"):
        model.fit(da.from_array(X, chunks=40), y[:100])
    bad = X.copy()
    bad[70, 3, 1] = np.nan  # in the second chunk, checked on its worker
    with pytest.raises(ValueError, match="NaN"):
        model.fit(da.from_array(bad, chunks=40), y)
    with pytest.raises(ValueError, match="token input"):
        DaskRNNClassifier(embedding_dim=4).fit(da.from_array(np.ones((4, 3), int), chunks=2), y[:4])
    np.testing.assert_array_equal(model.network_.flat_params, before)


def test_grid_search_on_the_cluster_equals_n_jobs_1(client, data):
    import joblib
    from sklearn.model_selection import GridSearchCV

    X, y, _ = data
    grid = {"hidden_size": [4, 8], "cell": ["lstm", "gru"]}
    base = RNNRegressor(max_iter=2, n_threads=1, random_state=0)
    serial = GridSearchCV(base, grid, cv=2, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        spread = GridSearchCV(base, grid, cv=2, n_jobs=-1).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(spread.cv_results_[key], serial.cv_results_[key])
    assert spread.best_params_ == serial.best_params_


def test_a_fit_on_a_worker_follows_its_thread_count(client):
    def limits_inside_a_fit():
        from threadpoolctl import threadpool_info, threadpool_limits

        from fastrnn._threadpools import limit_threads

        with threadpool_limits(limits=3):  # as if the process were set for more
            with limit_threads(None):
                inside = {i["user_api"]: i["num_threads"] for i in threadpool_info()}
        return inside

    got = client.submit(limits_inside_a_fit, pure=False).result()
    assert got["blas"] == 1  # threads_per_worker=1
    assert got.get("openmp", 1) == 1


def test_dask_ml_incremental_and_parallel_post_fit(client, data):
    wrappers = require("dask_ml.wrappers", "pip install dask-ml")
    X, y, labels = data
    # Incremental takes 2-D blocks: the 2-D form, three features per step.
    X = X.reshape(len(X), -1)
    Xd = da.from_array(X, chunks=(40, -1))
    inc = wrappers.Incremental(RNNRegressor(n_features=3, hidden_size=8, random_state=0))
    inc.fit(Xd, da.from_array(y, chunks=40))
    assert inc.estimator_.n_iter_ == 3  # one partial_fit per block
    np.testing.assert_array_equal(inc.predict(Xd).compute(), inc.estimator_.predict(X))
    clf = wrappers.Incremental(RNNClassifier(n_features=3, hidden_size=8, random_state=0))
    clf.fit(Xd, da.from_array(labels, chunks=40), classes=["a", "b"])
    assert list(clf.estimator_.classes_) == ["a", "b"]
    post = wrappers.ParallelPostFit(RNNClassifier(n_features=3, max_iter=3, random_state=0))
    post.fit(X, labels)
    np.testing.assert_array_equal(post.predict(Xd).compute(), post.estimator.predict(X))
    np.testing.assert_array_equal(post.predict_proba(Xd).compute(), post.estimator.predict_proba(X))


def _fit_in_thread(model, *args, **kwargs):
    """Start ``model.fit`` in a daemon thread; returns it and a dict of its outcome."""
    outcome = {}

    def fit():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(*args, **kwargs)
            outcome["fitted"] = True
        except Exception as exc:  # noqa: BLE001 (the test reads what it was)
            outcome["error"] = exc

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    return thread, outcome


def _kill(client, address):
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


def test_a_worker_lost_mid_fit_ends_in_a_clear_error_and_leaves_the_model_as_it_was(data):
    X, y, _ = data
    X, y = np.concatenate([X] * 4), np.concatenate([y] * 4)
    with _cluster() as cluster, distributed.Client(cluster) as c:
        Xd, yd = _split(c, X, rows_per_chunk=60), da.from_array(y, chunks=60)
        model = DaskRNNRegressor(max_iter=1, batch_size=8, random_state=0, client=c).fit(Xd, yd)
        before = model.network_.flat_params.copy(), list(model.loss_curve_)
        # warm_start: a long second fit from these weights, then a worker dies.
        model.set_params(warm_start=True, max_iter=500, tol=0)
        thread, outcome = _fit_in_thread(model, Xd, yd)
        time.sleep(1.5)  # well into training
        victim = model.workers_[0]
        _kill(c, victim)
        thread.join(timeout=120)
        assert not thread.is_alive(), "fit hung after a worker was lost"
    assert "error" in outcome, "a 500-epoch fit cannot have finished in the time"
    assert isinstance(outcome["error"], RuntimeError)
    assert victim in str(outcome["error"]) and "left as it was" in str(outcome["error"])
    # Not a half-trained model: the weights and history of the first fit.
    np.testing.assert_array_equal(model.network_.flat_params, before[0])
    assert model.loss_curve_ == before[1]


def test_a_worker_lost_while_the_shards_are_built_ends_in_a_clear_error(data, tmp_path):
    X, y, _ = data
    building = str(tmp_path / "building")  # the workers are processes on this machine

    class SlowToCheck(RNNRegressor):  # a template whose shards take a while to build
        def _validate_X(self, X, reset):
            open(building, "w").close()
            time.sleep(3.0)
            return super()._validate_X(X, reset)

    with _cluster() as cluster, distributed.Client(cluster) as c:
        Xd = _split(c, X)  # scattered: the chunks of a lost worker are gone
        model = DaskRNNRegressor(max_iter=2, random_state=0, client=c)
        model._template = lambda: _with_shape(SlowToCheck(), model)  # noqa: B023
        thread, outcome = _fit_in_thread(model, Xd, da.from_array(y, chunks=30))
        # Kill once a shard is being built (a fixed sleep raced a loaded machine:
        # the kill then came while the chunks were computed, a different error).
        deadline = time.monotonic() + 60
        while not os.path.exists(building) and time.monotonic() < deadline:
            time.sleep(0.05)
        victim = sorted(c.scheduler_info()["workers"])[0]
        _kill(c, victim)
        start = time.monotonic()
        thread.join(timeout=60)
        assert not thread.is_alive(), "fit hung after a worker was lost"
        assert time.monotonic() - start < 30  # not CALL_TIMEOUT_S
    assert isinstance(outcome.get("error"), RuntimeError), outcome
    assert victim in str(outcome["error"]) and "left as it was" in str(outcome["error"])
    assert not hasattr(model, "network_")


def _with_shape(template, model):
    """``template`` given the input shape ``model`` has set (what ``_template`` copies)."""
    for name in ("n_features_in_", "_step_features", "_fitted_2d", "_n_outputs"):
        setattr(template, name, getattr(model, name))
    return template


def test_a_chunk_that_cannot_be_computed_is_named(client, data):
    X, y, _ = data

    def fails_on_the_third(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 2:
            raise ArithmeticError("chunk 2 is broken")
        return block

    Xd = da.from_array(X, chunks=(30, 8, 3)).map_blocks(fails_on_the_third, dtype=X.dtype)
    with pytest.raises(RuntimeError, match="could not be computed.*chunk 2 is broken"):
        DaskRNNRegressor(max_iter=1).fit(Xd, y)


def test_the_first_partial_fit_builds_the_shards_once(client, data, monkeypatch):
    from fastrnn import dask as fdask

    X, _, labels = data
    builds = []
    real = fdask._ShardedData.build.__func__
    monkeypatch.setattr(
        fdask._ShardedData, "build", classmethod(lambda *a: builds.append(1) or real(*a))
    )
    model = DaskRNNClassifier(random_state=0)
    model.partial_fit(da.from_array(X, chunks=40), labels, classes=["a", "b"])
    assert len(builds) == 1 and model.n_iter_ == 1


def test_shares_of_zero_weight_and_empty_partitions(client, data):
    dd = require("dask.dataframe", 'pip install "dask[distributed,dataframe]"')
    pd = require("pandas", "pip install pandas")
    X, y, _ = data
    sw = np.ones(len(X))
    sw[:30] = 0  # every row of the first chunk, on one worker, counts for nothing
    params = dict(max_iter=2, batch_size=40, dtype="float64", shuffle=False, random_state=0)
    dask_model = DaskRNNRegressor(**params).fit(_split(client, X), y, sample_weight=sw)
    local = RNNRegressor(**params).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(dask_model.network_.flat_params, local.network_.flat_params)
    # A dataframe with an empty partition, as filtering leaves them.
    import dask

    parts = [pd.DataFrame(X[i : i + 30, :, 0]) for i in (0, 0, 30, 60, 90)]
    parts[0] = parts[0].iloc[:0]
    frame = dd.from_delayed([dask.delayed(p) for p in parts], meta=parts[1].iloc[:0])
    model = DaskRNNRegressor(max_iter=1, random_state=0).fit(frame, y)
    assert model.predict(frame).compute().shape == (120,)


def test_shards_are_released_after_fit(client, data):
    import gc

    X, y, _ = data
    Xd = da.from_array(X, chunks=40)

    def actors(dask_worker):
        return len(dask_worker.state.actors)

    gc.disable()  # released by fit itself, not by a collection of reference cycles
    try:
        DaskRNNRegressor(max_iter=1, random_state=0, early_stopping=True).fit(
            Xd, y, validation_data=(Xd, y)
        )
        deadline = time.monotonic() + 2
        while sum(client.run(actors).values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(client.run(actors).values()) == 0
    finally:
        gc.enable()


def test_clone_pickle_and_an_explicit_client_that_is_not_the_default(data):
    import pickle

    from sklearn.base import clone

    X, y, _ = data
    with _cluster(n_workers=1) as cluster:
        c = distributed.Client(cluster, set_as_default=False)
        try:
            model = DaskRNNRegressor(max_iter=2, random_state=0, client=c)
            assert clone(model).client is c  # shared, not copied
            import sklearn

            with sklearn.config_context(enable_metadata_routing=True):
                asked = DaskRNNRegressor(client=c).set_fit_request(sample_weight=True)
                routing = clone(asked).get_metadata_routing()  # scikit-learn's clone state kept
            assert routing.fit.requests["sample_weight"] is True
            pickle.dumps(model)
            assert model.client is c  # pickling leaves the estimator as it was
            val = (da.from_array(X[:40], chunks=20), y[:40])
            model.fit(X, y, validation_data=val)  # NumPy X here, dask validation there
            assert len(model.validation_scores_) == model.n_iter_
            pred = c.compute(model.predict(da.from_array(X, chunks=60))).result()
            np.testing.assert_array_equal(pred, model.to_local().predict(X))
        finally:
            c.close()


def test_threads_for_a_task_share_the_worker_among_its_running_tasks(monkeypatch):
    import sys
    from types import SimpleNamespace

    from fastrnn._threadpools import dask_worker_threads

    state = SimpleNamespace(nthreads=4, executing_count=0)
    fake = SimpleNamespace(get_worker=lambda: SimpleNamespace(state=state))
    monkeypatch.setitem(sys.modules, "distributed", fake)
    for running, threads in [(0, 4), (1, 4), (2, 2), (3, 1), (8, 1)]:
        state.executing_count = running
        assert dask_worker_threads() == threads
