"""Ranking candidates: pure functions over TrialRecords."""

from __future__ import annotations

import json
from typing import Collection, Mapping, Sequence

import pandas as pd

from autosearch.metrics import Metric
from autosearch.records import CandidateKind, State, TrialRecord

COLUMNS = ["rank", "name", "kind", "family", "state", "val_score", "folds", "test_score", "fit_seconds", "epochs",
           "params", "warm_start", "mlflow_run_id"]
# on equal scores the simpler candidate ranks first
SIMPLER = {CandidateKind.BASELINE: 0, CandidateKind.NETWORK: 1, CandidateKind.ENSEMBLE: 2}


def ranked(records: Sequence[TrialRecord], metric: Metric, ahead: Collection[str] = ()) -> list[TrialRecord]:
    """Complete candidates best first, then pruned, then failed.

    Candidates scored on every fold rank before those scored on fewer (cut short in cross-validation):
    a score on fewer samples is a less certain one, and not comparable with the others'. Those that `ahead`
    names come first all the same: on the samples they were scored on, they beat every candidate scored on
    all folds (`ensemble.ahead_on_their_samples`). Ties on the score go to the simpler candidate — a
    baseline, then a network, then an ensemble: a network that only matches a classical model is not the
    answer — then to the name, so the same data and seed always give the same order.
    """
    return ranked_by(records, metric.greater_is_better, ahead)


def ranked_by(records: Sequence[TrialRecord], greater_is_better: bool, ahead: Collection[str] = ()
              ) -> list[TrialRecord]:
    """`ranked` for a direction alone (an earlier search's, `warm_start`)."""
    sign = -1.0 if greater_is_better else 1.0
    complete = [r for r in records if r.state is State.COMPLETE and r.val_score is not None]
    folds = max((r.folds for r in complete), default=1)
    complete.sort(key=lambda r: (0 if r.name in ahead else 1 if r.folds == folds else 2, sign * r.val_score,
                                 SIMPLER.get(r.kind, 3), r.name))
    chosen = {id(r) for r in complete}
    rest = [r for r in records if id(r) not in chosen]
    rest.sort(key=lambda r: (r.state is State.FAILED, r.name))
    return complete + rest


def winner(records: Sequence[TrialRecord], metric: Metric, ahead: Collection[str] = ()) -> TrialRecord | None:
    best = ranked(records, metric, ahead)
    return best[0] if best and best[0].state is State.COMPLETE else None


def best_of(records: Sequence[TrialRecord], metric: Metric, kind: CandidateKind, ahead: Collection[str] = ()
            ) -> TrialRecord | None:
    return winner([r for r in records if r.kind is kind], metric, ahead)


def to_frame(records: Sequence[TrialRecord], metric: Metric, test_scores: Mapping[str, float],
             ahead: Collection[str] = ()) -> pd.DataFrame:
    """The leaderboard table: one row per candidate, ranked."""
    rows = []
    for i, r in enumerate(ranked(records, metric, ahead), start=1):
        rows.append({
            "rank": i if r.state is State.COMPLETE else None, "name": r.name, "kind": r.kind,
            "family": r.family, "state": r.state.value,
            "val_score": r.val_score if r.state is State.COMPLETE else None, "folds": r.folds,
            "test_score": test_scores.get(r.name), "fit_seconds": round(r.fit_seconds, 3),
            "epochs": r.epochs or None, "params": json.dumps(dict(r.params), default=str, sort_keys=True),
            "warm_start": r.warm_start,
            "mlflow_run_id": r.mlflow_run_id,
        })
    return pd.DataFrame(rows, columns=COLUMNS).astype({"rank": "Int64", "epochs": "Int64"})
