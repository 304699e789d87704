"""What a forecaster is given: one series or many, their times, their calendar.

:func:`read` turns what ``RNNForecaster.fit`` and ``predict`` accept — a 1-D
array, a pandas Series (a DatetimeIndex or PeriodIndex names its periods), a
list of series of any lengths, or a long DataFrame of many series (an id, a
time and a value column, statsforecast's layout) — into a :class:`Panel`:
float arrays, each series' position on its time axis, and how to give the
forecasts back. :func:`season_features` draws the position features the
network sees. pandas is imported only when a pandas object comes in.
"""

from dataclasses import dataclass

import numpy as np

from fastrnn import _validation as val


def series(y, name="y"):
    """``y`` as a finite float64 1-D array."""
    arr = val.as_float_array(y, np.float64, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one series (1-D), got shape {arr.shape}")
    val.check_finite(arr, name)
    return arr


def exog(values, n, name="exog"):
    """``values`` as a finite float64 ``[n, k]`` array, or None."""
    if values is None:
        return None
    arr = val.as_float_array(values, np.float64, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or len(arr) != n:
        raise ValueError(f"{name} must have {n} rows (one per step of the series), got {arr.shape}")
    val.check_finite(arr, name)
    return arr


@dataclass
class Panel:
    """Series as a forecaster reads them.

    Attributes
    ----------
    values : list of ndarray
        Each series, float64.
    form : {"one", "list", "long"}
        What came in: one series, a list of them, or a long DataFrame.
    starts : ndarray of int
        The position of each series' first value: its period's number on
        the time axis (so that ``position % season`` is the same season for
        every series), or 0 for a series without times.
    time : dict or None
        ``{"kind", "freq", "end"}``: "DatetimeIndex", "PeriodIndex" or
        "integer" (a long DataFrame's integer time column), the frequency,
        and each series' last time (a list for a long DataFrame, else one).
    ids : list or None
        A long DataFrame's series ids, in order of first appearance.
    """

    values: list
    form: str
    starts: np.ndarray
    time: dict = None
    ids: list = None


def read(y, name="y", id_col="unique_id", time_col="ds", target_col="y"):
    """``y`` (see the module's docstring) as a :class:`Panel`."""
    if hasattr(y, "columns"):  # a DataFrame
        if id_col in y.columns:
            return _long(y, id_col, time_col, target_col, name)
        if y.shape[1] != 1:
            raise ValueError(
                f"{name} is a DataFrame with {y.shape[1]} columns but no id column "
                f"{id_col!r}: many series go in long form, one row per value, with columns "
                f"{id_col!r} (the series), {time_col!r} (the time) and {target_col!r} (the "
                f"value) (or name yours with id_col=, time_col=, target_col=); one series "
                f"as a one-column DataFrame or a Series; columns: {list(y.columns)}"
            )
        y = y.iloc[:, 0]
    if isinstance(y, (list, tuple)) and len(y) and not np.isscalar(y[0]):
        values = [series(s, f"{name}[{i}]") for i, s in enumerate(y)]
        return Panel(values, "list", np.zeros(len(values), np.int64))
    time, start = _index_time(y, name)
    return Panel([series(y, name)], "one", np.array([start], np.int64), time)


def _freq_of(index, name):
    """The regular frequency of a DatetimeIndex or PeriodIndex, as a string."""
    import pandas as pd

    freq = index.freqstr if index.freq is not None else None
    if freq is None and type(index).__name__ == "DatetimeIndex" and len(index) >= 3:
        freq = pd.infer_freq(index)
    if freq is None:
        raise ValueError(
            f"{name}'s {type(index).__name__} has no regular frequency: give it one "
            "(e.g. y.asfreq('MS')) or pass the values alone"
        )
    return freq


def _ordinals(index, freq):
    """Each time's period number since 1970 in steps of ``freq`` (a DatetimeIndex or
    PeriodIndex); ValueError where the times do not follow ``freq``."""
    import pandas as pd

    if type(index).__name__ == "DatetimeIndex":
        index = pd.DatetimeIndex(index, freq=freq).to_period()
    return np.asarray(index.asi8, np.int64) // index.freq.n


def _index_time(y, name):
    """``(time, start)`` of a pandas Series with a time index, else ``(None, 0)``."""
    index = getattr(y, "index", None)
    kind = type(index).__name__
    if kind not in ("DatetimeIndex", "PeriodIndex") or len(index) == 0:
        return None, 0
    freq = _freq_of(index, name)
    return {"kind": kind, "freq": freq, "end": str(index[-1])}, int(_ordinals(index, freq)[0])


def _long(df, id_col, time_col, target_col, name):
    """A long DataFrame (one row per series and time) as a :class:`Panel`."""
    import pandas as pd

    for col in (time_col, target_col):
        if col not in df.columns:
            raise ValueError(
                f"{name} has an id column {id_col!r} but no column {col!r} (columns: "
                f"{list(df.columns)}); name yours with time_col= and target_col="
            )
    if df[id_col].isna().any():
        raise ValueError(f"{name}'s id column {id_col!r} has missing ids")
    if len(df) == 0:
        raise ValueError(f"{name} has no rows")
    times = df[time_col]
    integer = pd.api.types.is_integer_dtype(times)
    if not integer:
        if isinstance(times.dtype, pd.PeriodDtype):
            times = pd.PeriodIndex(times)
        else:
            try:
                times = pd.DatetimeIndex(pd.to_datetime(times))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{name}'s time column {time_col!r} is neither dates, periods nor "
                    f"integers: {exc}"
                ) from exc
    ids = list(pd.unique(df[id_col]))
    codes = pd.Categorical(df[id_col], categories=ids).codes
    order = np.lexsort((np.asarray(times.asi8 if not integer else times), codes))
    codes = codes[order]
    times = times[order] if not integer else np.asarray(times)[order]
    values = df[target_col].to_numpy()[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    groups = np.split(np.arange(len(codes)), bounds)
    if integer:
        freq, kind = None, "integer"
    else:
        kind = type(times).__name__
        freq = _shared_freq([times[rows] for rows in groups], f"{name}'s {time_col!r}")
    out, starts, ends = [], [], []
    for i, rows in enumerate(groups):
        try:
            ordinals = (
                np.asarray(times[rows], np.int64) if integer else _ordinals(times[rows], freq)
            )
        except ValueError:  # pandas: the times do not follow freq
            ordinals = None
        if ordinals is None or np.any(np.diff(ordinals) != 1):
            raise ValueError(
                f"series {ids[i]!r} of {name} skips or repeats times: each series needs "
                f"one value per {freq or 'integer step'}, without gaps"
            )
        out.append(series(values[rows], f"series {ids[i]!r} of {name}"))
        starts.append(int(ordinals[0]))
        end = times[rows[-1]]
        ends.append(int(end) if integer else str(end))
    time = {"kind": kind, "freq": freq, "end": ends}
    return Panel(out, "long", np.array(starts, np.int64), time, [_plain(i) for i in ids])


def _shared_freq(indexes, name):
    """The frequency of the first of ``indexes`` (longest first) that has a regular one
    (a series with a gap has none; the check per series then names it)."""
    for index in sorted(indexes, key=len, reverse=True):
        try:
            return _freq_of(index, name)
        except ValueError:
            continue
    return _freq_of(indexes[0][:0], name)  # none: the error says how to give one


def _plain(value):
    """A numpy scalar id as the Python value a model file can hold."""
    return value.item() if hasattr(value, "item") else value


def future_times(time, horizon, end=None):
    """The ``horizon`` times after ``end`` (default: ``time["end"]``) as a pandas index."""
    import pandas as pd

    end = time["end"] if end is None else end
    if time["kind"] == "integer":
        return pd.Index(np.arange(end + 1, end + 1 + horizon))
    if time["kind"] == "PeriodIndex":
        end = pd.Period(end, freq=time["freq"])
        return pd.period_range(end + 1, periods=horizon, freq=time["freq"])
    end = pd.Timestamp(end)
    return pd.date_range(end, periods=horizon + 1, freq=time["freq"])[1:]


# The calendar's cycles for each kind of period, in periods: a month's year,
# a day's week and year, an hour's day and week.
_CALENDAR = {
    "MonthEnd": (12.0,),
    "MonthBegin": (12.0,),
    "QuarterEnd": (4.0,),
    "QuarterBegin": (4.0,),
    "Week": (52.1775,),
    "Day": (7.0, 365.2425),
    "BusinessDay": (5.0, 260.89),
    "Hour": (24.0, 168.0),
    "Minute": (60.0, 1440.0),
    "Second": (60.0,),
}


def calendar_cycles(time):
    """The calendar cycles of ``time``'s frequency (none for years or integers)."""
    if time is None or time["kind"] == "integer":
        return ()
    from pandas.tseries.frequencies import to_offset

    try:
        offset = to_offset(time["freq"])
    except ValueError:  # a period alias ("M", "Q-DEC") pandas names otherwise for offsets
        import pandas as pd

        offset = pd.Period("2000-01-01", freq=time["freq"]).freq
    return tuple(c / offset.n for c in _CALENDAR.get(type(offset).__name__, ()) if c > offset.n)


def season_features(positions, cycles):
    """``[..., 2 * len(cycles)]`` sine and cosine of each position's phase in each cycle."""
    if not cycles:
        return np.zeros(positions.shape + (0,))
    phase = 2 * np.pi * positions[..., None] / np.asarray(cycles)
    return np.concatenate([np.sin(phase), np.cos(phase)], axis=-1)
