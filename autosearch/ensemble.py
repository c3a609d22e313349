"""Greedy ensemble selection (Caruana et al., ICML 2004) over the candidates' out-of-fold predictions.

Starting from nothing, each round adds the candidate (with replacement) whose predictions, averaged with
those chosen so far, score best on the development samples; a candidate's weight is how often it was
chosen, over the rounds up to the best-scoring one. Networks and baselines compete alike. Only predictions of samples a
candidate never trained on take part, so the ensemble's score is as honest as a single candidate's.
"""

from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np

from autosearch.data.kinds import DataKind
from autosearch.leaderboard import ranked
from autosearch.problem import Folds
from autosearch.records import CandidateKind, State, TrialRecord

ROUNDS = 25  # AutoGluon's default; TabRepo found no gain beyond it
MAX_MEMBERS = 5  # distinct members: each is refitted at the end, inside the time budget
MAX_CANDIDATES = 30  # the best candidates by their own score take part (selection costs rounds x candidates)
GAIN = 1e-9  # the gain (times the score, for scores above 1) that makes a later round better: less is noise
MIN_BLOCKS = 3  # series-by-backtest blocks needed to measure the noise between them (`networks_set_aside`)


def select(predictions: Mapping[str, np.ndarray], ranked: Sequence[str], score: Callable[[np.ndarray], float],
           greater_is_better: bool, rounds: int = ROUNDS, max_members: int = MAX_MEMBERS) -> dict[str, float]:
    """The weights of the candidates chosen from `predictions` (name -> predictions of the same samples, in
    the training space), `ranked` best first by their own score; `score` rates averaged predictions.

    Ties go to a candidate already chosen (fewer members), then to the better ranked one. The ensemble is the
    one after the best-scoring round (the earliest of equals), so it never scores below the best candidate
    alone (round one's choice).

    >>> from sklearn.metrics import accuracy_score
    >>> y = np.array([0, 1, 1, 0])
    >>> p = {"a": np.array([[.9, .1], [.4, .6], [.6, .4], [.8, .2]]),
    ...      "b": np.array([[.6, .4], [.1, .9], [.2, .8], [.3, .7]])}
    >>> select(p, ["a", "b"], lambda q: accuracy_score(y, q.argmax(axis=1)), True, rounds=4)  # 0.75 alone, 1 blended
    {'a': 0.5, 'b': 0.5}
    """
    names = [n for n in ranked if n in predictions][:MAX_CANDIDATES]
    sign = 1.0 if greater_is_better else -1.0
    chosen: list[str] = []
    total = np.zeros_like(np.asarray(predictions[names[0]], dtype=np.float64))
    best_round, best_rating = 0, -np.inf
    for done in range(rounds):
        allowed = names if len(set(chosen)) < max_members else sorted(set(chosen), key=names.index)
        ratings = {n: _rated(sign * score((total + predictions[n]) / (done + 1))) for n in allowed}
        pick = max(allowed, key=lambda n: (ratings[n], n in chosen, -names.index(n)))
        chosen.append(pick)
        total += predictions[pick]
        noise = GAIN * max(1.0, abs(best_rating)) if np.isfinite(best_rating) else 0.0
        if ratings[pick] > best_rating + noise:  # the best round so far (on a tie or a noise gain, the earlier)
            best_round, best_rating = done + 1, ratings[pick]
    kept = chosen[:best_round]
    counts = {name: kept.count(name) for name in dict.fromkeys(kept)}
    return {name: count / best_round for name, count in sorted(counts.items(), key=lambda item: -item[1])}


def members_to_be(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray], folds: Folds
                  ) -> list[TrialRecord]:
    """The candidates an ensemble may take, best first: complete on every fold, with their predictions; no
    ensemble; no dummy, but a forecast's yardsticks (see `ensemble_of`)."""
    yardsticks_join = folds.first.kind is DataKind.FORECAST
    return [r for r in ranked(candidates, folds.first.metric)
            if r.state is State.COMPLETE and r.kind is not CandidateKind.ENSEMBLE
            and (r.family != "dummy" or yardsticks_join) and r.folds == folds.k and r.name in predictions]


def ensemble_of(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray], folds: Folds
                ) -> TrialRecord | None:
    """The ensemble of the candidates scored on every fold (their out-of-fold predictions cover the same
    samples: every development sample, or a holdout's validation samples), as a candidate of its own: kind
    `ensemble`, its members and weights as its parameters. None where fewer than two candidates take part or
    the selection keeps the best one alone.

    The dummy baseline is the yardstick, never a member: its constant prediction leaves a ranking metric
    (ROC AUC) unchanged, so rounding noise could pile weight on it, squeezing every probability toward the
    prior until each sample got the majority class (seen on carData's Arrests: dummy 0.88 of the blend). A
    forecast's yardsticks are forecasters, and members: combinations with simple forecasts are hard to beat on
    new series (the M competitions' lesson; the M4's "Comb" benchmark averages three simple methods)."""
    metric, codec, task = folds.first.metric, folds.first.codec, folds.first.task
    eligible = members_to_be(candidates, predictions, folds)
    if len(eligible) < 2:
        return None
    covered = ~np.isnan(predictions[eligible[0].name]).any(axis=1)
    outputs = {r.name: predictions[r.name][covered].astype(np.float64) for r in eligible
               if np.array_equal(~np.isnan(predictions[r.name]).any(axis=1), covered)}
    truth = folds.truth[covered]
    started = time.perf_counter()

    def score(output: np.ndarray) -> float:
        return metric(truth, codec.scores(output), task)

    weights = select(outputs, [r.name for r in eligible], score, metric.greater_is_better)
    if len(weights) < 2:
        return None
    return TrialRecord(name="ensemble", kind=CandidateKind.ENSEMBLE, family="ensemble", params=weights,
                       state=State.COMPLETE, val_score=score(blend(outputs, weights)),
                       fit_seconds=time.perf_counter() - started, folds=folds.k)


def networks_set_aside(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray], folds: Folds
                       ) -> str | None:
    """Why a forecast's networks may not be the pick, alone or in an ensemble, or None where they may: the best
    candidate with networks in it (`candidates` hold the ensembles) beats the best without them (a classical
    forecaster, or an ensemble of those) by less than a standard error of its gain over the blocks
    of one series in one backtest. Not for other kinds of data, nor with fewer than MIN_BLOCKS blocks.

    Many network trials are searched and a few classical forecasters fitted: on a few short series the best of
    the many validates better than it forecasts (arrivals' nbeats-009: backtests 1.376, its own test 2.390); at
    the forecast benchmark's origins the classical forecasters' ensemble scored 0.861 of the seasonal naive's
    MASE and whole runs about 0.95 (docs/benchmarks/2026-12-07-forecast-selection.md).
    A network lead larger than the noise between blocks is kept (airpassengers' N-BEATS)."""
    if folds.first.kind is not DataKind.FORECAST:
        return None
    metric = folds.first.metric
    full = [r for r in candidates if r.state is State.COMPLETE and r.val_score is not None and r.folds == folds.k]
    outputs = outputs_of(full, predictions)
    full = [r for r in full if r.name in outputs]
    kinds = {r.name: r.kind for r in full}

    def with_networks(r: TrialRecord) -> bool:
        return r.kind is CandidateKind.NETWORK or (
            r.kind is CandidateKind.ENSEMBLE and any(kinds.get(n) is CandidateKind.NETWORK for n in r.params))

    best = next(iter(ranked(full, metric)), None)
    rival = next(iter(ranked([r for r in full if not with_networks(r)], metric)), None)
    if best is None or rival is None or not with_networks(best):
        return None
    gains = _gains(outputs[best.name], outputs[rival.name], folds)
    if len(gains) < MIN_BLOCKS:
        return None
    mean, error = float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(len(gains)))
    if mean > error:
        return None
    return (f"networks set aside: the best with networks ({best.name}, {metric.name} {best.val_score:.4g}) gains "
            f"{mean:+.4g} a block over the best without ({rival.name}, {rival.val_score:.4g}), within its standard "
            f"error ({error:.4g}) over {len(gains)} blocks of one series in one backtest")


def _gains(ours: np.ndarray, theirs: np.ndarray, folds: Folds) -> np.ndarray:
    """How much better `ours` scores than `theirs` (out-of-fold outputs of every development sample) on each block
    of samples of one series (`Folds.groups`) in one fold."""
    metric, codec, task = folds.first.metric, folds.first.codec, folds.first.task
    sign = 1.0 if metric.greater_is_better else -1.0
    groups = folds.groups if folds.groups is not None else np.zeros(folds.rows, dtype=int)
    gains = []
    for _, rows in folds.splits:
        for group in np.unique(groups[rows]):
            block = rows[groups[rows] == group]
            truth = folds.truth[block]
            gains.append(sign * (metric(truth, codec.scores(np.asarray(ours[block], dtype=np.float64)), task)
                                 - metric(truth, codec.scores(np.asarray(theirs[block], dtype=np.float64)), task)))
    gains = np.asarray(gains, dtype=float)
    return gains[np.isfinite(gains)]


def ahead_on_their_samples(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray], folds: Folds
                           ) -> set[str]:
    """The candidates scored on fewer folds than all (the budget cut their cross-validation short) that beat
    every candidate scored on all folds, the ensemble included, on the samples they were scored on: compared on
    the same samples, their lead is no artefact of easier folds. On 5,000 small images at 2 minutes the first
    network finished one fold of five (0.986 against the linear model's 0.875 on the same samples) and,
    ranked after every fully scored candidate, lost to it."""
    metric, codec, task = folds.first.metric, folds.first.codec, folds.first.task
    complete = [r for r in candidates if r.state is State.COMPLETE and r.val_score is not None]
    outputs = outputs_of([r for r in complete if r.folds == folds.k], predictions)
    leaders = set()
    for r in complete:
        if r.folds >= folds.k or r.name not in predictions or not outputs:
            continue
        rows = ~np.isnan(predictions[r.name]).any(axis=1)

        def score(output: np.ndarray) -> float:
            return metric(folds.truth[rows], codec.scores(np.asarray(output[rows], dtype=np.float64)), task)

        mine = score(predictions[r.name])
        if np.isfinite(mine) and all(metric.better(mine, score(o)) for o in outputs.values()):
            leaders.add(r.name)
    return leaders


def outputs_of(candidates: Sequence[TrialRecord], predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The candidates' out-of-fold outputs by name: their stored predictions (a stacker's among them), and an
    ensemble's blend of its members' (where every member's is there)."""
    outputs = {r.name: predictions[r.name] for r in candidates if r.name in predictions}
    for r in candidates:
        if r.kind is CandidateKind.ENSEMBLE and r.name not in outputs and all(n in outputs for n in r.params):
            outputs[r.name] = blend(outputs, r.params)
    return outputs


def blend(outputs: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted average of the members' outputs (training space)."""
    return sum(weight * np.asarray(outputs[name], dtype=np.float64) for name, weight in weights.items())


def _rated(value: float) -> float:
    """Higher is better; NaN (a blend the metric cannot score) never wins."""
    return value if np.isfinite(value) else -np.inf
