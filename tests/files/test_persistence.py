"""Pickle and the pickle-free model format: round trips, golden files, bad files."""

import glob
import json
import os
import pickle

import numpy as np
import pytest

import fastrnn
from fastrnn import RNNClassifier, RNNRegressor
from tests.helpers import DATA, resigned

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 7, 3))
    ragged = [rng.standard_normal((n, 3)) for n in rng.integers(2, 9, 50)]
    return {
        "regressor": (
            RNNRegressor(hidden_size=5, num_layers=2, max_iter=3, random_state=0).fit(
                X, X[:, :, :2].sum(axis=1)
            ),
            X,
        ),
        "classifier": (
            RNNClassifier(
                cell="gru", bidirectional=True, hidden_size=4, max_iter=3, random_state=0
            ).fit(X, np.where(X[:, 0, 0] > 0, "a", "b")),
            X,
        ),
        "sequence": (
            RNNRegressor(output="sequence", cell="rnn_tanh", max_iter=3, random_state=0).fit(
                ragged, [r[:, 0] for r in ragged]
            ),
            ragged,
        ),
        "gru_reset_before": (
            RNNRegressor(
                cell="gru", reset_after=False, hidden_size=4, max_iter=3, random_state=0
            ).fit(X, X[:, -1, 0]),
            X,
        ),
    }


def _predict(model, X):
    if type(model).__name__ == "RNNForecaster":  # forecasts from the series it was fitted on
        return np.stack(model.predict(return_interval=True))
    if type(model).__name__ == "RNNLanguageModel":  # X: prompts
        return model.predict_proba([str(p) for p in X])
    out = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)
    return np.concatenate(out) if isinstance(out, list) else out


@pytest.mark.parametrize("name", ["regressor", "classifier", "sequence", "gru_reset_before"])
def test_pickle_round_trip_gives_identical_predictions(models, name):
    model, X = models[name]
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(_predict(clone, X), _predict(model, X))


@pytest.mark.parametrize("name", ["regressor", "classifier", "sequence", "gru_reset_before"])
def test_save_load_round_trip_gives_identical_predictions(models, name, tmp_path):
    model, X = models[name]
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = fastrnn.load(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(_predict(loaded, X), _predict(model, X))
    assert loaded.loss_curve_ == model.loss_curve_
    if name == "classifier":
        assert list(loaded.classes_) == ["a", "b"]
    assert loaded.network_.rnn.cell == model.network_.rnn.cell
    loaded.partial_fit(X, model.predict(X))  # a loaded model trains on


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(DATA, "golden_v*_*[!d].npz"))))
def test_golden_files_of_every_released_format_still_load(path):
    expected = np.load(path.replace(".npz", "_expected.npz"))
    model = fastrnn.load(path)
    # Written by the compiled backend; another sums float32 in another order.
    rtol = 1e-6 if "cython" in fastrnn.backends() else 1e-5
    np.testing.assert_allclose(_predict(model, expected["X"]), expected["predicted"], rtol=rtol)


def test_golden_files_exist():
    assert len(glob.glob(os.path.join(DATA, "golden_v1_*_expected.npz"))) == 4


def test_older_format_versions_go_through_the_upgrade_chain(monkeypatch, tmp_path):
    # As if the next format version renamed the regressor's "y_scale": load
    # takes a version 1 file through every step, in order, before the model
    # reads it, and reads a file of the newest version as it is.
    from fastrnn import _persistence

    current = _persistence.FORMAT_VERSION
    model = fastrnn.load(os.path.join(DATA, "golden_v1_regressor.npz"))
    steps = []

    def step(version, upgrade):
        def logged(config, arrays):
            steps.append(version)
            return upgrade(config, arrays)

        return logged

    def rename_y_scale(config, arrays):
        return config, {("y_std" if k == "y_scale" else k): v for k, v in arrays.items()}

    chain = {v: step(v, up) for v, up in _persistence._UPGRADES.items()}
    chain[current] = step(current, rename_y_scale)
    real_to_file, real_from_file = RNNRegressor._targets_to_file, RNNRegressor._targets_from_file

    def writes_y_std(self, fitted, arrays):  # the next version's writer and reader
        real_to_file(self, fitted, arrays)
        arrays["y_std"] = arrays.pop("y_scale")

    def reads_y_std(self, fitted, arrays):
        real_from_file(self, fitted, {**arrays, "y_scale": arrays["y_std"]})

    monkeypatch.setattr(_persistence, "FORMAT_VERSION", current + 1)
    monkeypatch.setattr(_persistence, "_UPGRADES", chain)
    monkeypatch.setattr(RNNRegressor, "_targets_to_file", writes_y_std)
    monkeypatch.setattr(RNNRegressor, "_targets_from_file", reads_y_std)
    old = fastrnn.load(os.path.join(DATA, "golden_v1_regressor.npz"))
    assert steps == list(range(1, current + 1))
    np.testing.assert_array_equal(old._y_scale, model._y_scale)
    fastrnn.save(old, tmp_path / "newest.npz")
    new = fastrnn.load(tmp_path / "newest.npz")
    assert steps == list(range(1, current + 1))  # a file of the newest version takes no step
    np.testing.assert_array_equal(new._y_scale, model._y_scale)


def test_every_file_name_is_a_model_that_saves_itself():
    import subprocess
    import sys

    from fastrnn import _persistence

    for name in _persistence._MODELS:
        cls = _persistence._model_class(name)
        assert cls.__name__ == name and issubclass(cls, _persistence.SavedModel)
    # The envelope imports no model: the models import it.
    code = "import sys, fastrnn._persistence; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for module in ("fastrnn._estimators", "fastrnn._forecasting", "fastrnn._language_model"):
        assert module not in out.stdout


def test_a_fitted_tokenizer_saves_alone_too(tmp_path):
    tok = fastrnn.TextTokenizer(level="char", lowercase=False).fit(["Hello, world"])
    tok.save(tmp_path / "tok.npz")
    loaded = fastrnn.load(tmp_path / "tok.npz")
    assert loaded.vocabulary_ == tok.vocabulary_ and loaded.get_params() == tok.get_params()


def _rewrite(src, dst, edit):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    edit(arrays)
    np.savez(dst, **arrays)


def test_bad_files_give_clear_errors(models, tmp_path):
    model, _ = models["regressor"]
    good = tmp_path / "good.npz"
    model.save(good)
    data = good.read_bytes()

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable fastrnn model"):
        fastrnn.load(truncated)

    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable fastrnn model"):
        fastrnn.load(text)

    def bump_weight(a):
        a["flat_params"] = a["flat_params"].copy()
        a["flat_params"][0] += 1

    edited = tmp_path / "edited.npz"
    _rewrite(good, edited, bump_weight)
    with pytest.raises(ValueError, match="checksum does not match"):
        fastrnn.load(edited)

    def newer(a):
        config = json.loads(str(a["config"]))
        config["format_version"] = 99
        a["config"] = np.array(json.dumps(config))

    future = tmp_path / "future.npz"
    _rewrite(good, future, newer)
    with pytest.raises(ValueError, match="format version 99"):
        fastrnn.load(future)

    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastrnn model file"):
        fastrnn.load(other)


def test_save_needs_a_fitted_estimator(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RNNRegressor().save(tmp_path / "m.npz")


def test_a_failed_save_leaves_the_model_at_the_path(models, tmp_path, monkeypatch):
    model, X = models["regressor"]
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    def disk_full(file, *args, **kwargs):  # part of the file written, then the disk is full
        if hasattr(file, "write"):
            file.write(b"PK\x03\x04 half a model")
        else:  # a path, as np.savez was once given
            with open(file, "wb") as f:
                f.write(b"PK\x03\x04 half a model")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before  # the old model, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary left
    np.testing.assert_array_equal(fastrnn.load(path).predict(X), model.predict(X))


def test_save_replaces_a_link_at_the_path_without_following_it(models, tmp_path):
    model, _ = models["regressor"]
    target = tmp_path / "elsewhere.txt"
    target.write_text("not yours")
    link = tmp_path / "m.npz"
    link.symlink_to(target)
    model.save(link)
    assert target.read_text() == "not yours"
    assert not link.is_symlink()
    assert not link.stat().st_mode & 0o022  # not the link's own 0o777
    fastrnn.load(link)


def test_save_writes_exactly_where_asked_and_keeps_the_mode(models, tmp_path):
    model, X = models["regressor"]
    for name in ("m.keras", "m"):  # no suffix added: load finds what save wrote
        model.save(tmp_path / name)
        assert (tmp_path / name).exists() and not (tmp_path / f"{name}.npz").exists()
        np.testing.assert_array_equal(fastrnn.load(tmp_path / name).predict(X), model.predict(X))
    path = tmp_path / "m.npz"
    model.save(path)
    os.chmod(path, 0o640)
    model.save(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_file_an_earlier_save_suffixed_still_loads_by_the_name_given(models, tmp_path):
    model, X = models["regressor"]
    model.save(tmp_path / "old.npz")  # what save("old") wrote before
    np.testing.assert_array_equal(fastrnn.load(tmp_path / "old").predict(X), model.predict(X))


def test_concurrent_saves_and_reads_never_see_half_a_file(models, tmp_path):
    import threading

    model, X = models["regressor"]
    path = tmp_path / "m.npz"
    model.save(path)
    expected = model.predict(X)
    errors = []
    stop = threading.Event()

    def save():
        while not stop.is_set():
            model.save(path)

    def read():
        for _ in range(30):
            try:
                np.testing.assert_array_equal(fastrnn.load(path).predict(X), expected)
            except Exception as exc:  # any failure counts
                errors.append(exc)

    savers = [threading.Thread(target=save) for _ in range(2)]
    for t in savers:
        t.start()
    read()
    stop.set()
    for t in savers:
        t.join()
    assert not errors
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def _resigned(src, dst, edit_config=None, edit_arrays=None):
    """A copy of model file ``src`` edited and given a matching checksum."""

    def change(config, arrays):
        if edit_config:
            edit_config(config)
        if edit_arrays:
            edit_arrays(arrays)

    resigned(src, change, dst)


def _peak_mb(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def test_a_file_declaring_a_larger_network_is_refused_before_it_is_built(models, tmp_path):
    model, _ = models["regressor"]
    good = tmp_path / "good.npz"
    model.save(good)
    big = tmp_path / "big.npz"
    _resigned(good, big, lambda c: c["params"].update(hidden_size=6000))

    def load():
        with pytest.raises(ValueError, match="declares at least .* parameters but holds"):
            fastrnn.load(big)

    assert _peak_mb(load) < 20  # was 1.8 GB


def test_a_zip_bomb_is_refused_unread(tmp_path):
    import zipfile

    bomb = tmp_path / "bomb.npz"
    header = b"\x93NUMPY\x01\x00v\x00" + (
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000,), }".ljust(117) + b"\n"
    )
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("flat_params.npy", "w", force_zip64=True) as f:
            f.write(header)
            zeros = bytes(1 << 22)
            for _ in range(100):
                f.write(zeros)
    assert bomb.stat().st_size < 2**20

    def load():
        with pytest.raises(ValueError, match="refused unread"):
            fastrnn.load(bomb)

    assert _peak_mb(load) < 20  # was 2 GB


@pytest.mark.parametrize(
    "member, match",
    [
        (np.array([{"a": 1}], dtype=object), "numbers and text only"),
        (np.zeros(3, dtype=complex), "numbers and text only"),
        (np.zeros(2, dtype=[("a", "f4")]), "numbers and text only"),
    ],
)
def test_members_that_are_not_numbers_or_text_are_refused(tmp_path, member, match):
    path = tmp_path / "m.npz"
    np.savez(path, config=np.array("{}"), x=member)
    with pytest.raises(ValueError, match=match):
        fastrnn.load(path)


def test_a_header_larger_than_its_member_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "m.npz"
    header = b"\x93NUMPY\x01\x00v\x00" + (
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000,), }".ljust(117) + b"\n"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("flat_params.npy", header + bytes(64))
    with pytest.raises(ValueError, match="declares shape"):
        fastrnn.load(path)


@pytest.mark.parametrize("version", [True, -7, 0, "1", 1.0])
def test_format_versions_that_are_not_versions_are_refused(models, tmp_path, version):
    model, _ = models["regressor"]
    good = tmp_path / "good.npz"
    model.save(good)
    bad = tmp_path / "bad.npz"
    _resigned(good, bad, lambda c: c.update(format_version=version))
    with pytest.raises(ValueError, match="format version"):
        fastrnn.load(bad)


def test_paths_that_are_not_model_files_give_a_value_error(tmp_path):
    plain = tmp_path / "plain.npy"
    np.save(plain, np.zeros(3))
    with pytest.raises(ValueError, match="not a readable fastrnn model"):
        fastrnn.load(plain)
    with pytest.raises(ValueError, match="not a regular file"):
        fastrnn.load(tmp_path)
    with pytest.raises(ValueError, match="not a readable"):
        fastrnn.load(tmp_path / "missing.npz")
    if hasattr(os, "mkfifo"):  # a FIFO blocked load forever
        fifo = tmp_path / "fifo.npz"
        os.mkfifo(fifo)
        with pytest.raises(ValueError, match="not a regular file"):
            fastrnn.load(fifo)


def _text_pipeline(**tokenizer):
    from sklearn.pipeline import make_pipeline

    texts = ["the cat sat", "a dog ran", "the dog sat", "a cat ran"] * 3
    labels = ["cat", "dog", "dog", "cat"] * 3
    pipe = make_pipeline(
        fastrnn.TextTokenizer(**tokenizer),
        RNNClassifier(embedding_dim=4, hidden_size=3, max_iter=2, random_state=0),
    )
    return pipe.fit(texts, labels), texts


def test_a_stored_regular_expression_needs_trust(tmp_path):
    pipe, texts = _text_pipeline(token_pattern=r"[a-z]+")
    path = tmp_path / "p.npz"
    fastrnn.save(pipe, path)
    with pytest.raises(ValueError, match="trust_patterns=True"):
        fastrnn.load(path)
    loaded = fastrnn.load(path, trust_patterns=True)
    np.testing.assert_array_equal(loaded.predict_proba(texts), pipe.predict_proba(texts))
    plain, _ = _text_pipeline()
    fastrnn.save(plain, path)
    fastrnn.load(path)  # the default pattern is fastrnn's own: no trust needed


def test_nested_models_are_refused(models, tmp_path):
    pipe, _ = _text_pipeline()
    good = tmp_path / "good.npz"
    fastrnn.save(pipe, good)

    def nest(config):  # the pipeline as its own last step, as deep as one likes
        inner = {k: v for k, v in config.items() if k not in ("format", "format_version")}
        config["steps"][-1] = {"name": "inner", **json.loads(json.dumps(inner))}

    nested = tmp_path / "nested.npz"
    _resigned(good, nested, nest)
    with pytest.raises(ValueError, match="last step is a pipeline"):
        fastrnn.load(nested)
    from sklearn.pipeline import make_pipeline

    with pytest.raises(TypeError, match="pipeline inside a pipeline"):
        fastrnn.save(make_pipeline(pipe[0], pipe), tmp_path / "x.npz")


def _edit(name, key, fn):
    def edit(arrays):
        arrays[key] = fn(arrays[key])

    return name, edit


@pytest.mark.parametrize(
    "model_name, edit, match",
    [
        (*_edit("classifier", "classes", lambda c: c[::-1]), "sorted order"),
        (*_edit("classifier", "classes", lambda c: np.array([c[0], c[0]])), "sorted order"),
        (*_edit("regressor", "y_scale", lambda s: s * 0), "not positive"),
        (*_edit("regressor", "y_scale", lambda s: -s), "not positive"),
        (*_edit("regressor", "y_mean", lambda m: m + np.inf), "NaN or infinity"),
        (*_edit("regressor", "flat_params", lambda p: p + np.nan), "NaN or infinity"),
        (*_edit("regressor", "flat_params", lambda p: p.astype(complex)), "numbers and text"),
    ],
)
def test_resigned_files_with_meaningless_fields_are_refused(
    models, tmp_path, model_name, edit, match
):
    # The checksum cannot stop these (an editor recomputes it): the fields' checks do.
    model, _ = models[model_name]
    good = tmp_path / "good.npz"
    model.save(good)
    bad = tmp_path / "bad.npz"
    _resigned(good, bad, edit_arrays=edit)
    with pytest.raises(ValueError, match=match):
        fastrnn.load(bad)


def test_signed_files_load_only_with_their_key(models, tmp_path):
    model, X = models["regressor"]
    signed = tmp_path / "signed.npz"
    model.save(signed, key="team secret")
    np.testing.assert_array_equal(
        fastrnn.load(signed, key="team secret").predict(X), model.predict(X)
    )
    fastrnn.load(signed)  # without a key: the checksum only
    with pytest.raises(ValueError, match="not signed with this key"):
        fastrnn.load(signed, key="guess")
    unsigned = tmp_path / "unsigned.npz"
    model.save(unsigned)
    with pytest.raises(ValueError, match="not signed with this key"):
        fastrnn.load(unsigned, key=b"team secret")
    # An editor can recompute the checksum, not the signature.
    edited = tmp_path / "edited.npz"
    _resigned(signed, edited, lambda c: c["params"].update(alpha=0.5))
    fastrnn.load(edited)
    with pytest.raises(ValueError, match="not signed with this key"):
        fastrnn.load(edited, key="team secret")
    with pytest.raises(TypeError, match="key must be"):
        model.save(tmp_path / "x.npz", key=b"")
