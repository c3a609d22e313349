"""A second layer (stacked generalization, Wolpert 1992; AutoGluon's stack level 2): a linear model fitted on the
best candidates' out-of-fold outputs, as a candidate of its own (`stack`) beside the greedy ensemble.

The greedy ensemble (ensemble.py) averages its members with weights that sum to one; a stacker may also rescale
and recalibrate them, and weigh each class of each member apart: logistic regression on the members' log
probabilities for classes, ridge regression on their values for a regression. It learns from the members'
out-of-fold outputs, whose samples no member trained on; its own score comes from out-of-fold outputs too,
by an inner cross-validation over those samples (`STACK_FOLDS`), so that no sample's stacked output comes from
a stacker that saw its label. It is kept only where it beats the best first-layer candidate (the ensemble
included) by more than the standard error of its gain over the inner folds: a few dozen samples fit a
stacker that only looks better by chance.

The stacker reads the members' outputs only, not the original features (AutoGluon's level 2 reads both): a
bundle then serves it from what its members give, unchanged by the kind of data.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold

from autosearch.data.kinds import DataKind
from autosearch.ensemble import members_to_be, outputs_of
from autosearch.leaderboard import ranked
from autosearch.metrics import score_or_nan
from autosearch.problem import Folds
from autosearch.records import STACK_FAMILY, CandidateKind, State, TrialRecord
from autosearch.tasks import Task

FAMILY = STACK_FAMILY  # the stacker's family, and its name on the leaderboard
MEMBERS = 5  # the best candidates it reads (complete on every fold, as the ensemble's members)
STACK_FOLDS = 5  # the inner cross-validation that scores it
MIN_SAMPLES = 40  # fewer out-of-fold samples than this: no stacker (each inner fold would score a handful)
MAX_SAMPLES = 50_000  # more: no stacker (six fits of it would take seconds a run has spent by then)
MAX_WORK = 25_000_000  # samples x inputs x outputs (a multinomial fit's cost an iteration): 50,000 samples of 5
                       # members of 10 classes; more (100 classes, say) and no stacker: minutes after the search
CLIP = 1e-6  # probabilities are clipped to [CLIP, 1 - CLIP] before their logarithm


def can_stack(folds: Folds, shuffled: bool = True) -> bool:
    """Single-label classification and regression on samples split at random (`shuffled`): its inner folds are
    shuffled, so not for time-ordered tables or --groups (they would put a group, or the future, on both sides),
    nor forecasts (windows of a few series, scored apart: `ensemble.networks_set_aside`) or multilabel targets."""
    problem = folds.first
    return shuffled and problem.kind is not DataKind.FORECAST and problem.task in (Task.BINARY, Task.MULTICLASS,
                                                                                    Task.REGRESSION)


def inputs(outputs: Mapping[str, np.ndarray], names: Sequence[str], task: Task) -> np.ndarray:
    """What the stacker reads: the members' outputs side by side, in `names`' order; log probabilities for
    classes.

    >>> inputs({"a": np.array([[0.5, 0.5]]), "b": np.array([[1.0, 0.0]])}, ["b", "a"], Task.BINARY).round(2).tolist()
    [[-0.0, -13.82, -0.69, -0.69]]
    """
    parts = [np.asarray(outputs[name], dtype=np.float64) for name in names]
    if task is not Task.REGRESSION:
        parts = [np.log(np.clip(p, CLIP, 1 - CLIP)) for p in parts]
    return np.concatenate(parts, axis=1)


def make_stacker(task: Task, seed: int = 0):
    """Logistic regression (L2, C=1) for classes, ridge regression with its penalty chosen by leave-one-out for
    values: the linear level 2 that AutoGluon and auto-sklearn's stacking literature start from."""
    if task is Task.REGRESSION:
        return RidgeCV(alphas=np.logspace(-3, 3, 13))
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)


def fit_stacker(X: np.ndarray, y: np.ndarray, task: Task, seed: int = 0):
    """The stacker fitted on every out-of-fold sample (what is served)."""
    return make_stacker(task, seed).fit(X, _target(y, task))


def out_of_fold(X: np.ndarray, y: np.ndarray, task: Task, n_outputs: int, seed: int = 0
                ) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The stacker's output for every sample, each from a stacker fitted on the other inner folds only, and the
    inner folds' samples; for classes, stratified (as many folds as the rarest class has samples, at most
    STACK_FOLDS), and None where a class has a single sample."""
    from autosearch.baselines import estimator_output

    target = _target(y, task)
    if task is Task.REGRESSION:
        splitter = KFold(STACK_FOLDS, shuffle=True, random_state=seed)
    else:
        counts = np.bincount(target)
        rarest = int(counts[counts > 0].min())
        if rarest < 2:
            return None
        splitter = StratifiedKFold(min(STACK_FOLDS, rarest), shuffle=True, random_state=seed)
    output = np.zeros((len(X), n_outputs))
    blocks = []
    for fit, score in splitter.split(X, target if task is not Task.REGRESSION else None):
        model = make_stacker(task, seed).fit(X[fit], target[fit])
        output[score] = estimator_output(model, X[score], task, n_outputs)
        blocks.append(score)
    return output, blocks


def stack_of(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray], folds: Folds, seed: int = 0,
             shuffled: bool = True) -> tuple[TrialRecord | None, np.ndarray | None, str] | None:
    """The stacker over the best candidates' out-of-fold outputs (`candidates` hold the ensemble, if any): its
    record (kind ensemble, family `stack`, its members as parameters in the order it reads them) and its
    out-of-fold outputs of every development sample (NaN where the members have none) where it is kept (else
    None and None), and what to tell the user; None where none can be fitted (`can_stack`, fewer than two
    members, MIN_SAMPLES samples or more than MAX_SAMPLES, more work than MAX_WORK, a class of one sample, a
    stacker that failed)."""
    if not can_stack(folds, shuffled):
        return None
    problem, metric = folds.first, folds.first.metric
    names = _members(candidates, predictions, folds)
    if len(names) < 2:
        return None
    covered = _covered(names, predictions)
    n_outputs = problem.codec.n_outputs
    if not MIN_SAMPLES <= covered.sum() <= MAX_SAMPLES or covered.sum() * len(names) * n_outputs ** 2 > MAX_WORK:
        return None
    started = time.perf_counter()
    X = inputs({n: predictions[n][covered] for n in names}, names, problem.task)
    try:
        made = out_of_fold(X, folds.y[covered], problem.task, n_outputs, seed)
    except (ValueError, np.linalg.LinAlgError):  # a stacker that cannot be fitted: none
        return None
    if made is None:
        return None
    output, blocks = made
    truth = folds.truth[covered]

    def score(out: np.ndarray, rows=slice(None)) -> float:  # NaN where undefined (ROC AUC on one class)
        return score_or_nan(metric, truth[rows], problem.codec.scores(out[rows]), problem.task)

    first_layer = outputs_of([r for r in candidates if r.state is State.COMPLETE and r.folds == folds.k
                              and r.val_score is not None and r.family != FAMILY], predictions)
    rival = next(iter(ranked([r for r in candidates if r.name in first_layer], metric)), None)
    if rival is None:
        return None
    theirs = first_layer[rival.name][covered]
    sign = 1.0 if metric.greater_is_better else -1.0
    gains = np.array([sign * (score(output, b) - score(theirs, b)) for b in blocks])
    gains = gains[np.isfinite(gains)]
    mean = float(gains.mean()) if len(gains) else -np.inf
    error = float(gains.std(ddof=1) / np.sqrt(len(gains))) if len(gains) > 1 else np.inf
    mine = score(output)
    kept = mean > error and np.isfinite(mine)
    said = (f"stacker over {', '.join(names)}: val {metric.name} {mine:.4g} against {rival.name}'s "
            f"{score(theirs):.4g} on the same samples, a gain of {mean:+.3g} a fold "
            f"(standard error {error:.3g}): {'a candidate' if kept else 'left out (no gain beyond the noise)'}")
    if not kept:
        return None, None, said
    placed = np.full((folds.rows, problem.codec.n_outputs), np.nan, dtype=np.float32)
    placed[covered] = output
    record = TrialRecord(name=FAMILY, kind=CandidateKind.ENSEMBLE, family=FAMILY,
                         params={n: 1.0 / len(names) for n in names}, state=State.COMPLETE, val_score=mine,
                         fit_seconds=time.perf_counter() - started, folds=folds.k,
                         note=f"{type(make_stacker(problem.task)).__name__} on the out-of-fold outputs of "
                              f"{', '.join(names)}; scored by {STACK_FOLDS}-fold cross-validation over them")
    return record, placed, said


def served(record: TrialRecord, predictions: Mapping[str, np.ndarray], folds: Folds, seed: int = 0):
    """The stacker `record` names, fitted on every out-of-fold sample of its members (what a bundle serves)."""
    names = list(record.params)
    covered = _covered(names, predictions)
    X = inputs({n: predictions[n][covered] for n in names}, names, folds.first.task)
    return fit_stacker(X, folds.y[covered], folds.first.task, seed)


def output(model, outputs: Mapping[str, np.ndarray], names: Sequence[str], task: Task, n_outputs: int) -> np.ndarray:
    """The stacker's output (training space) from its members' outputs."""
    from autosearch.baselines import estimator_output

    return estimator_output(model, inputs(outputs, names, task), task, n_outputs)


def _members(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray], folds: Folds) -> list[str]:
    """The candidates the stacker reads: the ensemble's candidates (`ensemble.members_to_be`), best first, at most
    MEMBERS."""
    n_outputs = folds.first.codec.n_outputs
    return [r.name for r in members_to_be(candidates, predictions, folds)
            if predictions[r.name].shape[1] == n_outputs][:MEMBERS]


def _covered(names: Sequence[str], predictions: Mapping[str, np.ndarray]) -> np.ndarray:
    """The samples every member has an out-of-fold output for."""
    return np.all([~np.isnan(predictions[n]).any(axis=1) for n in names], axis=0)


def _target(y: np.ndarray, task: Task) -> np.ndarray:
    """The training-space target as the stacker fits it: class indices, or values (one column: a vector)."""
    y = np.asarray(y)
    if task is Task.REGRESSION:
        return y.ravel() if y.ndim == 2 and y.shape[1] == 1 else y
    return y.astype(np.int64).ravel()
