"""What the data is: which column is the target, which task it poses, what each feature is.

Every decision comes with its reason in words, because the user should see why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from pandas.api import types as ptypes

from autosearch.errors import AutosearchError
from autosearch.tasks import Task

TARGET_NAMES = ("target", "label", "class", "y")
LABEL_SEPARATOR = "|"
MAX_INTEGER_CLASSES = 20  # integer targets with more distinct values are quantities (regression)
_ID_NAME = re.compile(r"(^|[_\s-])id$|^id[_\s-]|^index$|^unnamed: ?0$", re.IGNORECASE)


@dataclass(frozen=True)
class Profile:
    """The facts `fit` acts on, each with its reason."""

    targets: tuple[str, ...]
    target_reason: str
    task: Task
    task_reason: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dropped: tuple[tuple[str, str], ...]  # (column, why)
    n_rows: int
    n_columns: int
    kind: str = "tabular"

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "rows": self.n_rows, "columns": self.n_columns,
            "targets": list(self.targets), "target_reason": self.target_reason,
            "task": self.task.value, "task_reason": self.task_reason,
            "numeric": list(self.numeric), "categorical": list(self.categorical),
            "dropped": dict(self.dropped),
        }


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
    return (last,), (
        f"no --target given and no column named {'/'.join(TARGET_NAMES)}: using the last column, '{last}'"
    )


def _is_label_set_column(s: pd.Series) -> bool:
    return _is_text(s) and s.dropna().astype(str).str.contains(LABEL_SEPARATOR, regex=False).any()


def _is_text(s: pd.Series) -> bool:
    return not ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s)


def _is_zero_one(s: pd.Series) -> bool:
    if not (ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s)):
        return False
    return set(s.dropna().unique().tolist()) <= {0, 1}


def _shown(values) -> str:
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
        return Task.BINARY, f"2 distinct values ({_shown(distinct)}): binary classification"
    if _is_text(s):
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
            y.shape[1] == 1 and _is_text(y.iloc[:, 0]))
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


def feature_roles(X: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Split features into numeric and categorical; drop constant and ID-like columns, with why."""
    numeric, categorical, dropped = [], [], []
    for col in X.columns:
        s = X[col]
        why = _drop_reason(col, s)
        if why:
            dropped.append((col, why))
        elif ptypes.is_numeric_dtype(s) and not ptypes.is_bool_dtype(s):
            numeric.append(col)
        else:
            categorical.append(col)
    return tuple(numeric), tuple(categorical), tuple(dropped)


def _drop_reason(name: str, s: pd.Series) -> str | None:
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
    if _is_text(s):
        return "ID-like: every value distinct text"
    return None


def profile(frame: pd.DataFrame, targets: tuple[str, ...],
            task: str = "auto") -> tuple[Profile, pd.DataFrame, list[str]]:
    """Profile `frame`; return the profile, the rows with a target, and messages for the user."""
    messages: list[str] = []
    chosen, target_reason = choose_targets(frame, targets)
    y = frame[list(chosen)]
    for col in chosen:
        if y[col].isna().all():
            raise AutosearchError(f"target '{col}' is empty (all values missing); pick another column with --target")
    keep = y.notna().all(axis=1)
    if not keep.all():
        messages.append(f"dropped {int((~keep).sum())} rows with a missing target ({int(keep.sum())} remain)")
        frame = frame[keep].reset_index(drop=True)
        y = frame[list(chosen)]
    for col in chosen:
        if y[col].nunique() < 2:
            raise AutosearchError(
                f"target '{col}' has a single value ('{y[col].iloc[0]}'); a model needs at least two; "
                "pick another column with --target"
            )
    inferred, task_reason = infer_task(y)
    chosen_task = inferred
    if task != "auto":
        chosen_task = Task(task)
        check_task(chosen_task, y)
        if chosen_task is not inferred:
            task_reason = f"set with --task (autosearch would have inferred {inferred.value}: {task_reason})"
        else:
            task_reason = f"set with --task; agrees with inference: {task_reason}"
    numeric, categorical, dropped = feature_roles(frame.drop(columns=list(chosen)))
    for col, why in dropped:
        messages.append(f"dropped feature '{col}': {why}")
    if not numeric and not categorical:
        raise AutosearchError("no usable feature columns remain besides the target; add feature columns")
    result = Profile(
        targets=chosen, target_reason=target_reason, task=chosen_task, task_reason=task_reason,
        numeric=numeric, categorical=categorical, dropped=dropped,
        n_rows=len(frame), n_columns=frame.shape[1],
    )
    return result, frame, messages
