"""scikit-learn's code-free preprocessing steps in fastrnn's pickle-free model files.

A Pipeline such as ``StandardScaler() -> RNNRegressor()`` saves with
:func:`fastrnn.save` when each step before the model is one of
:data:`STEPS`: transformers whose fitted state is a few numeric arrays (no
code, no functions, no nested estimators), so a file holds them as arrays
and JSON, and loading one runs no code from it; or a ``ColumnTransformer``
of those, on columns named by lists of indices or names. Anything else (a
``FunctionTransformer``, a column selector function, a custom step) still
needs pickle or ``skops.io``; ``save`` names the step it cannot store.
"""

import importlib
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone

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
# The widest ColumnTransformer a file may declare (it is refitted on a row of that width).
_MAX_COLUMNS = 1_000_000
# A ColumnTransformer's parameters kept (its transformers are stored one by one).
_COLUMN_PARAMS = (
    "remainder",
    "sparse_threshold",
    "n_jobs",
    "transformer_weights",
    "verbose",
    "verbose_feature_names_out",
)
# Every step a file may name.
NAMES = (*STEPS, "OneHotEncoder", "ColumnTransformer")
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
    if name == "ColumnTransformer":
        return _is_column_transformer(obj)
    if name not in STEPS or type(obj) is not _class(name):
        return False
    if name == "SimpleImputer":  # NaN as the missing value, no indicator (an estimator)
        missing = obj.missing_values
        if not (isinstance(missing, float) and np.isnan(missing)) or obj.add_indicator:
            return False
        return obj.strategy != "constant" or obj.fill_value is None or _number(obj.fill_value)
    return True


def _is_column_transformer(obj):
    """A fitted ColumnTransformer of :func:`is_step` steps (or "drop",
    "passthrough") on lists of column indices or names, dense."""
    from sklearn.compose import ColumnTransformer

    if type(obj) is not ColumnTransformer or obj.remainder not in ("drop", "passthrough"):
        return False
    weights = obj.transformer_weights
    if weights is not None and not all(
        isinstance(w, (numbers.Real, np.number)) and np.isfinite(w) for w in weights.values()
    ):
        return False
    if not isinstance(obj.verbose_feature_names_out, (bool, str)):  # a function is code
        return False
    if not (obj.n_jobs is None or isinstance(obj.n_jobs, (numbers.Integral, np.integer))):
        return False
    named = [t[0] for t in obj.transformers_]
    if [t[0] for t in obj.transformers] != named[: len(obj.transformers)]:
        return False
    for (_, unfitted, columns), (_, step, _) in zip(obj.transformers, obj.transformers_):
        if _columns(columns) is None:  # a selector function, a slice, a mask
            return False
        if isinstance(unfitted, str):
            if unfitted not in ("drop", "passthrough"):
                return False
        elif type(step).__name__ == "ColumnTransformer" or not is_step(step):
            return False
    return not obj.sparse_output_


def _columns(columns):
    """A column selection as JSON (an int, a str, or a list of either), or None."""
    if isinstance(columns, (int, np.integer)) and not isinstance(columns, bool):
        return int(columns)
    if isinstance(columns, str):
        return columns
    if isinstance(columns, (list, tuple, np.ndarray)):
        values = list(np.asarray(columns).tolist()) if isinstance(columns, np.ndarray) else columns
        if all(isinstance(c, str) for c in values):
            return list(values)
        if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in values):
            return [int(c) for c in values]
    return None


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
    if name == "ColumnTransformer":
        return _describe_columns(step)
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


def _describe_columns(ct):
    """A ColumnTransformer: its parameters, then each transformer's name,
    columns and step (its arrays under ``t{k}.``), and the output's layout."""
    arrays, transformers = {}, []
    for k, ((name, unfitted, columns), (_, step, _)) in enumerate(
        zip(ct.transformers, ct.transformers_)
    ):
        entry = {"name": name, "columns": _columns(columns)}
        if isinstance(unfitted, str):
            entry["step"] = unfitted
        else:
            entry["step"], step_arrays = describe(step)
            arrays.update({f"t{k}.{key}": v for key, v in step_arrays.items()})
        transformers.append(entry)
    if hasattr(ct, "feature_names_in_"):
        arrays["feature_names_in_"] = np.asarray(ct.feature_names_in_, dtype=str)
    params = {k: _plain(getattr(ct, k)) for k in _COLUMN_PARAMS}
    if params["transformer_weights"] is not None:
        params["transformer_weights"] = {
            k: float(w) for k, w in params["transformer_weights"].items()
        }
    config = {
        "estimator": "ColumnTransformer",
        "params": params,
        "transformers": transformers,
        "n_features_in_": int(ct.n_features_in_),
        "output_indices": {k: [v.start, v.stop] for k, v in ct.output_indices_.items()},
    }
    return config, arrays


class _Width(TransformerMixin, BaseEstimator):
    """A stand-in of ``width`` output columns, fitted where a rebuilt step goes."""

    def __init__(self, width=1):
        self.width = width

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.zeros((len(X), self.width))


def _rebuild_columns(config, arrays):
    """A ColumnTransformer as saved.

    Its own fitted fields are private to scikit-learn and change between
    versions, so it is fitted, on a table of the saved width and column
    names, with stand-ins of each step's output width; the rebuilt steps
    then take the stand-ins' places, and the output's layout is checked
    against the saved one.
    """
    from sklearn.compose import ColumnTransformer

    params = config["params"]
    if not isinstance(params, dict) or set(params) != set(_COLUMN_PARAMS):
        raise ValueError(f"a ColumnTransformer's parameters are not {sorted(_COLUMN_PARAMS)}")
    if params["remainder"] not in ("drop", "passthrough"):
        raise ValueError("a ColumnTransformer's remainder is not 'drop' or 'passthrough'")
    n = config["n_features_in_"]
    if not _number(n) or isinstance(n, float) or not 1 <= n <= _MAX_COLUMNS:
        raise ValueError(
            f"a ColumnTransformer's n_features_in_ is not a count up to {_MAX_COLUMNS}"
        )
    weights = params["transformer_weights"]
    if weights is not None and not (
        isinstance(weights, dict) and all(_number(w) and np.isfinite(w) for w in weights.values())
    ):
        raise ValueError("a ColumnTransformer's transformer_weights are not finite numbers")
    if not isinstance(params["verbose_feature_names_out"], (bool, str)):
        raise ValueError("a ColumnTransformer's verbose_feature_names_out is not a bool or str")
    names = arrays.get("feature_names_in_")
    if names is not None and (names.dtype.kind != "U" or names.shape != (n,)):
        raise ValueError(f"a ColumnTransformer's feature names are not {n} strings")
    entries = config["transformers"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError("a ColumnTransformer's transformers are not a list")
    stand_ins, fitted, known = [], {}, {"feature_names_in_"}
    for k, entry in enumerate(entries):
        if set(entry) != {"name", "columns", "step"} or not isinstance(entry["name"], str):
            raise ValueError(f"a ColumnTransformer's transformer {k} is not a name, columns, step")
        columns = entry["columns"]
        if _columns(columns) != columns:
            raise ValueError(f"a ColumnTransformer's columns of {entry['name']!r} are not a list")
        chosen = columns if isinstance(columns, list) else [columns]
        for c in chosen:
            if isinstance(c, str) and (names is None or c not in names):
                raise ValueError(f"a ColumnTransformer's column {c!r} is not one of its inputs")
            if isinstance(c, int) and not -n <= c < n:
                raise ValueError(f"a ColumnTransformer's column {c} is not one of its {n}")
        step = entry["step"]
        if isinstance(step, str):
            if step not in ("drop", "passthrough"):
                raise ValueError(f"a ColumnTransformer's step {step!r} is not drop or passthrough")
            stand_ins.append((entry["name"], step, columns))
            continue
        if not isinstance(step, dict) or step.get("estimator") not in NAMES[:-1]:
            raise ValueError(
                f"a ColumnTransformer's step {entry['name']!r} is not one fastrnn stores"
            )
        prefix = f"t{k}."
        known |= {key for key in arrays if key.startswith(prefix)}
        rebuilt = rebuild(
            step, {key[len(prefix) :]: v for key, v in arrays.items() if key.startswith(prefix)}
        )
        if rebuilt.n_features_in_ != len(chosen):
            raise ValueError(
                f"a ColumnTransformer's step {entry['name']!r} reads {rebuilt.n_features_in_} "
                f"columns, not {len(chosen)}"
            )
        own = getattr(rebuilt, "feature_names_in_", None)
        if own is not None and all(isinstance(c, str) for c in chosen) and list(own) != chosen:
            raise ValueError(
                f"a ColumnTransformer's step {entry['name']!r} was fitted on columns "
                f"{list(own)}, not {chosen}"
            )
        fitted[entry["name"]] = rebuilt
        stand_ins.append((entry["name"], _Width(len(rebuilt.get_feature_names_out())), columns))
    if set(arrays) - known:
        raise ValueError(
            f"a ColumnTransformer holds unexpected arrays {sorted(set(arrays) - known)}"
        )
    # Fitted quietly in this process (a saved verbose or n_jobs would print, or
    # start workers, while a file loads); the saved values are set afterwards.
    ct = ColumnTransformer(stand_ins, **{**params, "verbose": False, "n_jobs": None})
    ct._validate_params()
    if weights is not None and not set(weights) <= {e["name"] for e in entries}:
        raise ValueError("a ColumnTransformer's transformer_weights name no transformer")
    table = np.zeros((1, n))
    if names is not None:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "this model's ColumnTransformer reads DataFrame columns by name; "
                "loading it needs pandas"
            ) from exc

        table = pd.DataFrame(table, columns=list(names))
    ct.fit(table)
    ct.transformers_ = [
        (name, fitted.get(name, step), columns) for name, step, columns in ct.transformers_
    ]
    ct.transformers = [
        (name, clone(fitted[name]) if name in fitted else step, columns)
        for name, step, columns in stand_ins
    ]
    ct.set_params(verbose=params["verbose"], n_jobs=params["n_jobs"])
    ct._validate_params()
    layout = {k: [v.start, v.stop] for k, v in ct.output_indices_.items()}
    if layout != config["output_indices"]:
        raise ValueError("a ColumnTransformer's output columns do not rebuild as saved")
    return ct


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
    if name == "ColumnTransformer":
        return _rebuild_columns(config, arrays)
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
