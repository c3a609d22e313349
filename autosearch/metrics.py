"""Selection metrics, computed with scikit-learn the same way for every candidate.

What a metric receives (the "scoring space"):
- binary / multiclass: ``y`` integer class indices (n,), ``out`` class probabilities (n, k);
- multilabel: ``y`` 0/1 matrix (n, L), ``out`` per-label probabilities (n, L);
- regression: ``y`` and ``out`` real values in the target's own units, (n, T).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn import metrics as skm

from autosearch.errors import AutosearchError
from autosearch.tasks import Task

SINGLE = frozenset({Task.BINARY, Task.MULTICLASS})
FORECAST = frozenset()  # forecasts' metrics (FORECAST_METRICS): in the windows' units (data/forecast.py), no task's
FORECAST_METRICS = ("mase", "scaled_rmse")  # chosen by `forecast_metric`
CLASSIFICATION = SINGLE | {Task.MULTILABEL}
REGRESSION = frozenset({Task.REGRESSION})


@dataclass(frozen=True)
class Metric:
    name: str
    greater_is_better: bool
    tasks: frozenset
    fn: Callable[[np.ndarray, np.ndarray, Task], float]

    @property
    def direction(self) -> str:
        """Optuna's word for which way is better."""
        return "maximize" if self.greater_is_better else "minimize"

    @property
    def mode(self) -> str:
        """Keras', keras-tuner's and Ray Tune's word for it."""
        return "max" if self.greater_is_better else "min"

    def best_index(self, scores) -> int:
        """The position of the best of `scores` (NaN never wins; at least one must be finite).

        >>> METRICS["rmse"].best_index([3.0, float("nan"), 2.5, 2.7])
        2
        """
        values = np.asarray(scores, dtype=float)
        return int(np.nanargmax(values) if self.greater_is_better else np.nanargmin(values))

    def __call__(self, y: np.ndarray, out: np.ndarray, task: Task) -> float:
        if not np.all(np.isfinite(out)):
            return float("nan")
        return float(self.fn(y, out, task))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.greater_is_better else a < b


def _labels(out: np.ndarray, task: Task) -> np.ndarray:
    return (out >= 0.5).astype(int) if task is Task.MULTILABEL else out.argmax(axis=1)


def _roc_auc(y, out, task):
    if task is Task.BINARY:
        return skm.roc_auc_score(y, out[:, 1])
    if task is Task.MULTICLASS:
        p = out / out.sum(axis=1, keepdims=True)
        return skm.roc_auc_score(y, p, multi_class="ovr", labels=np.arange(out.shape[1]))
    return skm.roc_auc_score(y, out, average="macro")


def _log_loss(y, out, task):
    if task is Task.MULTILABEL:
        p = np.clip(out, 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    p = np.asarray(out, dtype=np.float64)  # float32 outputs sum to 1 only within float32's precision, which
    p = p / p.sum(axis=1, keepdims=True)    # scikit-learn's check of the rows' sums warns about
    return skm.log_loss(y, p, labels=np.arange(out.shape[1]))


_ALL = [
    Metric("accuracy", True, CLASSIFICATION, lambda y, o, t: skm.accuracy_score(y, _labels(o, t))),
    Metric("balanced_accuracy", True, SINGLE, lambda y, o, t: skm.balanced_accuracy_score(y, _labels(o, t))),
    Metric("roc_auc", True, CLASSIFICATION, _roc_auc),
    Metric(
        "f1_macro", True, CLASSIFICATION,
        lambda y, o, t: skm.f1_score(y, _labels(o, t), average="macro", zero_division=0),
    ),
    Metric("log_loss", False, CLASSIFICATION, _log_loss),
    Metric("rmse", False, REGRESSION, lambda y, o, t: skm.root_mean_squared_error(y, o)),
    Metric("mae", False, REGRESSION, lambda y, o, t: skm.mean_absolute_error(y, o)),
    Metric("r2", True, REGRESSION, lambda y, o, t: skm.r2_score(y, o)),
    # a forecast's errors in its series' units (divided by the seasonal naive forecast's in-sample error): the
    # mean absolute one is the MASE, the root mean squared one a scaled RMSE
    Metric("mase", False, FORECAST, lambda y, o, t: skm.mean_absolute_error(y, o)),
    Metric("scaled_rmse", False, FORECAST, lambda y, o, t: skm.root_mean_squared_error(y, o)),
]
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}



def every_score(truth: np.ndarray, scores: np.ndarray, task: Task, first: str | None = None) -> dict[str, float]:
    """Every metric of `task` on (truth, scores), `first` (the run's metric) first; a metric undefined on these
    samples (ROC AUC with one class present) is left out."""
    forecast = first in FORECAST_METRICS
    names = ([first] if first else []) + sorted(n for n, m in METRICS.items() if n != first and (
        n in FORECAST_METRICS if forecast else task in m.tasks))
    found = {name: score_or_nan(METRICS[name], truth, scores, task) for name in names}
    return {name: value for name, value in found.items() if not np.isnan(value)}


def score_or_nan(metric: Metric, truth: np.ndarray, scores: np.ndarray, task: Task) -> float:
    """The metric of the scores; NaN where it is undefined on these samples (ROC AUC with one class)."""
    try:
        return float(metric(truth, scores, task))
    except ValueError:
        return float("nan")


# Smallest/largest class count below which accuracy is flattered by the majority class.
SKEW_RATIO = 0.5


def get_metric(name: str, task: Task) -> Metric:
    metric = METRICS.get(name)
    if metric is None:
        raise AutosearchError(f"--metric '{name}' is unknown; use one of {', '.join(METRICS)}")
    if task not in metric.tasks:
        fitting = [m.name for m in _ALL if task in m.tasks]
        raise AutosearchError(
            f"--metric {name} does not apply to a {task.value} task; use one of {', '.join(fitting)}"
        )
    return metric


def forecast_metric(name: str | None) -> tuple[Metric, str]:
    """A forecast's metric (--metric, else the MASE) and why."""
    if name is None:
        return METRICS["mase"], ("forecast: the mean absolute scaled error (MASE), the error over the seasonal naive "
                                 "forecast's in-sample error; under 1 beats it")
    if name not in FORECAST_METRICS:
        raise AutosearchError(f"--metric {name} does not apply to a forecast; use {' or '.join(FORECAST_METRICS)}")
    return METRICS[name], "set with --metric"


def default_metric(task: Task, class_ratio: float | None) -> tuple[Metric, str]:
    """The metric `fit` selects on when none is given, with the reason in words.

    `class_ratio` is smallest/largest class count (single-label classification).
    """
    if task is Task.REGRESSION:
        return METRICS["rmse"], "regression: root mean squared error, in the target's units"
    if task is Task.MULTILABEL:
        return METRICS["f1_macro"], "multilabel: macro-F1 over labels, so rare labels count as much as common ones"
    if class_ratio is not None and class_ratio < SKEW_RATIO:
        name = "roc_auc" if task is Task.BINARY else "balanced_accuracy"
        return METRICS[name], (
            f"classes are skewed (smallest/largest = {class_ratio:.2f}): {name}, "
            "which the majority class does not flatter as it does accuracy"
        )
    return METRICS["accuracy"], f"classes are balanced (smallest/largest = {class_ratio:.2f}): accuracy"
