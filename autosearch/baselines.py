"""The classical candidates every search is ranked against (SEED_NOTES §4, step 5).

Fitted on the same rows and preprocessing as the networks, scored with the same metric.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor
from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

from autosearch.errors import describe
from autosearch.problem import Folds, Problem
from autosearch.records import State, TrialRecord
from autosearch.tasks import Task

MAX_ROWS = {"svm": 5000, "gradient_boosting": 20000}  # larger sets are fitted on a sample of this many rows


def make_estimator(family: str, task: Task, imbalanced: bool, seed: int, sparse: bool = False) -> BaseEstimator:
    """A small, sensible default of each family for the task (linear SVMs on a sparse, wide view)."""
    weight = "balanced" if imbalanced else None
    if task is Task.REGRESSION:
        return {
            "dummy": lambda: DummyRegressor(strategy="mean"),
            "linear": lambda: Ridge(alpha=1.0),
            "svm": lambda: MultiOutputRegressor(LinearSVR(random_state=seed) if sparse else SVR(kernel="rbf")),
            "gradient_boosting": lambda: MultiOutputRegressor(HistGradientBoostingRegressor(random_state=seed)),
        }[family]()
    svm = LinearSVC(class_weight=weight, random_state=seed) if sparse else SVC(kernel="rbf", class_weight=weight,
                                                                               random_state=seed)
    single = {
        "dummy": lambda: DummyClassifier(strategy="prior"),
        "linear": lambda: LogisticRegression(max_iter=2000, class_weight=weight),
        # Platt-scaled probabilities, as SVC(probability=True) gave before scikit-learn 1.9 deprecated it
        "svm": lambda: CalibratedClassifierCV(svm, ensemble=False),
        "gradient_boosting": lambda: HistGradientBoostingClassifier(class_weight=weight, random_state=seed),
    }[family]()
    if task is Task.MULTILABEL and family != "dummy":
        return MultiOutputClassifier(single)
    return single


def estimator_output(estimator: BaseEstimator, x: np.ndarray, task: Task, n_outputs: int) -> np.ndarray:
    """An estimator's output in the training space: class probabilities over all classes, or values."""
    if task is Task.REGRESSION:
        return np.asarray(estimator.predict(x), dtype=np.float64).reshape(x.shape[0], -1)
    if task is Task.MULTILABEL:
        probas = estimator.predict_proba(x)
        parts = estimator.estimators_ if hasattr(estimator, "estimators_") else None
        classes = [p.classes_ for p in parts] if parts else estimator.classes_
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
            elif key != "random_state" and isinstance(value, (bool, int, float, str, type(None))) \
                    and (key not in defaults or defaults[key] is inspect.Parameter.empty or value != defaults[key]):
                params[prefix + key] = value

    walk(estimator, "")
    return params


def _model_name(estimator: BaseEstimator) -> str:
    inner = [v for v in estimator.get_params(deep=False).values() if isinstance(v, BaseEstimator)]
    name = type(estimator).__name__
    return f"{name}({', '.join(_model_name(i) for i in inner)})" if inner else name


def fit_baseline(family: str, problem: Problem, messages: list[str] | None = None
                 ) -> tuple[TrialRecord, BaseEstimator | None, np.ndarray | None]:
    """Fit one baseline on the problem's fit rows and score it on its score rows; its record, and the fitted
    estimator and its output on the score rows (training space) unless it failed."""
    sparse = problem.spec.sparse
    estimator = make_estimator(family, problem.task, problem.imbalanced, problem.seed, sparse)
    params = meaningful_params(estimator)
    view = problem.spec.baseline_view
    x, y = problem.fit_views[view], problem.y_fit
    cap = MAX_ROWS.get(family) if not (sparse and family == "svm") else None
    if cap and x.shape[0] > cap:
        rows = np.random.default_rng(problem.seed).choice(x.shape[0], cap, replace=False)
        x, y = x[rows], y[rows]
        params["fit_rows"] = cap
        if messages is not None:
            messages.append(f"{family} baseline fitted on a sample of {cap} of {problem.y_fit.shape[0]} samples")
    started = time.perf_counter()
    score, error, output = None, None, None
    try:
        estimator.fit(x, y)
        seconds = time.perf_counter() - started
        output = estimator_output(estimator, problem.score_views[view], problem.task, problem.codec.n_outputs)
        score = problem.score(output)
        if not np.isfinite(score):
            error = "the score is NaN"
    except Exception as e:  # a failing candidate must not end the run
        seconds, error = time.perf_counter() - started, describe(e)
    state = State.COMPLETE if error is None else State.FAILED
    record = TrialRecord(name=family, kind="baseline", family=family, params=params, state=state,
                         val_score=score if state is State.COMPLETE else None, fit_seconds=seconds, error=error)
    return (record, estimator, output) if state is State.COMPLETE else (record, None, None)


def cross_validate(family: str, folds: Folds, messages: list[str] | None = None
                   ) -> tuple[TrialRecord, np.ndarray | None]:
    """A baseline fitted on each fold in turn, predicting the fold's own samples: its record (scored on the
    out-of-fold predictions) and those predictions (None if a fold failed)."""
    oof, seconds = None, 0.0
    for i in range(folds.k):
        record, _, output = fit_baseline(family, folds.fold(i), messages if i == 0 else None)
        seconds += record.fit_seconds
        if record.state is not State.COMPLETE:
            return dataclasses.replace(record, fit_seconds=seconds), None
        oof = folds.place(oof, i, output)
    score = record.val_score if folds.k == 1 else folds.score(oof)
    return dataclasses.replace(record, val_score=score, fit_seconds=seconds, folds=folds.k), oof
