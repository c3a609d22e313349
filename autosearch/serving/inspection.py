"""What the saved pick costs and relies on, measured on the test split once it is saved: its size on disk, the
time it takes to predict 1,000 samples, and (tables) how much the test score drops when one column's values
are shuffled (scikit-learn's `permutation_importance`). `summary.json` keeps them as `model`; the report
shows them. Nothing here chooses anything: the test split is scored, never selected on.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autosearch.data.dataset import Dataset
from autosearch.errors import describe
from autosearch.metrics import Metric
from autosearch.serving.bundle import COMPARED, Bundle, UnseenCategoryWarning

IMPORTANCE_REPEATS = 3  # shuffles per column
IMPORTANCE_SECONDS = 60.0  # at most this long on importance, and a fifth of the budget left
TOP_FEATURES = 30  # the most important columns kept in summary.json
TIMED_SAMPLES = 1000  # samples the prediction time is measured on (the test split's, repeated if fewer): a
# per-call overhead measured on 69 samples would read as 15 times its cost per 1,000


def inspect_model(bundle: Bundle, test: Dataset, metric: Metric, seed: int, seconds_left: float) -> dict[str, Any]:
    """The bundle's size and prediction time on `test` (warm: its graphs are traced by a first call), and
    the permutation importance of a table's columns where it fits in `seconds_left`; with a `note` on what
    was left out and why."""
    with warnings.catch_warnings():  # a test category training never saw: a fact of the split, not a warning
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        return _inspect(bundle, test, metric, seed, seconds_left)


def _inspect(bundle: Bundle, test: Dataset, metric: Metric, seed: int, seconds_left: float) -> dict[str, Any]:
    served = [f for f in Path(bundle.folder).rglob("*") if f.is_file() and COMPARED not in f.parts]
    facts: dict[str, Any] = {"size_mb": round(sum(f.stat().st_size for f in served) / 1e6, 3)}
    started = time.monotonic()
    sample = test.take(np.resize(np.arange(len(test)), TIMED_SAMPLES))  # 1,000 samples, repeated if fewer
    try:
        bundle.predict(sample.features)  # traces the networks' graphs: not what a served model pays per call
        mark = time.perf_counter()
        bundle.predict(sample.features)
        seconds = time.perf_counter() - mark
    except Exception as error:  # the results stand without these numbers
        return {**facts, "note": f"prediction time not measured: {describe(error)}"}
    facts["predict_seconds_per_1000"] = round(seconds / len(sample) * 1000, 4)
    if not isinstance(test.features, pd.DataFrame) or bundle.profile.kind.value != "tabular":
        return facts
    columns, left = test.features.shape[1], seconds_left - (time.monotonic() - started)
    needed = seconds * len(test) / len(sample) * (1 + IMPORTANCE_REPEATS * columns)
    if needed > min(IMPORTANCE_SECONDS, 0.2 * left):
        return {**facts, "note": f"feature importance left out: {columns} columns would take ~{needed:.0f} s"}
    try:
        facts["feature_importance"] = permutation_importances(bundle, test, metric, seed)[:TOP_FEATURES]
    except Exception as error:
        facts["note"] = f"feature importance not measured: {describe(error)}"
    return facts


def permutation_importances(bundle: Bundle, test: Dataset, metric: Metric, seed: int) -> list[dict[str, Any]]:
    """Per column, most important first: the mean drop of the test score (in the metric's units, positive
    when shuffling the column hurts) and its standard deviation over the shuffles."""
    from sklearn.frozen import FrozenEstimator

    sign = 1.0 if metric.greater_is_better else -1.0
    truth = bundle.codec.truth(test.target.rename(columns=str)[list(bundle.profile.targets)])

    def scoring(model, X, y) -> float:
        return sign * metric(y, bundle.scores(X), bundle.profile.task)

    found = importance_frame(FrozenEstimator(bundle), test.features, truth, scoring, IMPORTANCE_REPEATS, seed,
                             test.features.columns)
    return [{"feature": str(name), "importance": round(float(row["importance"]), 6), "std": round(float(row["std"]), 6)}
            for name, row in found.iterrows()]


def importance_frame(model: Any, X: Any, y: Any, scoring: Any, n_repeats: int, seed: int, names) -> pd.DataFrame:
    """scikit-learn's permutation importance of a fitted `model` (scored by `scoring(model, X, y)`, or its own
    `score` where None) over the columns of X, named `names`: `importance`, the mean drop of the score when a
    column is shuffled, and its `std`, most important first."""
    from sklearn.inspection import permutation_importance

    found = permutation_importance(model, X, y, scoring=scoring, n_repeats=n_repeats, random_state=seed)
    frame = pd.DataFrame({"importance": found.importances_mean, "std": found.importances_std},
                         index=pd.Index(list(names), name="feature"))
    return frame.sort_values("importance", ascending=False)
