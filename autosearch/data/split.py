"""Train / validation / test split: seeded, stratified for classification; in time order for a time-ordered
table (data/time_order.py): the test split is its latest samples, validation the latest before them, and
folds, where asked (--cv-folds), chain forward (each trains on the past of the samples it scores); by group
with --groups: the samples of one group (a person, a patient) on one side of every split and fold."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from autosearch.data.dataset import Dataset
from autosearch.data.profile import Profile
from autosearch.data.time_order import order_values
from autosearch.errors import AutosearchError

TEST_FRACTION = 0.2
VAL_FRACTION = 0.2  # of what remains after the test split
MIN_ROWS = 20
MIN_GROUPS = 3  # train, validation, and test unless given: each holds whole groups, one at least


@dataclass(frozen=True, eq=False)
class Split:
    """Samples for each role. The test samples are scored once, at the end."""

    train: Dataset
    val: Dataset
    test: Dataset
    stratified: bool
    test_given: bool  # the test split came from --test or the .npz's X_test


def _two_way(data: Dataset, fraction: float, seed: int, stratify: bool) -> tuple[Dataset, Dataset, bool]:
    if data.groups is not None:
        return _whole_groups(data, fraction, seed, stratify)
    rows = np.arange(len(data))
    if stratify:
        try:
            first, second = train_test_split(rows, test_size=fraction, random_state=seed,
                                             stratify=data.target.iloc[:, 0])
            return data.take(first), data.take(second), True
        except ValueError:
            pass  # some class too rare to appear on both sides: fall back to a plain shuffle
    first, second = train_test_split(rows, test_size=fraction, random_state=seed)
    return data.take(first), data.take(second), False


def _whole_groups(data: Dataset, fraction: float, seed: int, stratify: bool) -> tuple[Dataset, Dataset, bool]:
    """Whole groups (--groups) on each side, about `fraction` of them on the second: for classes, one fold of
    scikit-learn's StratifiedGroupKFold, whose class mix is as near the whole's as whole groups allow (a split
    with no sample of a rare class would leave its metric undefined); else GroupShuffleSplit."""
    rows, groups = np.arange(len(data)), data.groups
    parts = round(1 / fraction)
    if stratify and data.group_count >= parts:
        labels = data.target.iloc[:, 0].to_numpy()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The least populated class", UserWarning)
            first, second = next(StratifiedGroupKFold(parts, shuffle=True, random_state=seed).split(rows, labels,
                                                                                                     groups))
    else:
        first, second = next(GroupShuffleSplit(1, test_size=fraction, random_state=seed).split(rows, groups=groups))
    return data.take(first), data.take(second), False


def times(data: Dataset, profile: Profile) -> np.ndarray | None:
    """The samples' times as numbers that order them (missing ones first), for a time-ordered table."""
    if profile.time is None:
        return None
    return np.nan_to_num(order_values(data.features[profile.time]), nan=-np.inf)


def _later(ordered: np.ndarray, fraction: float) -> int:
    """Where the latest `fraction` of the sorted times `ordered` begins, at a change of time: samples of the
    same time (several series' same step) stay on one side."""
    n = len(ordered)
    at = ordered[n - max(1, round(n * fraction))]
    cut = int(np.searchsorted(ordered, at, "left")) or int(np.searchsorted(ordered, at, "right"))
    if cut >= n:
        raise AutosearchError("the time column has too few distinct times to split the samples in time order; "
                              "pass --no-time to shuffle them")
    return cut


def _when(value: float, profile: Profile) -> str:
    if profile.time in profile.dates and np.isfinite(value):
        return str(pd.Timestamp(int(value)))
    return f"{value:g}"


def _split_in_time(data: Dataset, profile: Profile, test: Dataset | None) -> tuple[Split, list[str]]:
    """The latest samples are the test split (unless given) and the latest before them the validation split."""
    t = times(data, profile)
    order = np.argsort(t, kind="stable")
    ordered = t[order]
    rest = len(order) if test is not None else _later(ordered, TEST_FRACTION)
    val = _later(ordered[:rest], VAL_FRACTION)
    split = Split(data.take(order[:val]), data.take(order[val:rest]),
                  test if test is not None else data.take(order[rest:]), stratified=False,
                  test_given=test is not None)
    ends = f"(up to {_when(ordered[val - 1], profile)})"
    starts = "" if test is not None else f" (from {_when(ordered[rest], profile)})"
    notes = [f"split in time order: {len(split.train)} train {ends} / {len(split.val)} validation / "
             f"{len(split.test)} test samples{starts}"]
    first = times(test, profile).min() if test is not None and len(test) else np.inf
    if first <= ordered[-1]:
        notes.append(f"the --test samples begin at {_when(first, profile)}, before the data ends "
                     f"({_when(ordered[-1], profile)}): models learnt from samples later than some they are tested "
                     "on; give test samples from after the data")
    return split, notes


def split_data(data: Dataset, profile: Profile, seed: int, test: Dataset | None = None) -> tuple[Split, list[str]]:
    """Split `data` three ways (two when test samples are given)."""
    if len(data) < MIN_ROWS:
        raise AutosearchError(f"only {len(data)} samples have a target; autosearch needs at least {MIN_ROWS}")
    if profile.time is not None:
        return _split_in_time(data, profile, test)
    stratify = profile.task.single_label
    given = test is not None
    needed = MIN_GROUPS + (not given)
    if data.groups is not None and data.group_count < needed:
        sides = "train and validation" if given else "train, validation and test"
        raise AutosearchError(f"--groups names {data.group_count} groups; autosearch needs at least {needed} "
                              f"({sides} each hold whole groups): name a column with more groups, or leave --groups "
                              "out")
    if test is None:
        rest, test, strat_test = _two_way(data, TEST_FRACTION, seed, stratify)
    else:
        rest, strat_test = data, stratify
    train, val, strat_val = _two_way(rest, VAL_FRACTION, seed, stratify)
    stratified = stratify and strat_test and strat_val
    messages = []
    if data.groups is not None:
        messages.append(f"split by group: {train.group_count} groups train / {val.group_count} validation / "
                        + ("the --test samples" if given else f"{test.group_count} test")
                        + (", classes balanced as whole groups allow" if stratify else ""))
        stratify = stratified = False
    if stratify and not stratified:
        messages.append("some classes are too rare to stratify the split; samples were shuffled instead")
    messages.append(f"split: {len(train)} train / {len(val)} validation / {len(test)} test samples"
                    + (", stratified by class" if stratified else ""))
    return Split(train, val, test, stratified, test_given=given), messages


def fold_rows(dev: Dataset, train_rows: int, k: int | None, seed: int, stratify: bool,
              ordered: np.ndarray | None = None) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], str]:
    """The folds of the development samples `dev` (the training split's `train_rows` first, then the
    validation split's): k seeded folds, stratified by class where every class allows it; or, for `k` None,
    the holdout (training split against validation split). Also a message saying which it is. `ordered`:
    the samples' times, in order (a time-ordered table): k forward-chaining folds instead."""
    rows = np.arange(len(dev))
    if k is None:
        fit, score = rows[:train_rows], rows[train_rows:]
        later = ", the latest before the test split" if ordered is not None else ""
        return ((fit, score),), f"validation: a holdout of {len(score)} samples (the validation split{later})"
    if k > len(dev):
        raise AutosearchError(f"--cv-folds {k} asks for more folds than the {len(dev)} training and validation "
                              "samples; give fewer folds")
    if ordered is not None:
        return _forward_chaining(ordered, k)
    if dev.groups is not None:
        return _group_folds(dev, k, seed, stratify)
    labels = dev.target.iloc[:, 0].to_numpy()
    least = np.unique(labels, return_counts=True)[1].min() if stratify else 0
    # stratified where every class has 2 samples or more: a class with fewer samples than folds is in as many
    # folds' own samples as it has samples, so every fold trains on it (scikit-learn warns of it: said here)
    stratified = stratify and least >= 2
    splitter = StratifiedKFold(k, shuffle=True, random_state=seed) if stratified else KFold(k, shuffle=True,
                                                                                          random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        folds = tuple(splitter.split(rows, labels))
    how = ", stratified by class" if stratified else ""
    if stratified and least < k:
        how += f" (a class of {least} samples is in {least} of the folds)"
    return folds, (f"validation: {k}-fold cross-validation on the {len(dev)} training and validation "
                         f"samples{how}: every candidate is scored on predictions for samples it did not see")


def _group_folds(dev: Dataset, k: int, seed: int, stratify: bool
                 ) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], str]:
    """k folds of whole groups (--groups), of about equal size, stratified by class where the groups allow it
    (scikit-learn's StratifiedGroupKFold: each fold's class mix as near the whole's as whole groups make it)."""
    n = dev.group_count
    if k > n:
        raise AutosearchError(f"--cv-folds {k} asks for more folds than the {n} groups of the training and "
                              "validation samples (--groups); give fewer folds")
    rows, labels = np.arange(len(dev)), dev.target.iloc[:, 0].to_numpy()
    splitter = StratifiedGroupKFold(k, shuffle=True, random_state=seed) if stratify else \
        GroupKFold(k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        folds = tuple(splitter.split(rows, labels, groups=dev.groups))
    how = ", stratified by class as whole groups allow" if stratify else ""
    return folds, (f"validation: {k}-fold cross-validation by group on the {len(dev)} training and validation "
                   f"samples ({n} groups){how}: every candidate is scored on groups it did not see")


def _forward_chaining(ordered: np.ndarray, k: int) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], str]:
    """k expanding-window folds over the sorted times `ordered` (scikit-learn's TimeSeriesSplit over the
    distinct times, so a time's samples stay together): fold i trains on every sample before its own stretch
    and scores that stretch; the earliest stretch is never scored.

    >>> folds, _ = _forward_chaining(np.repeat(np.arange(6.0), 2), 2)
    >>> [(fit.tolist(), score.tolist()) for fit, score in folds]
    [([0, 1, 2, 3], [4, 5, 6, 7]), ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11])]
    """
    distinct, starts = np.unique(ordered, return_index=True)
    if k >= len(distinct):
        raise AutosearchError(f"--cv-folds {k} asks for more folds than the {len(distinct)} distinct times of "
                              "the training and validation samples; give fewer folds or --holdout")
    ends = np.append(starts[1:], len(ordered))
    rows = np.arange(len(ordered))
    folds = tuple((rows[:starts[own[0]]], rows[starts[own[0]]:ends[own[-1]]])
                  for _, own in TimeSeriesSplit(k).split(distinct))
    scored = len(ordered) - len(folds[0][0])
    return folds, (f"validation: {k} forward-chaining folds in time order: each fold trains on the samples before "
                   f"its own, and every candidate is scored on the latest {scored} of the {len(ordered)} training "
                   "and validation samples")
