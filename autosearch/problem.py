"""A learning problem as models see it: views of the samples in, a metric to select on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autosearch.data.dataset import Dataset
from autosearch.data.kinds import KINDS, DataKind, KindSpec
from autosearch.data.profile import Profile
from autosearch.metrics import SKEW_RATIO, Metric
from autosearch.preprocessing import Views
from autosearch.targets import TargetCodec
from autosearch.tasks import Task


@dataclass(frozen=True, eq=False)
class Problem:
    """Samples to fit on and samples to score on, already preprocessed into views (preprocessing.py).

    During the search the score samples are the validation split; when the winner is refitted,
    the fit samples are train+validation and the score samples are the test split.
    """

    task: Task
    kind: DataKind
    metric: Metric
    codec: TargetCodec
    fit_views: Views
    y_fit: np.ndarray  # as models train on it (TargetCodec.encode)
    score_views: Views
    y_score: np.ndarray  # as models train on it, for the validation loss
    truth: np.ndarray  # in the scoring space (TargetCodec.truth)
    class_ratio: float | None
    seed: int
    vocabulary_size: int | None = None  # text: the token view's vocabulary

    @property
    def spec(self) -> KindSpec:
        """What its kind of data implies (data/kinds.py)."""
        return KINDS[self.kind]

    @property
    def imbalanced(self) -> bool:
        return self.class_ratio is not None and self.class_ratio < SKEW_RATIO

    @property
    def context(self) -> dict[str, Any]:
        """Data facts that a search space's `when:` conditions may name."""
        return {"task": self.task.value, "imbalanced": self.imbalanced}

    def score(self, output: np.ndarray) -> float:
        """The selection metric of a model's output on the score samples."""
        return self.metric(self.truth, self.codec.scores(output), self.task)


def build_preprocessor(profile: Profile):
    """The unfitted preprocessor of the profile's kind of data (data/kinds.py)."""
    return KINDS[profile.kind].preprocessor(profile)


def make_problem(fit: Dataset, score: Dataset, profile: Profile, codec: TargetCodec, metric: Metric,
                 seed: int) -> tuple[Problem, Any]:
    """Fit the preprocessing on `fit` only and build the problem; also return the fitted preprocessor."""
    preprocessor = build_preprocessor(profile).fit(fit.features)
    problem = Problem(
        task=profile.task, kind=profile.kind, metric=metric, codec=codec,
        fit_views=preprocessor.transform(fit.features), y_fit=codec.encode(fit.target),
        score_views=preprocessor.transform(score.features), y_score=codec.encode(score.target),
        truth=codec.truth(score.target), class_ratio=codec.class_ratio(fit.target), seed=seed,
        vocabulary_size=getattr(preprocessor, "vocabulary_size_", None),
    )
    return problem, preprocessor
