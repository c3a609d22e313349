"""The target and the task: which column(s) to learn, and whether that is binary, multiclass or multilabel
classification or regression, each with its reason in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from autosearch.data.columns import is_text, nested
from autosearch.data.load import RawData
from autosearch.errors import AutosearchError
from autosearch.tasks import Task

TARGET_NAMES = ("target", "label", "class", "y")
GUESSED = "guessed:"  # how a target reason starts when the target was taken by position: said as a warning
LABEL_SEPARATOR = "|"
MAX_INTEGER_CLASSES = 20  # integer targets with more distinct values are quantities (regression)


def choose_targets(frame: pd.DataFrame, requested: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The target column(s) and why they were chosen."""
    if requested:
        missing = [t for t in requested if t not in frame.columns]
        if missing:
            shown = ", ".join(list(frame.columns)[:12]) + (", …" if frame.shape[1] > 12 else "")
            raise AutosearchError(f"--target '{missing[0]}' is not a column of the data; columns are: {shown}")
        if len(set(requested)) < len(requested):
            raise AutosearchError("--target names a column twice; name each target column once")
        return tuple(requested), "given with --target"
    by_lower = {c.lower(): c for c in frame.columns}
    for name in TARGET_NAMES:
        if name in by_lower:
            return (by_lower[name],), f"no --target given; column '{by_lower[name]}' has a conventional target name"
    if frame.shape[1] < 2:
        raise AutosearchError("the data has a single column; it needs feature columns and a target column")
    last = frame.columns[-1]
    others = [c for c in frame.columns[:-1] if _could_be_target(frame[c])][:5]
    return (last,), (
        f"{GUESSED} no --target given and no column named {'/'.join(TARGET_NAMES)}: using the last column, '{last}'"
        + (f"; columns that could be the target too: {', '.join(map(str, others))}" if others else "")
        + "; pass --target NAME to choose"
    )


def _could_be_target(s: pd.Series) -> bool:
    """A column a user may have meant as the target: a few classes, as text or whole numbers."""
    if nested(s):
        return False
    values = s.dropna()
    if ptypes.is_float_dtype(values) and not (values % 1 == 0).all():
        return False
    return 2 <= values.nunique() <= MAX_INTEGER_CLASSES


def _is_label_set_column(s: pd.Series) -> bool:
    return is_text(s) and s.dropna().astype(str).str.contains(LABEL_SEPARATOR, regex=False).any()


def _is_zero_one(s: pd.Series) -> bool:
    if not (ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s)):
        return False
    return set(s.dropna().unique().tolist()) <= {0, 1}


def shown(values) -> str:
    return ", ".join(f"'{v}'" for v in sorted(map(str, values))[:5])


def infer_task(y: pd.DataFrame) -> tuple[Task, str]:
    """The task a target poses and why, by the rules users expect.

    >>> infer_task(pd.DataFrame({"y": ["yes", "no", "yes"]}))
    (<Task.BINARY: 'binary'>, "2 distinct values ('no', 'yes'): binary classification")
    """
    if y.shape[1] > 1:
        names = ", ".join(y.columns)
        if all(_is_zero_one(y[c]) for c in y.columns):
            return Task.MULTILABEL, f"{y.shape[1]} target columns ({names}), all 0/1: multilabel classification"
        if all(ptypes.is_numeric_dtype(y[c]) for c in y.columns):
            return Task.REGRESSION, f"{y.shape[1]} numeric target columns ({names}): multi-output regression"
        raise AutosearchError(
            f"targets {names} mix text and numbers; give one target, or several that are all 0/1 "
            "(multilabel) or all numeric (regression)"
        )
    s = y.iloc[:, 0]
    distinct = s.dropna().unique()
    n = len(distinct)
    if ptypes.is_bool_dtype(s):
        return Task.BINARY, "boolean values: binary classification"
    if _is_label_set_column(s):
        return Task.MULTILABEL, f"values are '{LABEL_SEPARATOR}'-separated label sets: multilabel classification"
    if n == 2:
        return Task.BINARY, f"2 distinct values ({shown(distinct)}): binary classification"
    if is_text(s):
        if n > 50 and n > 0.5 * s.notna().sum():
            raise AutosearchError(
                f"target '{s.name}' has {n} distinct text values in {s.notna().sum()} rows, too many to learn "
                "as classes; pick another column with --target"
            )
        return Task.MULTICLASS, f"{n} distinct text labels: multiclass classification"
    if (s.dropna() % 1 == 0).all():
        if n <= MAX_INTEGER_CLASSES:
            return Task.MULTICLASS, (
                f"{n} distinct integer values (at most {MAX_INTEGER_CLASSES}): multiclass classification"
            )
        return Task.REGRESSION, (
            f"integers with {n} distinct values (more than {MAX_INTEGER_CLASSES}): regression; "
            "pass --task multiclass to treat them as classes"
        )
    return Task.REGRESSION, f"real numbers with {n} distinct values: regression"


def check_task(task: Task, y: pd.DataFrame) -> None:
    """Refuse a --task the target cannot have."""
    names = ", ".join(y.columns)
    if task is Task.MULTILABEL:
        ok = (y.shape[1] > 1 and all(_is_zero_one(y[c]) for c in y.columns)) or (
            y.shape[1] == 1 and is_text(y.iloc[:, 0]))
        if not ok:
            raise AutosearchError(
                f"--task multilabel needs several 0/1 target columns or one column of "
                f"'{LABEL_SEPARATOR}'-separated label sets; '{names}' is neither"
            )
        return
    if y.shape[1] > 1 and task is not Task.REGRESSION:
        raise AutosearchError(f"--task {task.value} needs a single target column, got {names}; pass one --target")
    if task is Task.REGRESSION:
        text = [c for c in y.columns if not ptypes.is_numeric_dtype(y[c])]
        if text:
            raise AutosearchError(f"--task regression needs numeric targets; '{text[0]}' holds text")
        return
    n = y.iloc[:, 0].nunique()
    if task is Task.BINARY and n != 2:
        raise AutosearchError(
            f"--task binary needs a target with 2 distinct values; '{names}' has {n}; use --task multiclass"
        )


def target_columns(raw: RawData, requested: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """The target frame and why: chosen columns of a table, or the y array of arrays."""
    if raw.is_table:
        chosen, reason = choose_targets(raw.frame, requested)
        return raw.frame[list(chosen)], reason
    if requested:
        raise AutosearchError("--target names a table column; for .npz files and image folders the target "
                              "is y (or the class subfolders): leave --target out")
    if raw.files:
        return target_frame(raw.y, "class"), "the class subfolders"
    return target_frame(raw.y), "the array y"


def target_frame(y: np.ndarray, name: str = "y") -> pd.DataFrame:
    """A target array as a frame: one column `name`, or `y0`, `y1`, … for 2-D targets."""
    y = np.asarray(y)
    if y.ndim == 1:
        return pd.DataFrame({name: y})
    flat = y.reshape(len(y), -1)
    return pd.DataFrame(flat, columns=[f"y{i}" for i in range(flat.shape[1])])


def check_targets(y: pd.DataFrame) -> pd.Series:
    """Rows that have every target; refuse targets that are empty, single-valued or nested."""
    for col in y.columns:
        if nested(y[col]):
            raise AutosearchError(f"target '{col}' holds lists or records (a nested Parquet column); give a column "
                                  "of labels or numbers with --target (a set of labels as text: a|b)")
        if y[col].isna().all():
            raise AutosearchError(f"target '{col}' is empty (all values missing); pick another column with --target")
    keep = y.notna().all(axis=1)
    for col in y.columns:
        if y.loc[keep, col].nunique() < 2:
            raise AutosearchError(
                f"target '{col}' has a single value ('{y.loc[keep, col].iloc[0]}'); a model needs at least two; "
                "pick another column with --target")
    return keep


def task_of(y: pd.DataFrame, task: str) -> tuple[Task, str]:
    inferred, reason = infer_task(y)
    if task == "auto":
        return inferred, reason
    chosen = Task(task)
    check_task(chosen, y)
    if chosen is not inferred:
        return chosen, f"set with --task (autosearch would have inferred {inferred.value}: {reason})"
    return chosen, f"set with --task; agrees with inference: {reason}"
