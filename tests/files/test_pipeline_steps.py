"""scikit-learn's code-free preprocessing steps in pickle-free Pipeline files."""

import numpy as np
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

import fastrnn
from fastrnn import RNNRegressor
from tests.helpers import resigned

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    X = np.random.default_rng(0).standard_normal((40, 6)) * 3 + 1
    X[3, 2] = np.nan
    return X, np.nansum(X, axis=1)


@pytest.mark.parametrize(
    "steps",
    [
        [SimpleImputer(), StandardScaler()],
        [SimpleImputer(strategy="median"), StandardScaler(with_mean=False)],
        [SimpleImputer(strategy="most_frequent"), MinMaxScaler(feature_range=(-1, 1), clip=True)],
        [SimpleImputer(strategy="constant", fill_value=0), MaxAbsScaler()],
        [SimpleImputer(keep_empty_features=True), RobustScaler(quantile_range=(10, 90))],
    ],
    ids=lambda steps: "+".join(type(s).__name__ for s in steps),
)
def test_a_preprocessed_pipeline_saves_and_predicts_the_same(tmp_path, steps):
    X, y = _data()
    model = make_pipeline(*steps, RNNRegressor(hidden_size=4, max_iter=2, random_state=0))
    model.fit(X, y)
    fastrnn.save(model, tmp_path / "p.npz")
    loaded = fastrnn.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for before, after in zip(model.steps[:-1], loaded.steps[:-1]):
        assert type(after[1]) is type(before[1])
        assert after[1].get_params() == before[1].get_params()


def test_a_dataframe_pipeline_keeps_its_column_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(6)])
    model = make_pipeline(
        SimpleImputer(), StandardScaler(), RNNRegressor(max_iter=1, hidden_size=4)
    )
    model.fit(frame, y)
    fastrnn.save(model, tmp_path / "p.npz")
    loaded = fastrnn.load(tmp_path / "p.npz")
    assert list(loaded[0].feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


@pytest.mark.parametrize("drop", [None, "first", "if_binary"])
@pytest.mark.parametrize("kind", ["numbers", "strings"])
def test_a_one_hot_encoder_saves_and_encodes_the_same(tmp_path, kind, drop):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(60, 3))
    codes[:, 2] %= 2  # a binary column
    X = codes if kind == "numbers" else np.array(list("wxyz"))[codes].astype(object)
    y = codes.sum(axis=1).astype(float)
    encoder = OneHotEncoder(sparse_output=False, drop=drop, handle_unknown="ignore")
    if drop is not None:
        encoder.set_params(handle_unknown="error")
    model = make_pipeline(encoder, RNNRegressor(hidden_size=4, max_iter=1, random_state=0))
    model.fit(X, y)
    fastrnn.save(model, tmp_path / "p.npz")
    loaded = fastrnn.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded[0].transform(X), model[0].transform(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded[0].get_params() == model[0].get_params()


@pytest.mark.parametrize(
    "step, name",
    [
        (FunctionTransformer(np.log1p), "FunctionTransformer"),
        (SimpleImputer(add_indicator=True), "SimpleImputer"),
        (OneHotEncoder(sparse_output=False, min_frequency=2), "OneHotEncoder"),
    ],
)
def test_a_step_holding_code_or_estimators_is_refused_by_name(tmp_path, step, name):
    X, y = _data()
    model = make_pipeline(step, RNNRegressor(max_iter=1, hidden_size=4)).fit(
        np.nan_to_num(np.abs(X)), y
    )
    with pytest.raises(TypeError, match=f"is a {name}.*skops"):
        fastrnn.save(model, tmp_path / "p.npz")


def _edit(path, change):
    resigned(path, change)


@pytest.mark.parametrize(
    "change",
    [
        lambda c, a: a.update({"step1.scale_": np.full(3, 1.0)}),
        lambda c, a: a.update({"step1.scale_": np.full(6, np.inf)}),
        lambda c, a: c["steps"][1]["params"].update(with_mean="yes"),
        lambda c, a: c["steps"][1]["params"].pop("copy"),
        lambda c, a: c["steps"][1].update(n_features_in_=0),
        lambda c, a: a.update({"step0.statistics_": np.full(6, 1.0), "step0.extra": np.zeros(1)}),
    ],
)
def test_an_edited_step_is_refused(tmp_path, change):
    X, y = _data()
    model = make_pipeline(
        SimpleImputer(), StandardScaler(), RNNRegressor(max_iter=1, hidden_size=4)
    )
    fastrnn.save(model.fit(X, y), tmp_path / "p.npz")
    _edit(tmp_path / "p.npz", change)
    with pytest.raises(ValueError, match="inconsistent model"):
        fastrnn.load(tmp_path / "p.npz")


def test_what_the_format_stores_is_checked_before_a_step_is_written():
    from fastrnn import _sklearn_steps

    codes = np.array([[0, 1], [1, 0], [2, 1]])
    dropped = OneHotEncoder(sparse_output=False, drop=np.array([0, 1])).fit(codes)
    assert not _sklearn_steps.is_step(dropped)  # a list of categories to drop
    assert not _sklearn_steps.is_step(StandardScaler())  # not fitted
    assert _sklearn_steps.is_step(OneHotEncoder(sparse_output=False).fit(codes))
    with pytest.raises(TypeError, match="fitted fastrnn estimator"):
        fastrnn.save(StandardScaler().fit(codes), "unused.npz")  # a step alone is no model


def _mixed_frame():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.standard_normal((40, 4)) * 3 + 1, columns=list("abcd"))
    frame["kind"] = rng.choice(["x", "y", "z"], 40)
    return frame, frame["a"].to_numpy() + (frame["kind"] == "x")


def test_a_column_transformer_of_named_columns_saves_and_predicts_the_same(tmp_path):
    from sklearn.compose import ColumnTransformer

    frame, y = _mixed_frame()
    columns = ColumnTransformer(
        [
            ("num", StandardScaler(), ["a", "b"]),
            ("range", MinMaxScaler(), ["c"]),
            ("kind", OneHotEncoder(sparse_output=False), ["kind"]),
        ],
        remainder="passthrough",
    )
    model = make_pipeline(columns, RNNRegressor(n_features=1, hidden_size=4, max_iter=2))
    model.fit(frame, y)
    fastrnn.save(model, tmp_path / "p.npz")
    loaded = fastrnn.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    got = loaded.steps[0][1]
    assert repr(got.get_params(deep=False)) == repr(columns.get_params(deep=False))
    np.testing.assert_array_equal(got.get_feature_names_out(), columns.get_feature_names_out())
    np.testing.assert_array_equal(  # columns found by their names
        loaded.predict(frame[["b", "a", "kind", "d", "c"]]), model.predict(frame)
    )
    with pytest.raises(ValueError, match="missing"):
        loaded.predict(frame.drop(columns="c"))


def test_a_column_transformer_of_indices_with_drops_and_weights_round_trips(tmp_path):
    from sklearn.compose import ColumnTransformer

    X, y = _data()
    columns = ColumnTransformer(
        [
            ("impute", SimpleImputer(), [2, 3]),
            ("gone", "drop", [0]),
            ("kept", "passthrough", [1]),
            ("scale", RobustScaler(), [4, 5]),
        ],
        transformer_weights={"impute": 2.0, "scale": 0.5},
    )
    model = make_pipeline(columns, RNNRegressor(n_features=1, hidden_size=4, max_iter=2))
    fastrnn.save(model.fit(X, y), tmp_path / "p.npz")
    loaded = fastrnn.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded[0].transform(X), columns.transform(X))


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda ct, sel: ct([("s", StandardScaler(), sel(dtype_include=np.number))]), "selector"),
        (lambda ct, sel: ct([("s", StandardScaler(), [0])], remainder=MinMaxScaler()), "remainder"),
        (lambda ct, sel: ct([("f", FunctionTransformer(np.abs), [0])]), "function"),
        (lambda ct, sel: ct([("n", ct([("s", StandardScaler(), [0])]), [0, 1])]), "nested"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_a_column_transformer_of_what_the_format_cannot_hold_is_refused(tmp_path, make, why):
    from sklearn.compose import ColumnTransformer, make_column_selector

    pd = pytest.importorskip("pandas")
    X, y = _data()
    model = make_pipeline(
        make(ColumnTransformer, make_column_selector), RNNRegressor(max_iter=1, hidden_size=4)
    )
    model.fit(pd.DataFrame(np.nan_to_num(X)), y)
    with pytest.raises(TypeError, match="is a ColumnTransformer.*skops"):
        fastrnn.save(model, tmp_path / "p.npz")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c, a: c["steps"][0]["output_indices"].update(num=[0, 3]), "output columns"),
        (lambda c, a: c["steps"][0]["transformers"][0].update(columns=["a", "zz"]), "'zz'"),
        (lambda c, a: c["steps"][0]["transformers"][0].update(columns=["a"]), "reads 2"),
        (lambda c, a: c["steps"][0]["params"].update(remainder="scale"), "remainder"),
        (lambda c, a: c["steps"][0]["transformers"][1].update(step="keep"), "'keep'"),
        (lambda c, a: a.update({"step0.t0.scale_": np.full(2, np.nan)}), "not finite"),
        (lambda c, a: a.update({"step0.t9.scale_": np.ones(2)}), "unexpected arrays"),
    ],
)
def test_an_edited_column_transformer_is_refused(tmp_path, change, match):
    from sklearn.compose import ColumnTransformer

    frame, y = _mixed_frame()
    columns = ColumnTransformer(
        [("num", StandardScaler(), ["a", "b"]), ("rest", "passthrough", ["c"])]
    )
    model = make_pipeline(columns, RNNRegressor(n_features=1, hidden_size=4, max_iter=1))
    fastrnn.save(model.fit(frame, y), tmp_path / "p.npz")
    _edit(tmp_path / "p.npz", change)
    with pytest.raises(ValueError, match=f"inconsistent model(.|\\n)*{match}"):
        fastrnn.load(tmp_path / "p.npz")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c, a: c["steps"][0].update(n_features_in_=10**12), "count up to"),
        (
            lambda c, a: c["steps"][0]["params"].update(transformer_weights={"num": [1, 9]}),
            "finite",
        ),
        (lambda c, a: c["steps"][0]["params"].update(transformer_weights={"zz": 2.0}), "name no"),
        (lambda c, a: c["steps"][0]["transformers"][0].update(columns=["b", "a"]), "fitted on"),
    ],
)
def test_an_edited_column_transformers_fields_are_checked(tmp_path, change, match):
    from sklearn.compose import ColumnTransformer

    frame, y = _mixed_frame()
    columns = ColumnTransformer([("num", StandardScaler(), ["a", "b"])])
    model = make_pipeline(columns, RNNRegressor(n_features=1, hidden_size=4, max_iter=1))
    fastrnn.save(model.fit(frame, y), tmp_path / "p.npz")
    _edit(tmp_path / "p.npz", change)
    with pytest.raises(ValueError, match=f"inconsistent model(.|\\n)*{match}"):
        fastrnn.load(tmp_path / "p.npz")


def test_a_column_transformer_loads_quietly_and_keeps_numpy_typed_settings(tmp_path, capsys):
    from sklearn.compose import ColumnTransformer

    X, y = _data()
    columns = ColumnTransformer(
        [("s", StandardScaler(), [0, 1])],
        verbose=True,
        n_jobs=np.int64(1),
        sparse_threshold=np.float32(0.5),
        transformer_weights={"s": np.float32(2.0)},
    )
    model = make_pipeline(columns, RNNRegressor(n_features=1, hidden_size=4, max_iter=1))
    model.fit(np.nan_to_num(X), y)
    fastrnn.save(model, tmp_path / "p.npz")
    capsys.readouterr()
    loaded = fastrnn.load(tmp_path / "p.npz")
    assert capsys.readouterr().out == ""  # no fit messages while a file loads
    assert loaded[0].verbose is True and loaded[0].n_jobs == 1
    np.testing.assert_array_equal(loaded.predict(np.nan_to_num(X)), model.predict(np.nan_to_num(X)))
    lam = ColumnTransformer(
        [("s", StandardScaler(), [0])], verbose_feature_names_out=lambda t, f: f
    )
    refused = make_pipeline(lam, RNNRegressor(n_features=1, hidden_size=4, max_iter=1))
    with pytest.raises(TypeError, match="is a ColumnTransformer"):
        fastrnn.save(refused.fit(np.nan_to_num(X), y), tmp_path / "q.npz")
