"""What the data is: the `Profile` of a dataset (its target and task, `data/target.py`; its kind, `data/kinds.py`;
what each feature column is, `data/columns.py`; which classes are too rare to learn), and the features shaped
as its models take them, the same at fit and at predict (`shape_features`).

Every decision comes with its reason in words, because the user should see why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from autosearch.data.columns import dropped_lines, feature_roles, nested
from autosearch.data.dataset import Dataset
from autosearch.data.dates import is_date
from autosearch.data.forecast import ForecastSpec, forecast_spec, make_windows
from autosearch.data.kinds import (
    KINDS,
    DataKind,
    array_kind,
    as_sequence_array,
    table_kind,
)
from autosearch.data.load import MISSING_MARKS, RawData
from autosearch.data.target import GUESSED, check_targets, choose_targets, target_columns, target_frame, task_of
from autosearch.data.time_order import time_column
from autosearch.errors import AutosearchError
from autosearch.tasks import Task

MIN_CLASS_ROWS = 2  # a class seen once can be neither learnt and scored: its sample is dropped, …
MAX_RARE_SHARE = 0.1  # … unless such samples are more than this share of them (mostly one-off values)
FEW_CLASS_ROWS = 10  # a class with fewer samples than this is kept, with a note: its scores are uncertain


@dataclass(frozen=True)
class Profile:
    """The facts `fit` acts on, each with its reason; enough to shape new data the same way (predict)."""

    targets: tuple[str, ...]
    target_reason: str
    task: Task
    task_reason: str
    kind: DataKind
    kind_reason: str
    n_rows: int
    n_columns: int
    numeric: tuple[str, ...] = ()  # tables: feature columns by role
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()  # read as numbers by preprocessing._date_parts
    time: str | None = None  # the feature column that orders the rows in time (data/time_order.py)
    time_reason: str = ""
    rare_classes: tuple = ()  # classes dropped as too rare to learn (common_classes); test rows of them too
    dropped: tuple[tuple[str, str], ...] = ()  # (column, why)
    columns: tuple[str, ...] = ()  # tables: the feature columns in the data's order, dropped ones too
    missing: tuple[tuple[str, int], ...] = ()  # tables: (column, missing values) where any are missing
    sample_shape: tuple[int, ...] = ()  # arrays: one sample's shape as models see it
    image_size: tuple[int, int] | None = None  # image folders: what every image is resized to
    color_mode: str | None = None
    forecast: ForecastSpec | None = None  # --task forecast: the series, horizon and windows (data/forecast.py)
    groups: str | None = None  # --groups: the column whose rows no split divides (not a feature)

    @property
    def task_name(self) -> str:
        """The task as the user asked it: a forecast is learnt as a regression of the next H steps."""
        return "forecast" if self.forecast is not None else self.task.value

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical + self.text + self.dates

    @property
    def target_guessed(self) -> bool:
        """Whether the target was taken by position, with nothing to say it is the target."""
        return self.target_reason.startswith(GUESSED)

    def as_dict(self) -> dict:
        """JSON-ready: tuples as lists, enums as their values."""
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        data.update(task=self.task.value, kind=self.kind.value, dropped=dict(self.dropped), missing=dict(self.missing),
                    forecast=self.forecast.as_dict() if self.forecast else None)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Profile:
        tuples = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        tuples.update(task=Task(data["task"]), kind=DataKind(data["kind"]),
                      dropped=tuple(data.get("dropped", {}).items()),
                      missing=tuple(data.get("missing", {}).items()),
                      forecast=ForecastSpec.from_dict(data["forecast"]) if data.get("forecast") else None)
        return cls(**tuples)


def _table_kind(features: pd.DataFrame, text: tuple[str, ...], kind: str) -> tuple[DataKind, str]:
    if kind == "auto":
        return table_kind(features, list(text))
    chosen = DataKind(kind)
    if chosen is DataKind.IMAGE:
        raise AutosearchError("--kind image needs an .npz file of image arrays or a folder of images, not a table")
    if chosen is DataKind.SEQUENCE and not all(ptypes.is_numeric_dtype(features[c]) for c in features.columns):
        raise AutosearchError("--kind sequence needs numeric feature columns (one series per row, in column "
                              "order); this table has text columns")
    if chosen is DataKind.TEXT and not any(not ptypes.is_numeric_dtype(features[c]) for c in features.columns):
        raise AutosearchError("--kind text needs a column of text; this table's features are all numeric")
    return chosen, "set with --kind"


def _array_kind(raw: RawData, kind: str) -> tuple[DataKind, str]:
    X = raw.X
    if raw.files:
        if kind not in ("auto", "image"):
            raise AutosearchError(f"--kind {kind} does not fit a folder of images; leave --kind out")
        return DataKind.IMAGE, f"a folder of images in class subfolders, read at {raw.image_size[0]}×" \
                               f"{raw.image_size[1]} ({raw.color_mode})"
    if X.ndim == 1 and X.dtype.kind in "UO":
        inferred = (DataKind.TEXT, "X holds one string per sample: documents")
    else:
        padded = X.ndim == 3 and X.dtype.kind == "f" and bool(np.isnan(X).all(axis=-1).any())
        inferred = array_kind(X.shape, padded)
    if kind == "auto":
        return inferred
    chosen = DataKind(kind)
    if X.ndim not in KINDS[chosen].array_ndims:
        raise AutosearchError(f"--kind {kind} does not fit X of shape {X.shape}; it was inferred as "
                              f"{inferred[0].value}: {inferred[1]}")
    return chosen, f"set with --kind (inferred: {inferred[0].value})"


def shape_features(raw: RawData, prof: Profile, test: bool = False) -> pd.DataFrame | np.ndarray:
    """The features of `raw` in the form models of this profile take (the same at fit and predict)."""
    if raw.is_table:
        frame = raw.frame
        missing = [c for c in prof.features if c not in frame.columns]
        if missing:
            raise AutosearchError(f"the data lacks column(s) the model needs: {', '.join(missing)}; add them")
        frame = _numeric(frame, prof.numeric)
        marked = [c for c in prof.categorical if frame[c].isin(MISSING_MARKS).any()]  # as a file's are read
        frame = frame.assign(**{c: frame[c].mask(frame[c].isin(MISSING_MARKS)) for c in marked})
        if prof.kind is DataKind.SEQUENCE:
            return as_sequence_array(frame[list(prof.numeric)].to_numpy(dtype=np.float32))
        return frame[list(prof.features)]
    X = raw.X_test if test else raw.X
    if prof.kind is DataKind.TEXT:
        return pd.DataFrame({"text": np.asarray(X).astype(str)})
    X = _finite(np.asarray(X, dtype=np.float32))
    if prof.kind is DataKind.TABULAR:
        return pd.DataFrame(X.reshape(len(X), -1), columns=list(prof.numeric))
    X = KINDS[prof.kind].as_array(X)
    if X.shape[1:] != prof.sample_shape:
        raise AutosearchError(f"samples have shape {X.shape[1:]} but the model takes {prof.sample_shape}; "
                              "give data shaped like the training data")
    return X


def _finite(X: np.ndarray) -> np.ndarray:
    """Infinite values as missing (NaN), as tables' are."""
    return np.where(np.isinf(X), np.nan, X).astype(X.dtype) if np.isinf(X).any() else X


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Numeric feature columns as numbers, infinite values as missing; refuses text where a number belongs."""
    for col in columns:
        if not ptypes.is_numeric_dtype(frame[col]):
            parsed = pd.to_numeric(frame[col], errors="coerce")
            bad = frame[col][parsed.isna() & frame[col].notna() & ~frame[col].isin(MISSING_MARKS)]
            if len(bad):
                raise AutosearchError(f"column '{col}' must be numeric but holds '{bad.iloc[0]}'; "
                                      "fix or blank those values")
            frame = frame.assign(**{col: parsed})
        if np.isinf(frame[col].to_numpy(dtype=np.float64, na_value=np.nan)).any():  # ±inf: missing, as said at fit
            frame = frame.assign(**{col: frame[col].replace([np.inf, -np.inf], np.nan)})
    return frame


def profile(raw: RawData, targets: tuple[str, ...] = (), task: str = "auto", kind: str = "auto",
            time: str | None = None, no_time: bool = False, horizon: int | None = None, series: str | None = None,
            backtests: int | None = None, seed: int = 0, groups: str | None = None,
            known: tuple[str, ...] = ()) -> tuple[Profile, Dataset, Dataset | None, list[str]]:
    """Profile `raw`: the profile, the samples that have a target, the .npz's own test samples, messages.
    `time`, `no_time`: --time and --no-time (tables only: which column orders the rows in time); `horizon`,
    `series`, `backtests`, `known`: a forecast's (--task forecast): the samples are then windows (data/forecast.py);
    `groups`: --groups (tables only: the column whose rows stay together on one side of every split)."""
    if task == "forecast":
        return _forecast_profile(raw, targets, time, horizon, series, backtests, seed, known)
    if groups is not None and not raw.is_table:
        raise AutosearchError("--groups names a column of a table; this data is no table: leave --groups out")
    messages: list[str] = list(raw.notes)
    y, target_reason = target_columns(raw, targets)
    keep = check_targets(y)
    if not keep.all():
        messages.append(f"dropped {int((~keep).sum())} rows with a missing target ({int(keep.sum())} remain)")
    y = y[keep].reset_index(drop=True)
    rows = np.flatnonzero(keep.to_numpy())
    inferred, rare = task_of(y, task), []
    if inferred[0] is Task.MULTICLASS:
        common, rare, note = common_classes(y.iloc[:, 0])
        if note:
            messages.append(note)
            y, rows = y[common].reset_index(drop=True), rows[common]
            inferred = task_of(y, task)  # two classes left: binary
    facts = dict(targets=tuple(y.columns), target_reason=target_reason, n_rows=len(y), rare_classes=tuple(rare))
    facts["task"], facts["task_reason"] = inferred
    if raw.is_table:
        frame = raw.frame.iloc[rows].reset_index(drop=True)
        codes = None
        if groups is not None:
            codes, note = group_codes(frame, groups, tuple(y.columns))
            messages.append(note)
            frame = frame.drop(columns=[groups])
        prof = _table_profile(frame.drop(columns=list(y.columns)), kind, facts, messages, time,
                              no_time or groups is not None, groups)
        features = shape_features(RawData(raw.name, frame=frame), prof)
        return prof, Dataset(features, y, groups=codes), None, messages
    if time is not None:
        raise AutosearchError("--time orders the rows of a table; this data is no table: leave --time out")
    prof = _array_profile(raw, kind, facts)
    features = shape_features(RawData(raw.name, X=raw.X[rows]), prof)
    return prof, Dataset(features, y), _array_test(raw, prof, messages), messages


def _forecast_profile(raw: RawData, targets: tuple[str, ...], time: str | None, horizon: int, series: str | None,
                      backtests: int | None, seed: int, known: tuple[str, ...]
                      ) -> tuple[Profile, Dataset, None, list[str]]:
    """A forecast's profile and windows (data/forecast.py)."""
    if not raw.is_table:
        raise AutosearchError("a forecast reads a table of series (a time column, the target, an --id column for "
                              "several); this data is no table")
    frame = raw.frame
    chosen, target_reason = choose_targets(frame, targets)
    if len(chosen) != 1:
        raise AutosearchError("a forecast has one target column; pass one --target")
    target = chosen[0]
    if not ptypes.is_numeric_dtype(frame[target]) and pd.to_numeric(frame[target], errors="coerce").isna().all():
        raise AutosearchError(f"target '{target}' holds no numbers; a forecast needs a numeric target")
    dates = tuple(c for c in frame.columns if c != target and not nested(frame[c]) and is_date(frame[c]))
    spec, reason = forecast_spec(frame, target, time, series, horizon, dates, known)
    windows, notes = make_windows(frame, spec, backtests, seed)
    kind_reason = (f"{len(windows):,} windows of {spec.lookback} steps × {spec.channels} values (the target, "
                   f"{len(spec.covariates)} covariate(s), {len(spec.known)} known ahead, {len(spec.calendar)} "
                   "calendar cycle(s) as sine and cosine)")
    prof = Profile(targets=(target,), target_reason=target_reason, task=Task.REGRESSION, task_reason=reason,
                   kind=DataKind.FORECAST, kind_reason=kind_reason, n_rows=len(frame), n_columns=frame.shape[1],
                   numeric=spec.covariates + spec.known, dates=(spec.time,) if spec.dates else (), time=spec.time,
                   columns=tuple(c for c in frame.columns if c != target),
                   sample_shape=tuple(windows.features.shape[1:]), forecast=spec)
    return prof, windows, None, list(raw.notes) + notes


def common_classes(labels: pd.Series) -> tuple[np.ndarray, list, str | None]:
    """Which samples to keep, and what was dropped and why: a class seen once can be neither learnt and
    scored, so its sample is dropped; where such samples are more than MAX_RARE_SHARE of them, nothing is (a
    target of mostly one-off values is no set of classes to learn). Every class of two samples or more is kept:
    dropping those under 10 (AutoGluon's bar) cost a 189-sample, 7-class table its 6-sample class, whose test
    sample was then wrong by construction. At least two classes always remain. Returns which samples to keep,
    the dropped classes and what to tell the user (the kept classes under FEW_CLASS_ROWS samples too).

    >>> keep, rare, note = common_classes(pd.Series(["a"] * 30 + ["b"] * 30 + ["c"] * 2 + ["d"]))
    >>> int(keep.sum()), rare, note.split(":")[0]
    (62, ['d'], "dropped 1 sample of 1 class seen only once ('d' 1)")
    >>> common_classes(pd.Series([0.1, 0.2, 0.3, 0.4, 0.4]))[1:]  # mostly one-off values: nothing dropped
    ([], None)
    """
    counts = labels.value_counts()
    rare = counts[counts < MIN_CLASS_ROWS]
    if len(counts) - len(rare) < 2 or rare.sum() > MAX_RARE_SHARE * len(labels):
        return np.ones(len(labels), dtype=bool), [], None
    few = counts[(counts >= MIN_CLASS_ROWS) & (counts < FEW_CLASS_ROWS)]
    notes = []
    if not rare.empty:
        samples = "1 sample" if rare.sum() == 1 else f"{int(rare.sum())} samples"
        classes = "1 class" if len(rare) == 1 else f"{len(rare)} classes"
        notes.append(f"dropped {samples} of {classes} seen only once ({_class_counts(rare)}): a class needs a "
                     "sample to learn from and one to score on; add samples of them to keep them")
    if not few.empty:
        notes.append(f"kept {len(few)} class{'es' if len(few) > 1 else ''} with fewer than {FEW_CLASS_ROWS} samples "
                     f"({_class_counts(few)}): learnt and scored, but on few samples")
    return (~labels.isin(rare.index)).to_numpy(), rare.index.tolist(), "; ".join(notes) or None


def _class_counts(counts: pd.Series, named: int = 5) -> str:
    shown = ", ".join(f"'{label}' {count}" for label, count in list(counts.items())[:named])
    return shown + (f" and {len(counts) - named} more" if len(counts) > named else "")


def group_codes(frame: pd.DataFrame, column: str, targets: tuple[str, ...]) -> tuple[np.ndarray, str]:
    """Each row's group as an integer code (a row whose group is missing is a group of its own), and what to say
    of them: the rows of one group (a person, a patient, a store) stay on one side of every split, so that the
    scores say how the pick does on groups it never saw.

    >>> codes, note = group_codes(pd.DataFrame({"who": ["a", "b", "a", None], "y": [1, 2, 3, 4]}), "who", ("y",))
    >>> codes.tolist(), note
    ([0, 1, 0, 2], '--groups who: 3 groups (1 row without one: a group of its own); no split divides a group')
    """
    if column not in frame.columns:
        raise AutosearchError(f"--groups names column '{column}', which the data lacks; name one of its columns")
    if column in targets:
        raise AutosearchError(f"--groups names the target '{column}'; name the column that says which rows belong "
                              "together (a person, a patient, a store)")
    codes, _ = pd.factorize(frame[column])
    alone = codes < 0
    lone = int(alone.sum())
    codes[alone] = codes.max() + 1 + np.arange(lone)
    without = f" ({lone} row{'s' * (lone != 1)} without one: a group of its own)" if lone else ""
    return codes, f"--groups {column}: {codes.max() + 1} groups{without}; no split divides a group"


def _table_profile(features: pd.DataFrame, kind: str, facts: dict, messages: list[str], time: str | None = None,
                   no_time: bool = False, groups: str | None = None) -> Profile:
    numeric, categorical, text, dates, dropped = feature_roles(features)
    if time is not None and time in dict(dropped):  # a step number is "ID-like": it orders the rows here
        dropped = tuple((c, why) for c, why in dropped if c != time)
        numeric += (time,) if ptypes.is_numeric_dtype(features[time]) else ()
    messages += dropped_lines(dropped)
    for col in numeric:
        infinite = int(np.isinf(pd.to_numeric(features[col], errors="coerce").to_numpy(dtype=np.float64,
                                                                                      na_value=np.nan)).sum())
        if infinite:
            messages.append(f"column '{col}' holds {infinite} infinite values: they are treated as missing")
    if not numeric + categorical + text + dates:
        raise AutosearchError("no usable feature columns remain besides the target; add feature columns")
    data_kind, kind_reason = _table_kind(features[list(numeric + categorical + text or dates)], text, kind)
    if data_kind is DataKind.SEQUENCE and dates:  # one series per row: a date beside it is no step of it
        beside = tuple((col, "a date beside one series per row") for col in dates)
        messages += dropped_lines(beside)
        dropped, dates = dropped + beside, ()
    if data_kind is DataKind.TEXT:
        if numeric:
            messages.append(f"--kind text: numeric column(s) {', '.join(numeric)} are not used")
        numeric, text, categorical, dates = (), text + categorical + dates, (), ()  # all but numbers read as text
    messages += [f"column '{col}' read as dates: its year, month, day, weekday, hour and days since 1970 as "
                 "numbers" for col in dates]
    if data_kind is DataKind.TABULAR:
        time, time_reason = time_column(features, dates, time, no_time)
    elif time is not None:
        raise AutosearchError(f"--time orders a table's rows; this table was read as {data_kind.value} data: "
                              "leave --time out")
    else:
        time, time_reason = None, ""
    if time_reason:
        messages.append(time_reason)
    return Profile(**facts, kind=data_kind, kind_reason=kind_reason, n_columns=features.shape[1] + len(
        facts["targets"]), numeric=numeric, categorical=categorical, text=text, dates=dates,
        time=time, time_reason=time_reason, dropped=dropped, groups=groups,
        columns=tuple(features.columns), missing=tuple((str(c), int(n)) for c, n in features.isna().sum().items() if n),
        sample_shape=(len(numeric), 1) if data_kind is DataKind.SEQUENCE else ())


def _array_profile(raw: RawData, kind: str, facts: dict) -> Profile:
    data_kind, kind_reason = _array_kind(raw, kind)
    width = int(np.prod(raw.X.shape[1:]))
    shaped = KINDS[data_kind].as_array
    return Profile(**facts, kind=data_kind, kind_reason=kind_reason, n_columns=width,
                   numeric=tuple(f"x{i}" for i in range(width)) if data_kind is DataKind.TABULAR else (),
                   text=("text",) if data_kind is DataKind.TEXT else (),
                   sample_shape=tuple(shaped(raw.X[:1]).shape[1:]) if shaped else (),
                   image_size=raw.image_size, color_mode=raw.color_mode)


def rare_rows(target: pd.DataFrame, prof: Profile, messages: list[str]) -> np.ndarray:
    """Test samples of the classes dropped from training as too rare (`common_classes`): no model can predict
    them, and keeping them would give the codec a class the task no longer has."""
    if not prof.rare_classes:
        return np.zeros(len(target), dtype=bool)
    rare = target.iloc[:, 0].isin(prof.rare_classes).to_numpy()
    if rare.any():
        messages.append(f"dropped {int(rare.sum())} test samples of the classes too rare to learn")
    return rare


def _array_test(raw: RawData, prof: Profile, messages: list[str]) -> Dataset | None:
    """The .npz's own test split (X_test, y_test), if it has one."""
    if raw.X_test is None:
        return None
    y_test = target_frame(raw.y_test)
    if list(y_test.columns) != list(prof.targets):
        raise AutosearchError("y_test has a different shape from y; give targets of the same shape")
    test = Dataset(shape_features(raw, prof, test=True), y_test)
    labelled = y_test.notna().all(axis=1).to_numpy()
    if len(labelled) > labelled.sum():
        messages.append(f"dropped {len(test) - int(labelled.sum())} test samples with a missing target")
    keep = np.flatnonzero(labelled & ~rare_rows(y_test, prof, messages))
    messages.append(f"X_test/y_test ({len(keep)} samples) are the test split")
    return test.take(keep)
