"""Date and time columns: which ones a table has, and their values as timestamps.

A column is a date column when it is pandas' datetime type (Parquet's timestamps) or when nearly all its
values are written as dates: ISO 8601 (`2024-03-01`, `2024-03-01 14:30`, `2024-03-01T14:30:00Z`) or with
slashes (`3/1/2024`: month first, unless a first field above 12 in the column says day first). Preprocessing
turns each into numbers (`preprocessing._date_parts`); read as text, such a column was one-hot (or, every value
distinct, dropped as an ID). Times with a zone are read in UTC.
"""

from __future__ import annotations

import re
import warnings

import pandas as pd
from pandas.api import types as ptypes

_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
                   r"|^\d{1,2}/\d{1,2}/\d{4}( \d{1,2}:\d{2}(:\d{2})?)?$")
SAMPLE = 1000  # values looked at to decide
SHARE = 0.95  # of the non-missing values written as dates


def is_date(s: pd.Series) -> bool:
    """Whether a column holds dates.

    >>> is_date(pd.Series(["2024-03-01", "2024-03-02", None])), is_date(pd.Series(["3/1/2024 14:30", "3/2/2024"]))
    (True, True)
    >>> is_date(pd.Series(["a-b-c", "2024-03-01"])), is_date(pd.Series([20240301, 20240302]))
    (False, False)
    """
    if ptypes.is_datetime64_any_dtype(s):
        return True
    if ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s):
        return False
    values = s.dropna().iloc[:SAMPLE].astype(str).str.strip()
    if not len(values) or values.str.match(_DATE).mean() < SHARE:
        return False
    return bool(timestamps(values).notna().mean() >= SHARE)  # 2024-13-45 has a date's shape, not a date's value


def day_first(s: pd.Series) -> bool:
    """Whether a column's slash dates put the day first: any first field above 12 says so (25/12/2024).

    >>> day_first(pd.Series(["01/02/2024", "25/12/2024"])), day_first(pd.Series(["12/25/2024", "2024-03-01"]))
    (True, False)
    """
    if ptypes.is_datetime64_any_dtype(s):
        return False
    first = s.dropna().astype(str).str.extract(r"^\s*(\d{1,2})/\d{1,2}/\d{4}", expand=False).dropna()
    return bool((first.astype(int) > 12).any())


def timestamps(s: pd.Series, day_first: bool = False) -> pd.Series:
    """The values as UTC timestamps without a zone (naive values taken as UTC); NaT where one is missing or
    is not a date. `day_first`: slash dates are day/month/year.

    >>> timestamps(pd.Series(["2024-03-01", "2024-03-01T12:00:00+02:00", "soon"])).tolist()
    [Timestamp('2024-03-01 00:00:00'), Timestamp('2024-03-01 10:00:00'), NaT]
    >>> timestamps(pd.Series(["01/02/2024"]), day_first=True).tolist()
    [Timestamp('2024-02-01 00:00:00')]
    """
    if not ptypes.is_datetime64_any_dtype(s):
        text = s.astype("string").str.strip()
        with warnings.catch_warnings():  # pandas' "could not infer format" hint: the fallback below is the answer
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
            if parsed.isna().sum() > text.isna().sum():  # not all ISO 8601: read each value on its own
                parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed", dayfirst=day_first)
    else:
        parsed = pd.to_datetime(s, utc=True)
    return parsed.dt.tz_convert(None)
