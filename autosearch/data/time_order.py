"""Time-ordered tables: which column, if any, orders a table's rows in time, and the rows' order by it.

A table is time-ordered when its rows are the steps of one series or of several side by side (long format):
a date column whose distinct values come at regular steps (`regular_step`: most gaps between consecutive
distinct values within a tenth of the usual one; business days' weekends allowed) with about as many rows at
every step (one per series). Dates that are spread at random (birth dates, events) are no series, even when
they cover every day: their rows per day vary. `--time COLUMN` names the column (a date or a numeric column
such as a step number) whatever its steps; `--no-time` turns the order off. A time-ordered table is split
and validated in time order (`split.split_data`, `split.fold_rows`): nothing learns from its future.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from autosearch.data.dates import day_first, is_date, timestamps
from autosearch.errors import AutosearchError

MIN_STEPS = 20  # distinct times a series needs to be recognised as one
STEP_TOLERANCE = 0.1  # a gap within this share of the usual gap is a regular step (months: 28-31 days)
REGULAR_SHARE = 0.7  # of the gaps that are regular steps (business days: 4 of 5)
EVEN_SHARE = 0.6  # of the steps that hold the usual number of rows (events at random: rarely over 0.4)


def order_values(s: pd.Series) -> np.ndarray:
    """The values of a time column as numbers that order them (nanoseconds for dates); NaN where missing.

    >>> order_values(pd.Series(["2024-03-02", None, "2024-03-01"])).argsort(kind="stable").tolist()
    [2, 0, 1]
    """
    if ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    t = timestamps(s, day_first(s))
    return np.where(t.isna(), np.nan, t.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64))


def regular_step(values: np.ndarray) -> str | None:
    """How a time column steps (e.g. "every 30 minutes"), if its rows are the steps of series: regular gaps
    between its distinct values and about as many rows at each. `values`: `order_values` of dates.

    >>> days = pd.Series(pd.date_range("2024-01-01", periods=60, freq="D").astype(str))
    >>> regular_step(order_values(days)), regular_step(order_values(pd.concat([days, days])))
    ('every day', 'every day')
    >>> regular_step(order_values(days.sample(200, replace=True, random_state=0)))  # events: rows per day vary
    >>> months = pd.Series(pd.date_range("2020-01-01", periods=36, freq="MS").astype(str))
    >>> regular_step(order_values(months))
    'every ~30 days'
    """
    present = values[~np.isnan(values)]
    distinct, rows = np.unique(present, return_counts=True)
    if len(distinct) < MIN_STEPS:
        return None
    gaps = np.diff(distinct)
    step = float(np.median(gaps))
    regular = np.mean(np.abs(gaps - step) <= STEP_TOLERANCE * step)
    usual = np.bincount(rows).max() / len(rows)  # the share of steps with the most common number of rows
    if step <= 0 or regular < REGULAR_SHARE or usual < EVEN_SHARE:
        return None
    return "every " + duration(step / 1e9)


def duration(seconds: float) -> str:
    """
    >>> duration(1800), duration(3600), duration(86400), duration(7 * 86400), duration(31 * 86400)
    ('30 minutes', 'hour', 'day', '7 days', '~30 days')
    """
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size:
            n = seconds / size
            if abs(n - 1) < 1e-9:
                return unit
            exact = (abs(n - round(n)) < 1e-9 and unit != "day") or n <= 7
            return f"{round(n)} {unit}s" if exact else f"~{round(n, -1 if n >= 20 else 0):.0f} {unit}s"
    return f"{seconds:g} seconds"


def time_column(frame: pd.DataFrame, dates: tuple[str, ...], requested: str | None, off: bool
                ) -> tuple[str | None, str]:
    """The column that orders the rows of the feature table `frame` in time (None: none does) and what to
    tell the user. `dates`: its date columns; `requested`: --time; `off`: --no-time."""
    if off:
        return None, ""
    if requested is not None:
        if requested not in frame.columns:
            raise AutosearchError(f"--time '{requested}' is not a feature column of the data; name a date or "
                                  "numeric column, or leave --time out")
        s = frame[requested]
        if not (is_date(s) or ptypes.is_numeric_dtype(s)) or ptypes.is_bool_dtype(s):
            raise AutosearchError(f"--time '{requested}' holds neither dates nor numbers; name a date or numeric "
                                  "column, or leave --time out")
        if np.isnan(order_values(s)).all():
            raise AutosearchError(f"--time '{requested}' has no values; name a column with times")
        return requested, f"rows ordered in time by '{requested}' (--time)"
    for col in dates:
        step = regular_step(order_values(frame[col]))
        if step:
            return col, (f"time-ordered: column '{col}' steps {step}, about as many rows at each step; the "
                         "splits follow time (--no-time shuffles them)")
    if dates:
        return None, (f"column '{dates[0]}' holds dates at irregular steps: samples are split at random; "
                      f"--time {dates[0]} splits them in time order")
    return None, ""
