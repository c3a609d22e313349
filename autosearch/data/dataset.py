"""Samples with their targets, whatever the kind of data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features (a frame for tables and text, an array for images and sequences) and a target frame."""

    features: pd.DataFrame | np.ndarray
    target: pd.DataFrame

    def __len__(self) -> int:
        return len(self.target)

    def take(self, rows: np.ndarray) -> Dataset:
        features = (self.features.iloc[rows].reset_index(drop=True) if isinstance(self.features, pd.DataFrame)
                    else self.features[rows])
        return Dataset(features, self.target.iloc[rows].reset_index(drop=True))

    def __add__(self, other: Dataset) -> Dataset:
        if isinstance(self.features, pd.DataFrame):
            features = pd.concat([self.features, other.features], ignore_index=True)
        else:
            features = np.concatenate([self.features, other.features])
        return Dataset(features, pd.concat([self.target, other.target], ignore_index=True))
