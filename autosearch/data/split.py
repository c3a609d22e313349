"""Train / validation / test split: seeded, stratified for classification."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from autosearch.data.dataset import Dataset
from autosearch.data.profile import Profile
from autosearch.errors import AutosearchError

TEST_FRACTION = 0.2
VAL_FRACTION = 0.2  # of what remains after the test split
MIN_ROWS = 20


@dataclass(frozen=True, eq=False)
class Split:
    """Samples for each role. The test samples are scored once, at the end."""

    train: Dataset
    val: Dataset
    test: Dataset
    stratified: bool
    test_given: bool  # the test split came from --test or the .npz's X_test


def _two_way(data: Dataset, fraction: float, seed: int, stratify: bool) -> tuple[Dataset, Dataset, bool]:
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


def split_data(data: Dataset, profile: Profile, seed: int, test: Dataset | None = None) -> tuple[Split, list[str]]:
    """Split `data` three ways (two when test samples are given)."""
    if len(data) < MIN_ROWS:
        raise AutosearchError(f"only {len(data)} samples have a target; autosearch needs at least {MIN_ROWS}")
    stratify = profile.task.single_label
    given = test is not None
    if test is None:
        rest, test, strat_test = _two_way(data, TEST_FRACTION, seed, stratify)
    else:
        rest, strat_test = data, stratify
    train, val, strat_val = _two_way(rest, VAL_FRACTION, seed, stratify)
    stratified = stratify and strat_test and strat_val
    messages = []
    if stratify and not stratified:
        messages.append("some classes are too rare to stratify the split; samples were shuffled instead")
    messages.append(f"split: {len(train)} train / {len(val)} validation / {len(test)} test samples"
                    + (", stratified by class" if stratified else ""))
    return Split(train, val, test, stratified, test_given=given), messages


def fold_rows(dev: Dataset, train_rows: int, k: int | None, seed: int, stratify: bool
              ) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], str]:
    """The folds of the development samples `dev` (the training split's `train_rows` first, then the
    validation split's): k seeded folds, stratified by class where every class allows it; or, for `k` None,
    the holdout (training split against validation split). Also a message saying which it is."""
    rows = np.arange(len(dev))
    if k is None:
        fit, score = rows[:train_rows], rows[train_rows:]
        return ((fit, score),), f"validation: a holdout of {len(score)} samples (the validation split)"
    if k > len(dev):
        raise AutosearchError(f"--cv-folds {k} asks for more folds than the {len(dev)} training and validation "
                              "samples; give fewer folds")
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
