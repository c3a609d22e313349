"""A learning problem as models see it: matrices in, a metric to select on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer

from autosearch.data.profile import Profile
from autosearch.metrics import SKEW_RATIO, Metric
from autosearch.preprocessing import TargetCodec, build_preprocessor, to_matrix
from autosearch.tasks import Task


@dataclass(frozen=True, eq=False)
class Problem:
    """Rows to fit on and rows to score on, already preprocessed.

    During the search the score rows are the validation split; when the winner is refitted,
    the fit rows are train+validation and the score rows are the test split.
    """

    task: Task
    metric: Metric
    codec: TargetCodec
    x_fit: np.ndarray
    y_fit: np.ndarray  # as models train on it (TargetCodec.encode)
    x_score: np.ndarray
    y_score: np.ndarray  # as models train on it, for the validation loss
    truth: np.ndarray  # in the scoring space (TargetCodec.truth)
    class_ratio: float | None
    seed: int

    @property
    def imbalanced(self) -> bool:
        return self.class_ratio is not None and self.class_ratio < SKEW_RATIO

    @property
    def context(self) -> dict[str, Any]:
        """Data facts that a search space's `when:` conditions may name."""
        return {"task": self.task.value, "imbalanced": self.imbalanced}

    def score(self, output: np.ndarray) -> float:
        """The selection metric of a model's output on the score rows."""
        return self.metric(self.truth, self.codec.scores(output), self.task)


def make_problem(fit_rows: pd.DataFrame, score_rows: pd.DataFrame, profile: Profile, codec: TargetCodec,
                 metric: Metric, seed: int) -> tuple[Problem, ColumnTransformer]:
    """Fit the preprocessing on `fit_rows` only and build the problem; also return the preprocessor."""
    features, targets = list(profile.features), list(profile.targets)
    preprocessor = build_preprocessor(profile).fit(fit_rows[features])
    problem = Problem(
        task=profile.task, metric=metric, codec=codec,
        x_fit=to_matrix(preprocessor, fit_rows[features]), y_fit=codec.encode(fit_rows[targets]),
        x_score=to_matrix(preprocessor, score_rows[features]), y_score=codec.encode(score_rows[targets]),
        truth=codec.truth(score_rows[targets]), class_ratio=codec.class_ratio(fit_rows[targets]), seed=seed,
    )
    return problem, preprocessor
