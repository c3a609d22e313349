"""A learning problem as models see it: views of the samples in, a metric to select on; and the folds that
score every candidate on every development sample (cross-validation), or on a holdout."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from autosearch import preprocessing
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
    facts: Mapping[str, Any] = field(default_factory=dict)  # what models are built from (`model_facts`)

    def fitting_on(self, rows: Rows) -> Problem:
        """The same problem, fitted on some of its fit samples only (one fold's share of them)."""
        return replace(self, fit_views=_take(self.fit_views, rows), y_fit=self.y_fit[rows])

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
        return {"task": self.task.value, "imbalanced": self.imbalanced,
                "high_cardinality": bool(self.facts.get("category_sizes")),
                "numeric_columns": bool(self.facts.get("numeric_bins"))}

    def score(self, output: np.ndarray) -> float:
        """The selection metric of a model's output on the score samples."""
        return self.metric(self.truth, self.codec.scores(output), self.task)


def model_facts(preprocessor) -> dict[str, Any]:
    """What a fitted preprocessor tells the model builders beyond the views' shapes: a text vocabulary's
    size, a table's numeric columns and their bin edges (`models.build_model`)."""
    return dict(getattr(preprocessor, "model_facts_", {}))


def build_preprocessor(profile: Profile):
    """The unfitted preprocessor of the profile's kind of data (the class data/kinds.py names for it)."""
    return getattr(preprocessing, KINDS[profile.kind].preprocessor).from_profile(profile)


def make_problem(fit: Dataset, score: Dataset, profile: Profile, codec: TargetCodec, metric: Metric,
                 seed: int) -> tuple[Problem, Any]:
    """Fit the preprocessing on `fit` only and build the problem; also return the fitted preprocessor."""
    preprocessor = build_preprocessor(profile).fit(fit.features)
    problem = Problem(
        task=profile.task, kind=profile.kind, metric=metric, codec=codec,
        fit_views=preprocessor.transform(fit.features), y_fit=codec.encode(fit.target),
        score_views=preprocessor.transform(score.features), y_score=codec.encode(score.target),
        truth=codec.truth(score.target), class_ratio=codec.class_ratio(fit.target), seed=seed,
        facts=model_facts(preprocessor),
    )
    return problem, preprocessor


Rows = np.ndarray  # positions among the development samples


@dataclass(frozen=True, eq=False)
class Folds:
    """The development samples (train+validation), preprocessed once, and the folds that split them.

    Each fold's model trains on the other rows and predicts the fold's own, so k folds' predictions cover
    every development sample once: out-of-fold (OOF) predictions, the score candidates are ranked by. One
    fold is a holdout: the training split against the validation split, as without cross-validation.
    Preprocessing (label-free: imputation, scaling, vocabularies) is fitted on the development samples, as
    for the refit on train+validation: the networks the search trained (fold models, or the holdout's) are
    served as they were scored, on the inputs they trained on.
    """

    views: Views  # every development sample
    y: np.ndarray  # as models train on it
    truth: np.ndarray  # in the scoring space
    splits: tuple[tuple[Rows, Rows], ...]  # (rows to fit, rows to predict) per fold
    first: Problem  # the first fold: what engines read the task, metric and data facts from
    # the first fold's networks stop early on these rows of its own fit rows, (rows to fit, rows to stop on),
    # not on the rows it is scored on (None: on those; see `stopping_fold`)
    stopping: tuple[Rows, Rows] | None = None
    # each development sample's series (a forecast's; None: one group), the blocks whose scores measure the noise
    # between candidates (`ensemble.networks_set_aside`)
    groups: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.splits)

    @property
    def rows(self) -> int:
        return len(self.y)

    def fold(self, i: int) -> Problem:
        """Fold `i` as a Problem: fit on its training rows, score on its own."""
        return self.first if i == 0 else self._fitting(*self.splits[i])

    def stopping_fold(self) -> Problem:
        """The problem the first fold's networks train on, stopping early on its score samples (which also
        choose their epochs in the later folds): the first fold itself, or, with `stopping`, an inner split of
        its fit rows, so that the fold's out-of-fold predictions come from a model that never saw their samples
        in any way. A forecast's windows have one (data/forecast.stopping_split): on its few, overlapping
        backtest windows, the epochs chosen on the first backtest's own windows made networks look better than
        they were there (gasoline: a conv1d's first backtest 0.49 against extra trees' 0.72, its later two on
        a par with them)."""
        return self.first if self.stopping is None else self._fitting(*self.stopping)

    def resplit(self, splits: tuple[tuple[Rows, Rows], ...]) -> Folds:
        """The same samples in other folds (`bagging`: repeated k-fold), without an inner stopping split."""
        return replace(self, splits=tuple(splits), first=self._fitting(*splits[0]), stopping=None)

    def _fitting(self, fit: Rows, score: Rows) -> Problem:
        """The first fold's problem on other rows: fit on `fit`, score on `score`."""
        return replace(self.first, fit_views=_take(self.views, fit), y_fit=self.y[fit],
                       score_views=_take(self.views, score), y_score=self.y[score], truth=self.truth[score])

    def encoded_by(self, codec: TargetCodec, targets: Any) -> Folds:
        """The same folds with the targets (a frame of every development sample's) encoded by `codec`."""
        y = codec.encode(targets)
        fit, score = self.splits[0]
        return replace(self, y=y, first=replace(self.first, codec=codec, y_fit=y[fit], y_score=y[score]))

    def against(self, test: Any, preprocessor: Any) -> Problem:
        """Every development sample against the Dataset `test`, through the `preprocessor` the folds' views
        came from: the refit's problem, without fitting the preprocessing again (on a million rows, seconds)."""
        codec = self.first.codec
        return replace(self.first, fit_views=self.views, y_fit=self.y,
                       score_views=preprocessor.transform(test.features), y_score=codec.encode(test.target),
                       truth=codec.truth(test.target))

    def place(self, oof: np.ndarray | None, i: int, predictions: np.ndarray) -> np.ndarray:
        """Fold `i`'s predictions of its own samples, put in the out-of-fold array (made on the first call;
        NaN where no fold has predicted yet)."""
        if oof is None:
            oof = np.full((self.rows, predictions.shape[1]), np.nan, dtype=np.float32)
        oof[self.splits[i][1]] = predictions
        return oof

    def score(self, oof: np.ndarray) -> float:
        """The selection metric on the samples `oof` covers (all of them, once every fold has predicted)."""
        covered = ~np.isnan(oof).any(axis=1)
        p = self.first
        return p.metric(self.truth[covered], p.codec.scores(oof[covered].astype(np.float64)), p.task)


def _take(views: Views, rows: Rows) -> Views:
    """The views' rows; views that are one array (a table without codes: `table` is `vector`) stay one.

    >>> v = np.arange(6).reshape(3, 2)
    >>> taken = _take({"vector": v, "table": v}, np.array([0, 2]))
    >>> taken["table"] is taken["vector"], taken["vector"].tolist()
    (True, [[0, 1], [4, 5]])
    """
    taken: dict[int, Any] = {}
    for view in views.values():
        if id(view) not in taken:
            taken[id(view)] = view[rows]
    return {name: taken[id(view)] for name, view in views.items()}


def make_folds(dev: Dataset, splits: tuple[tuple[Rows, Rows], ...], profile: Profile,
               codec: TargetCodec, metric: Metric, seed: int, stopping: tuple[Rows, Rows] | None = None,
               groups: np.ndarray | None = None) -> tuple[Folds, Any]:
    """Fit the preprocessing on the development samples `dev` and make their folds (`stopping`: the first
    fold's inner split, `Folds.stopping`; `groups`: their series, `Folds.groups`); also return the fitted
    preprocessor (the one a refit on train+validation fits: the search's networks can be served as trained)."""
    preprocessor = build_preprocessor(profile).fit(dev.features)
    views, y, truth = preprocessor.transform(dev.features), codec.encode(dev.target), codec.truth(dev.target)
    fit, score = splits[0]
    first = Problem(task=profile.task, kind=profile.kind, metric=metric, codec=codec, fit_views=_take(views, fit),
                    y_fit=y[fit], score_views=_take(views, score), y_score=y[score], truth=truth[score],
                    class_ratio=codec.class_ratio(dev.target), seed=seed,
                    facts=model_facts(preprocessor))
    return Folds(views, y, truth, splits, first, stopping, groups), preprocessor
