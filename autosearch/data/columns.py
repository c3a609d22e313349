"""What each feature column is: numeric, categorical, free text or dates; and the columns dropped (constant,
ID-like, nested), each with why."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from autosearch.data.dates import is_date
from autosearch.data.kinds import is_free_text

# an identifier's name; `rownames`: R's row names as its data exports write them (shuffled or subset rows'
# are distinct integers, not consecutive ones)
_ID_NAME = re.compile(r"(^|[_\s-])id$|^id[_\s-]|^index$|^unnamed: ?0$|^row[._\s-]?names?$", re.IGNORECASE)


def feature_roles(X: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...],
                                          tuple[tuple[str, str], ...]]:
    """Numeric, categorical, free-text and date features; constant and ID-like columns dropped, with why."""
    numeric, categorical, text, dates, dropped = [], [], [], [], []
    for col in X.columns:
        s = X[col]
        if not nested(s) and is_free_text(s):
            text.append(col)
        elif not nested(s) and is_date(s) and s.dropna().nunique() > 1:  # distinct dates are no ID
            dates.append(col)
        elif why := _drop_reason(col, s):
            dropped.append((col, why))
        elif ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s):
            numeric.append(col)
        else:
            categorical.append(col)
    return tuple(numeric), tuple(categorical), tuple(text), tuple(dates), tuple(dropped)


def nested(s: pd.Series) -> bool:
    """Whether a column holds lists, arrays or records (Parquet's list and struct columns).

    >>> nested(pd.Series([[1, 2], [3]])), nested(pd.Series([{"a": 1}, None])), nested(pd.Series(["a", "b"]))
    (True, True, False)
    """
    return s.dtype == object and bool(s.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).any())


def _drop_reason(name: str, s: pd.Series) -> str | None:
    if nested(s):
        return "holds lists or records (a nested Parquet column): flatten it into columns to use it"
    values = s.dropna()
    if values.nunique() <= 1:
        return "constant" if len(values) else "all values missing"
    all_distinct = values.nunique() == len(s) and len(s) >= 20
    if not all_distinct:
        return None
    if _ID_NAME.search(name):
        return "ID-like: every value distinct and an identifier's name"
    if ptypes.is_integer_dtype(s):
        ordered = values.sort_values().to_numpy()
        if (ordered[-1] - ordered[0]) == len(ordered) - 1:
            return "ID-like: every value distinct, consecutive integers"
        return None
    if is_text(s):
        return "ID-like: every value distinct text"
    return None


def dropped_lines(dropped: tuple[tuple[str, str], ...], named: int = 3) -> list[str]:
    """One line per dropped column, or per reason where more than `named` columns share it (a wide table
    may have hundreds of constant ones; summary.json lists every one).

    >>> dropped_lines((("a", "constant"), ("b", "constant"), ("c", "constant"), ("d", "constant"), ("id", "ID")))
    ["dropped 4 features: constant ('a', 'b', 'c' and 1 more; summary.json lists them)", "dropped feature 'id': ID"]
    """
    by_reason: dict[str, list[str]] = {}
    for col, why in dropped:
        by_reason.setdefault(why, []).append(col)
    lines = []
    for why, cols in by_reason.items():
        if len(cols) <= named:
            lines += [f"dropped feature '{col}': {why}" for col in cols]
        else:
            shown = ", ".join(f"'{col}'" for col in cols[:named])
            lines.append(f"dropped {len(cols)} features: {why} ({shown} and {len(cols) - named} more; "
                         "summary.json lists them)")
    return lines


def is_text(s: pd.Series) -> bool:
    """Whether a column holds text (neither numbers nor booleans)."""
    return not ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s)
