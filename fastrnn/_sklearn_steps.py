"""scikit-learn's code-free preprocessing steps in fastrnn's pickle-free model files.

A Pipeline such as ``StandardScaler() -> RNNRegressor()`` saves with
:func:`fastrnn.save` when each step before the model is one of
:data:`STEPS`: transformers whose fitted state is a few numeric arrays (no
code, no functions, no nested estimators), so a file holds them as arrays
and JSON, and loading one runs no code from it. Anything else (a
``FunctionTransformer``, a ``ColumnTransformer``, a custom step) still needs
pickle or ``skops.io``; ``save`` names the step it cannot store.
"""

import importlib

import numpy as np

# name -> (module, parameters kept, fitted arrays, fitted counts). An array
# may be None where a parameter turns it off (StandardScaler(with_mean=False)
# has mean_ None).
STEPS = {
    "StandardScaler": (
        "sklearn.preprocessing",
        ("copy", "with_mean", "with_std"),
        ("mean_", "var_", "scale_", "n_samples_seen_"),
    ),
    "MinMaxScaler": (
        "sklearn.preprocessing",
        ("feature_range", "copy", "clip"),
        ("min_", "scale_", "data_min_", "data_max_", "data_range_", "n_samples_seen_"),
    ),
    "MaxAbsScaler": (
        "sklearn.preprocessing",
        ("copy",),
        ("max_abs_", "scale_", "n_samples_seen_"),
    ),
    "RobustScaler": (
        "sklearn.preprocessing",
        ("with_centering", "with_scaling", "quantile_range", "copy", "unit_variance"),
        ("center_", "scale_"),
    ),
    "SimpleImputer": (
        "sklearn.impute",
        ("strategy", "fill_value", "copy", "keep_empty_features"),
        ("statistics_",),
    ),
}
# OneHotEncoder: its categories per column (numbers or strings), rebuilt by
# fitting it on them (see _onehot). Not the infrequent-category grouping.
_ONEHOT_PARAMS = ("drop", "handle_unknown", "sparse_output", "feature_name_combiner")
# Every step a file may name.
NAMES = (*STEPS, "OneHotEncoder")
# Parameters JSON turns from tuples into lists, turned back.
_TUPLES = ("feature_range", "quantile_range")


def is_step(obj):
    """Whether ``obj`` is a fitted step of :data:`NAMES` this module can store."""
    name = type(obj).__name__
    if not hasattr(obj, "n_features_in_"):  # not fitted
        return False
    if name == "OneHotEncoder":
        from sklearn.preprocessing import OneHotEncoder

        return (
            type(obj) is OneHotEncoder
            and (obj.drop is None or isinstance(obj.drop, str))  # not a list of categories
            and obj.min_frequency is None
            and obj.max_categories is None
            and not obj.sparse_output  # the recurrent models read dense arrays
            and obj.feature_name_combiner == "concat"
            and isinstance(obj.categories, str)  # "auto": the fitted ones are sorted
            and all(_category_array(c) is not None for c in obj.categories_)
            and len({str(c.dtype) for c in obj.categories_}) == 1
        )
    if name not in STEPS or type(obj) is not _class(name):
        return False
    if name == "SimpleImputer":  # NaN as the missing value, no indicator (an estimator)
        missing = obj.missing_values
        if not (isinstance(missing, float) and np.isnan(missing)) or obj.add_indicator:
            return False
        return obj.strategy != "constant" or obj.fill_value is None or _number(obj.fill_value)
    return True


def _category_array(categories):
    """One column's categories as an int64, float64 or str array, or None if mixed."""
    values = list(categories)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, (float, np.floating)) for v in values) and not np.isnan(values).any():
        return np.asarray(values, dtype=np.float64)
    if all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    return None


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _class(name):
    return getattr(importlib.import_module(STEPS[name][0]), name)


def describe(step):
    """``(config, arrays)`` of a fitted step (see :func:`is_step`)."""
    name = type(step).__name__
    if name == "OneHotEncoder":
        arrays = {f"categories_{j}": _category_array(c) for j, c in enumerate(step.categories_)}
        if hasattr(step, "feature_names_in_"):
            arrays["feature_names_in_"] = np.asarray(step.feature_names_in_, dtype=str)
        params = {k: getattr(step, k) for k in _ONEHOT_PARAMS}
        params["dtype"] = np.dtype(step.dtype).name
        config = {
            "estimator": name,
            "params": params,
            "n_features_in_": len(step.categories_),
            # What the encoder was fitted on: an object table or a typed array
            # (its categories then compare with what it is given the same way).
            "table_dtype": str(step.categories_[0].dtype),
        }
        return config, arrays
    _, params, fitted = STEPS[name]
    arrays = {}
    for key in fitted:
        value = getattr(step, key, None)
        if value is not None:
            arrays[key] = np.asarray(value, dtype=np.float64)
    if hasattr(step, "feature_names_in_"):
        arrays["feature_names_in_"] = np.asarray(step.feature_names_in_, dtype=str)
    config = {
        "estimator": name,
        "params": {k: _plain(getattr(step, k)) for k in params},
        "n_features_in_": int(step.n_features_in_),
    }
    return config, arrays


def _onehot(config, arrays):
    """A OneHotEncoder fitted on a table made of its categories: each column runs
    through its own (sorted, as "auto" finds them), so refitting finds them again."""
    from sklearn.preprocessing import OneHotEncoder

    params = config["params"]
    if not isinstance(params, dict) or set(params) != {*_ONEHOT_PARAMS, "dtype"}:
        raise ValueError("a OneHotEncoder's parameters are not the ones fastrnn stores")
    if params["dtype"] not in ("float64", "float32", "int64", "int32", "bool"):
        raise ValueError(f"a OneHotEncoder's dtype {params['dtype']!r} is not a number type")
    step = OneHotEncoder(**{**params, "dtype": np.dtype(params["dtype"]).type})
    step._validate_params()
    n = config["n_features_in_"]
    if not _number(n) or isinstance(n, float) or n < 1:
        raise ValueError("a OneHotEncoder's n_features_in_ is not a count")
    expected = {f"categories_{j}" for j in range(n)}
    if not expected <= set(arrays) <= expected | {"feature_names_in_"}:
        raise ValueError(f"a OneHotEncoder holds not {n} columns' categories")
    columns = [arrays[f"categories_{j}"] for j in range(n)]
    for j, c in enumerate(columns):
        if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "ifU":
            raise ValueError(f"a OneHotEncoder's categories of column {j} are not a list")
        if c.dtype.kind == "f" and not np.all(np.isfinite(c)):
            raise ValueError(f"a OneHotEncoder's categories of column {j} are not finite")
        if len(np.unique(c)) != len(c) or np.any(np.sort(c) != c):
            raise ValueError(
                f"a OneHotEncoder's categories of column {j} are not sorted, once each"
            )
    rows = max(len(c) for c in columns)
    table = np.empty((rows, n), dtype=object)
    for j, c in enumerate(columns):
        table[:, j] = [c[i % len(c)].item() for i in range(rows)]
    dtype = config["table_dtype"]
    if dtype != "object":
        try:
            table = table.astype(np.dtype(dtype))
        except TypeError as exc:
            raise ValueError(f"a OneHotEncoder's table dtype {dtype!r} is not an array's") from exc
    step.fit(table)
    if any(str(c.dtype) != dtype for c in step.categories_):
        raise ValueError("a OneHotEncoder's categories do not rebuild with their types")
    if "feature_names_in_" in arrays:
        names = arrays["feature_names_in_"]
        if names.dtype.kind != "U" or names.shape != (n,):
            raise ValueError(f"a OneHotEncoder's feature names are not {n} strings")
        step.feature_names_in_ = names.astype(object)
    return step


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    return value.item() if hasattr(value, "item") else value


def rebuild(config, arrays):
    """The fitted step ``config`` and ``arrays`` describe, every field checked."""
    name = config["estimator"]
    if name == "OneHotEncoder":
        return _onehot(config, arrays)
    _, param_names, fitted = STEPS[name]
    params = config["params"]
    if not isinstance(params, dict) or set(params) != set(param_names):
        raise ValueError(f"a {name}'s parameters are not {sorted(param_names)}")
    params = {k: tuple(v) if k in _TUPLES and isinstance(v, list) else v for k, v in params.items()}
    step = _class(name)(**params)
    step._validate_params()
    n = config["n_features_in_"]
    if not _number(n) or isinstance(n, float) or n < 1:
        raise ValueError(f"a {name}'s n_features_in_ is not a count")
    expected = set(fitted) | {"feature_names_in_"}
    if not set(arrays) <= expected:
        raise ValueError(f"a {name} holds unexpected arrays {sorted(set(arrays) - expected)}")
    for key in fitted:
        if key not in arrays:
            setattr(step, key, None)
            continue
        value = arrays[key]
        if value.dtype.kind not in "fiu" or value.ndim > 1:
            raise ValueError(f"a {name}'s {key} is not numbers")
        if key == "n_samples_seen_" and value.ndim == 0:
            setattr(step, key, int(value))
            continue
        if value.shape != (n,):
            raise ValueError(f"a {name}'s {key} has shape {value.shape}, not ({n},)")
        # An imputer's statistic is NaN for a column that was all missing.
        if key != "statistics_" and not np.all(np.isfinite(value)):
            raise ValueError(f"a {name}'s {key} is not finite")
        setattr(step, key, value.astype(np.float64))
    if "feature_names_in_" in arrays:
        names = arrays["feature_names_in_"]
        if names.dtype.kind != "U" or names.shape != (n,):
            raise ValueError(f"a {name}'s feature names are not {n} strings")
        step.feature_names_in_ = names.astype(object)
    step.n_features_in_ = n
    if name == "SimpleImputer":
        # Fitted on the one row of its statistics (a row's mean, median and
        # most frequent value are the row): scikit-learn sets its own private
        # fields, whatever its version, and the statistics come out as saved.
        statistics = step.statistics_
        names = getattr(step, "feature_names_in_", None)
        step.fit(statistics[None, :])
        rebuilt = np.asarray(step.statistics_, dtype=np.float64)
        if not np.array_equal(rebuilt, statistics, equal_nan=True):
            raise ValueError("a SimpleImputer's statistics do not rebuild")
        if names is not None:
            step.feature_names_in_ = names
    return step
