"""Samples with their targets, whatever the kind of data."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features (a frame for tables and text, an array for images and sequences) and a target frame; with
    `--groups`, each sample's group (an integer code), which no split divides."""

    features: pd.DataFrame | np.ndarray
    target: pd.DataFrame
    groups: np.ndarray | None = field(default=None, kw_only=True)  # keyword only: subclasses add fields

    def __len__(self) -> int:
        return len(self.target)

    @property
    def group_count(self) -> int | None:
        """How many groups its samples fall in (--groups), None without groups."""
        return None if self.groups is None else len(np.unique(self.groups))

    def take(self, rows: np.ndarray) -> Dataset:
        features = (self.features.iloc[rows].reset_index(drop=True) if isinstance(self.features, pd.DataFrame)
                    else self.features[rows])
        return Dataset(features, self.target.iloc[rows].reset_index(drop=True),
                       groups=None if self.groups is None else self.groups[rows])

    def __add__(self, other: Dataset) -> Dataset:
        if isinstance(self.features, pd.DataFrame):
            features = pd.concat([self.features, other.features], ignore_index=True)
        else:
            features = np.concatenate([self.features, other.features])
        groups = None if self.groups is None or other.groups is None else np.concatenate([self.groups, other.groups])
        return Dataset(features, pd.concat([self.target, other.target], ignore_index=True), groups=groups)
