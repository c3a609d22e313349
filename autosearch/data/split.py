"""Train / validation / test split: seeded, stratified for classification."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from autosearch.data.profile import Profile
from autosearch.errors import AutosearchError

TEST_FRACTION = 0.2
VAL_FRACTION = 0.2  # of what remains after the test split
MIN_ROWS = 20


@dataclass(frozen=True)
class Split:
    """Rows (features and targets together) for each role. The test rows are scored once, at the end."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    stratified: bool
    test_from_file: bool


def _two_way(frame: pd.DataFrame, fraction: float, seed: int, labels: pd.Series | None):
    if labels is not None:
        try:
            return (*train_test_split(frame, test_size=fraction, random_state=seed, stratify=labels), True)
        except ValueError:
            pass  # some class too rare to appear on both sides: fall back to a plain shuffle
    return (*train_test_split(frame, test_size=fraction, random_state=seed), False)


def split_frame(frame: pd.DataFrame, profile: Profile, seed: int,
                test_frame: pd.DataFrame | None = None) -> tuple[Split, list[str]]:
    """Split `frame` three ways (two when a separate test frame is given)."""
    if len(frame) < MIN_ROWS:
        raise AutosearchError(f"only {len(frame)} rows have a target; autosearch needs at least {MIN_ROWS}")
    stratify = profile.task.single_label
    label = profile.targets[0]
    messages = []
    if test_frame is None:
        rest, test, strat_test = _two_way(frame, TEST_FRACTION, seed, frame[label] if stratify else None)
    else:
        rest, test, strat_test = frame, test_frame, stratify
    train, val, strat_val = _two_way(rest, VAL_FRACTION, seed, rest[label] if stratify else None)
    stratified = stratify and strat_test and strat_val
    if stratify and not stratified:
        messages.append("some classes are too rare to stratify the split; rows were shuffled instead")
    messages.append(
        f"split: {len(train)} train / {len(val)} validation / {len(test)} test rows"
        + (" (test from --test file)" if test_frame is not None else "")
        + (", stratified by class" if stratified else "")
    )
    parts = (df.reset_index(drop=True) for df in (train, val, test))
    return Split(*parts, stratified=stratified, test_from_file=test_frame is not None), messages
