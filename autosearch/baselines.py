"""The classical candidates every search is ranked against (docs/guide/how-fit-works.md, step 8): a common-sense
dummy, a linear model, an SVM, gradient boosting in three settings, a random forest and extra trees.

Fitted on the same rows and preprocessing as the networks, scored with the same metric. Each is a
`Classical` entry: its name, its family, how its fitting time grows with the rows (the budget plan,
budget.py, extrapolates timed fits on samples with it) and its estimator for the task.
"""

from __future__ import annotations

import inspect
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.linalg import LinAlgWarning
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

from autosearch.errors import describe
from autosearch.problem import Folds, Problem
from autosearch.records import CandidateKind, State, TrialRecord
from autosearch.tasks import Task

SVM_MAX_ROWS = 5000  # a kernel SVM's fit grows with the square of the rows: larger sets fit it on a sample
CALIBRATION_FOLDS = 5  # an SVM's probabilities: Platt scaling on out-of-fold decisions (scikit-learn's default)
TREES = 100  # per forest: 300 (AutoGluon's) took 0.8 s a fit on 120 rows, most of it per-tree overhead
# Histogram boosting's time is mostly a cost per iteration, not per row, until folds are large: timed on small
# samples it looks far dearer a row than it is (diamonds, 26 features, the deep setting: 0.44 s on 500 rows, 1.71 s
# on 2,000, 3.46 s on all 34,521; estimated ~20-30 s from the small samples, so it was fitted on 3,354 rows,
# validation RMSE 691 instead of ~520). Up to this many values (rows × features × folds × trees an iteration) it
# is fitted whole, untimed.
BOOSTING_WHOLE_VALUES = 1_000_000
FOREST_LEAF_ROWS = 20_000  # a forest's leaves hold at least rows / this many samples: fully grown trees on
                           # 250,000 rows took GBs (each leaf a node); on smaller sets they grow fully


@dataclass(frozen=True)
class Classical:
    """A classical candidate: `build(task, class_weight, seed, sparse, rows)` makes its estimator for a task
    (multi-output wrapping is added where the estimator needs it); its fitting time grows about as
    rows ** `growth`; one to `keep` is never skipped for time (fitted on a small sample where need be); folds
    of up to `whole_values` values in all (rows × features × folds × trees an iteration: one per class of
    several, label or target) are fitted whole, untimed (budget.py)."""

    name: str
    family: str
    build: Callable[[Task, str | None, int, bool, int], BaseEstimator]
    growth: float = 1.0
    keep: bool = False
    whole_values: int = 0
    multi_output: bool = False  # handles several targets or labels itself
    local: bool = False  # fits each sample alone when predicting (a forecast's statistical models): learns nothing


def _dummy(task, weight, seed, sparse, rows):
    return DummyRegressor(strategy="mean") if task is Task.REGRESSION else DummyClassifier(strategy="prior")


def _linear(task, weight, seed, sparse, rows):
    return Ridge(alpha=1.0) if task is Task.REGRESSION else LogisticRegression(max_iter=2000, class_weight=weight)


def _svm(task, weight, seed, sparse, rows):
    """RBF kernel; linear on a sparse, wide view (text n-grams)."""
    if task is Task.REGRESSION:
        return LinearSVR(random_state=seed) if sparse else SVR(kernel="rbf")
    svm = LinearSVC(class_weight=weight, random_state=seed) if sparse else SVC(kernel="rbf", class_weight=weight,
                                                                              random_state=seed)
    # Platt-scaled probabilities, as SVC(probability=True) gave before scikit-learn 1.9 deprecated it
    return CalibratedClassifierCV(svm, ensemble=False, cv=CALIBRATION_FOLDS)


def _boosting(**settings: Any) -> Callable:
    """scikit-learn's histogram gradient boosting with `settings`."""
    def build(task, weight, seed, sparse, rows):
        if task is Task.REGRESSION:
            return HistGradientBoostingRegressor(random_state=seed, **settings)
        return HistGradientBoostingClassifier(class_weight=weight, random_state=seed, **settings)
    return build


def _forecast(name: str) -> Callable:
    def build(task, weight, seed, sparse, rows):
        from autosearch import local_forecasts, naive
        return {"naive": naive.NaiveForecast, "seasonal_naive": naive.SeasonalNaiveForecast,
                "window_mean": naive.WindowMeanForecast, "ets": local_forecasts.DampedSmoothingForecast,
                "theta": local_forecasts.ThetaForecast}[name]()
    return build


def _forest(regressor: type, classifier: type) -> Callable:
    def build(task, weight, seed, sparse, rows):
        # every core, whatever the rows, so that timing samples fit as the folds do (100 trees, one core vs two:
        # 0.26 s vs 0.30 s on 120 rows, 0.35 vs 0.32 on 500, 0.49 vs 0.36 on 1,000, 13.6 vs 6.9 s on 6,400)
        common = {"n_estimators": TREES, "n_jobs": -1, "random_state": seed,
                  "min_samples_leaf": max(1, round(rows / FOREST_LEAF_ROWS))}
        if task is Task.REGRESSION:
            return regressor(**common)
        return classifier(class_weight=None if weight is None else "balanced_subsample", **common)
    return build


CLASSICAL: dict[str, Classical] = {c.name: c for c in (
    Classical("dummy", "dummy", _dummy, keep=True, multi_output=True),
    Classical("linear", "linear", _linear, keep=True),
    # scikit-learn's defaults: early stopping on an inner validation from 10,000 rows up
    Classical("gradient_boosting", "gradient_boosting", _boosting(), whole_values=BOOSTING_WHOLE_VALUES),
    Classical("random_forest", "random_forest", _forest(RandomForestRegressor, RandomForestClassifier), 1.15,
              multi_output=True),
    Classical("extra_trees", "extra_trees", _forest(ExtraTreesRegressor, ExtraTreesClassifier), 1.15,
              multi_output=True),
    Classical("svm", "svm", _svm, 2.0),
    # a portfolio of boosting settings, as AutoGluon fits several of LightGBM's, each stopping on an inner 10 %
    # validation (300 rounds without it took 7 s on 220 rows): many leaves at a low rate...
    Classical("gradient_boosting_deep", "gradient_boosting",
              _boosting(learning_rate=0.05, max_leaf_nodes=63, min_samples_leaf=10, max_iter=300,
                        early_stopping=True, n_iter_no_change=20), whole_values=BOOSTING_WHOLE_VALUES),
    # ... and strong regularisation: small trees, an L2 penalty, half the features per split
    Classical("gradient_boosting_regularised", "gradient_boosting",
              _boosting(learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=40, l2_regularization=1.0,
                        max_features=0.5, max_iter=200, early_stopping=True, n_iter_no_change=20),
              whole_values=BOOSTING_WHOLE_VALUES),
    # forecasts' yardsticks (naive.py), in the dummy's family: always fitted; unlike the dummy, ensemble members
    *(Classical(name, "dummy", _forecast(name), keep=True, multi_output=True)
      for name in ("seasonal_naive", "naive", "window_mean")),
    # forecasts' statistical models, fitted on each window alone (local_forecasts.py): their time is predicting
    *(Classical(name, name, _forecast(name), multi_output=True, local=True) for name in ("ets", "theta")),
)}


def make_estimator(name: str, task: Task, imbalanced: bool, seed: int, sparse: bool = False,
                   rows: int = 0, layout: tuple[int, ...] = ()) -> BaseEstimator:
    """The classical candidate `name` for the task, to fit on `rows` samples (linear SVMs on a sparse, wide
    view; `layout`: where a forecast window's values sit in the view, for the common-sense forecasts)."""
    candidate = CLASSICAL[name]
    estimator = candidate.build(task, "balanced" if imbalanced else None, seed, sparse, rows)
    if layout and "season" in estimator.get_params():
        estimator.set_params(**dict(zip(("lookback", "season", "horizon"), layout)))
    if candidate.multi_output:
        return estimator
    if task is Task.MULTILABEL:
        return MultiOutputClassifier(estimator)
    if task is Task.REGRESSION and name != "linear":  # one model per target where there are several
        return MultiOutputRegressor(estimator)
    return estimator


def estimator_output(estimator: BaseEstimator, x: np.ndarray, task: Task, n_outputs: int) -> np.ndarray:
    """An estimator's output in the training space: class probabilities over all classes, or values."""
    if task is Task.REGRESSION:
        return np.asarray(estimator.predict(x), dtype=np.float64).reshape(x.shape[0], -1)
    if task is Task.MULTILABEL:
        probas = estimator.predict_proba(x)
        if isinstance(estimator, MultiOutputClassifier):
            classes = [part.classes_ for part in estimator.estimators_]
        else:  # one that handles several labels itself (a forest, the dummy): a list of classes per label
            classes = estimator.classes_
        return np.stack([_positive(p, c) for p, c in zip(probas, classes)], axis=1)
    proba = np.zeros((x.shape[0], n_outputs))
    proba[:, estimator.classes_.astype(int)] = estimator.predict_proba(x)
    return proba


def _positive(proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The probability of label 1 from a per-label classifier (which may have seen one value only)."""
    hits = np.flatnonzero(np.asarray(classes) == 1)
    return proba[:, hits[0]] if len(hits) else np.zeros(len(proba))


def meaningful_params(estimator: BaseEstimator) -> dict[str, Any]:
    """What a baseline is, in a few parameters: its estimator (wrappers included) and the settings that differ
    from scikit-learn's defaults, without the seed — not `get_params`' dozens of defaults, which crowded the
    MLflow runs table with columns such as `estimator__break_ties`.

    >>> meaningful_params(CalibratedClassifierCV(SVC(kernel="rbf", class_weight="balanced", random_state=0)))
    {'model': 'CalibratedClassifierCV(SVC)', 'estimator__class_weight': 'balanced'}
    """
    params: dict[str, Any] = {"model": _model_name(estimator)}

    def walk(est: BaseEstimator, prefix: str) -> None:
        defaults = {k: p.default for k, p in inspect.signature(type(est).__init__).parameters.items()}
        for key, value in est.get_params(deep=False).items():
            if isinstance(value, BaseEstimator):
                walk(value, f"{prefix}{key}__")
            elif key not in ("random_state", "n_jobs") and isinstance(value, (bool, int, float, str, type(None))) \
                    and (key not in defaults or defaults[key] is inspect.Parameter.empty or value != defaults[key]):
                params[prefix + key] = value

    walk(estimator, "")
    return params


def _model_name(estimator: BaseEstimator) -> str:
    inner = [v for v in estimator.get_params(deep=False).values() if isinstance(v, BaseEstimator)]
    name = type(estimator).__name__
    return f"{name}({', '.join(_model_name(i) for i in inner)})" if inner else name


@dataclass(frozen=True)
class Fitting:
    """What fitting a classical candidate needs besides the rows: small, so that it travels to the process
    that fits it (isolation.py)."""

    name: str
    task: Task
    imbalanced: bool
    seed: int
    sparse: bool
    n_outputs: int
    layout: tuple[int, ...] = ()  # a forecast window's (lookback, season, horizon)

    @classmethod
    def of(cls, name: str, problem: Problem) -> Fitting:
        return cls(name, problem.task, problem.imbalanced, problem.seed, problem.spec.sparse, problem.codec.n_outputs,
                   tuple(problem.facts.get("layout", ())))

    def estimator(self, rows: int) -> BaseEstimator:
        return make_estimator(self.name, self.task, self.imbalanced, self.seed, self.sparse, rows, self.layout)

    def target(self, y: np.ndarray) -> np.ndarray:
        """`y` as its estimator takes it: one regression target as a vector where the estimator handles several
        itself (a forest warns on a column)."""
        single = self.task is Task.REGRESSION and y.ndim == 2 and y.shape[1] == 1
        return y[:, 0] if single and CLASSICAL[self.name].multi_output else y


def sample_cap(name: str, sparse: bool) -> int | None:
    """The most rows a candidate is fitted on whatever the budget: a kernel SVM's (a linear one has none)."""
    return SVM_MAX_ROWS if name == "svm" and not sparse else None


def fit_predict(fitting: Fitting, x: Any, y: np.ndarray, x_score: Any, rows: int | None = None
                ) -> tuple[BaseEstimator, np.ndarray, float]:
    """Fit the candidate on `x` (on a seeded sample of `rows` of them, where fewer) and predict `x_score`:
    the fitted estimator, its output (training space) and the seconds fitting and predicting took. Raises
    what the estimator raises."""
    started = time.perf_counter()
    if rows is not None and x.shape[0] > rows:
        chosen = np.random.default_rng(fitting.seed).choice(x.shape[0], rows, replace=False)
        x, y = x[chosen], y[chosen]
    estimator = fitted(fitting.estimator(x.shape[0]), x, fitting.target(y))
    output = estimator_output(estimator, x_score, fitting.task, fitting.n_outputs)
    return estimator, output, time.perf_counter() - started


def fitted(estimator: BaseEstimator, x: Any, y: np.ndarray) -> BaseEstimator:
    """`estimator` fitted; an SVM's calibration on as many folds as its rarest class allows (a class of 2
    samples keeps 1 in a fold's training part: calibrated on the SVM's own training samples, as no fold split
    can hold it on both sides)."""
    if isinstance(estimator, CalibratedClassifierCV) and y.ndim == 1:
        least = int(np.unique(y, return_counts=True)[1].min())
        if least < 2:
            from sklearn.frozen import FrozenEstimator

            svm = estimator.estimator.fit(x, y)
            return CalibratedClassifierCV(FrozenEstimator(svm)).fit(x, y)
        estimator.set_params(cv=min(CALIBRATION_FOLDS, least))
    with warnings.catch_warnings():  # ridge on near-collinear columns (a forecast's lags) solves them; no news
        warnings.simplefilter("ignore", LinAlgWarning)
        return estimator.fit(x, y)


def fold_outputs(fitting: Fitting, x: Any, y: np.ndarray, splits, rows: int | None):
    """Each fold's (index, output on its own rows, seconds), fitting on the others, one fold at a time."""
    for i, (fit, score) in enumerate(splits):
        _, output, seconds = fit_predict(fitting, x[fit], y[fit], x[score], rows)
        yield i, output, seconds


def _record(fitting: Fitting, rows: int | None, fit_rows: int, state: State, score: float | None,
            seconds: float, folds: int = 1, error: str | None = None, note: str | None = None) -> TrialRecord:
    params = meaningful_params(fitting.estimator(min(rows or fit_rows, fit_rows)))
    if rows is not None and rows < fit_rows:
        params["fit_rows"] = rows
    return TrialRecord(name=fitting.name, kind=CandidateKind.BASELINE, family=CLASSICAL[fitting.name].family,
                       params=params, state=state, val_score=score if state is State.COMPLETE else None,
                       fit_seconds=seconds, error=error, folds=folds, note=note)


def fit_baseline(name: str, problem: Problem, rows: int | None = None
                 ) -> tuple[TrialRecord, BaseEstimator | None, np.ndarray | None]:
    """Fit one baseline on the problem's fit rows (a seeded sample of `rows` of them, where fewer) and score
    it on its score rows; its record, and the fitted estimator and its output on the score rows (training
    space) unless it failed."""
    fitting, view = Fitting.of(name, problem), problem.spec.baseline_view
    x = problem.fit_views[view]
    cap = sample_cap(name, fitting.sparse)
    rows = min(rows, cap) if rows is not None and cap is not None else rows or cap
    started = time.perf_counter()
    try:
        estimator, output, seconds = fit_predict(fitting, x, problem.y_fit, problem.score_views[view], rows)
        score = problem.score(output)
        error = None if np.isfinite(score) else "the score is NaN"
    except Exception as e:  # a failing candidate must not end the run
        estimator, output, score, seconds, error = None, None, None, time.perf_counter() - started, describe(e)
    state = State.COMPLETE if error is None else State.FAILED
    record = _record(fitting, rows, x.shape[0], state, score, seconds, error=error)
    return (record, estimator, output) if state is State.COMPLETE else (record, None, None)


class Collector:
    """A classical candidate's folds as they arrive, from this process or another: its out-of-fold
    predictions, seconds, and the record they make."""

    def __init__(self, fitting: Fitting, folds: Folds, rows: int | None):
        self.fitting, self.folds, self.rows = fitting, folds, rows
        self.oof, self.seconds, self.done = None, 0.0, 0

    def add(self, item: tuple[int, np.ndarray, float]) -> None:
        i, output, seconds = item
        self.oof, self.seconds, self.done = self.folds.place(self.oof, i, output), self.seconds + seconds, self.done + 1

    def record(self, error: str | None = None, cut: str | None = None) -> tuple[TrialRecord, np.ndarray | None]:
        """Its record and out-of-fold predictions: complete once every fold is in; failed on `error`; cut short
        (pruned, never used as complete: no predictions) on `cut`."""
        fit_rows = len(self.folds.splits[0][0])
        if error is not None or cut is not None:
            state = State.FAILED if error is not None else State.PRUNED
            note = None if cut is None else f"cut short after {self.done} of {self.folds.k} folds: {cut}"
            return _record(self.fitting, self.rows, fit_rows, state, None, self.seconds, self.done, error,
                           note), None
        score = self.folds.score(self.oof)
        if not np.isfinite(score):
            return _record(self.fitting, self.rows, fit_rows, State.FAILED, None, self.seconds, self.done,
                           "the score is NaN"), None
        return _record(self.fitting, self.rows, fit_rows, State.COMPLETE, score, self.seconds, self.done), self.oof
