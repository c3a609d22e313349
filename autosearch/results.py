"""The end of a fit: refit the winner, score it once on test, write the bundle, the leaderboard and the
summary, and close the MLflow parent run."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch.baselines import fit_baseline
from autosearch.bundle import save_bundle
from autosearch.config import RunConfig
from autosearch.errors import AutosearchError
from autosearch.leaderboard import best_of, to_frame, winner
from autosearch.prepare import Prepared
from autosearch.problem import make_problem
from autosearch.progress import Progress
from autosearch.records import State, TrialRecord


@dataclass(frozen=True)
class FitResult:
    output_dir: Path
    bundle_path: Path
    leaderboard: pd.DataFrame
    winner: TrialRecord
    metric: str
    test_score: float
    summary: dict[str, Any]
    mlflow_run_id: str

    def predict(self, data: str | Path | pd.DataFrame) -> pd.DataFrame:
        from autosearch.api import predict
        return predict(self.bundle_path, data)


def _refit(win: TrialRecord, prep: Prepared, seed: int) -> tuple[Any, Any, float, float]:
    """Refit the winner on train+validation; score it once on the test samples.

    Returns the model, its preprocessor, the test score and the seconds spent fitting.
    """
    split = prep.split
    problem, preprocessor = make_problem(split.train + split.val, split.test, prep.profile, prep.codec,
                                         prep.metric, seed)
    if win.kind == "baseline":
        record, model = fit_baseline(win.family, problem)  # its "val_score" is on the score samples: the test
        if record.state is not State.COMPLETE:
            raise AutosearchError(f"refitting the winner {win.name} failed ({record.error})")
        return model, preprocessor, record.val_score, record.fit_seconds
    from autosearch.training import predict_network, train_network
    result = train_network(win.params, prep.space(win.family), problem, seed=seed + (win.number or 0),
                           epochs=win.best_epoch + 1)
    if result.state is not State.COMPLETE:
        raise AutosearchError(f"refitting the winner {win.name} failed ({result.error})")
    test_score = problem.score(predict_network(result.model, problem, win.family, win.params))
    return result.model, preprocessor, test_score, result.fit_seconds


def finish(records: list[TrialRecord], prep: Prepared, config: RunConfig, tracker, progress: Progress,
           started: float, timings: dict[str, float], cut_short: str | None = None) -> FitResult:
    """Refit and test the winner, save the bundle and the leaderboard, close the parent run.

    `cut_short` says why the search ended early (a signal, the budget), if it did.
    """
    metric, prof, output = prep.metric, prep.profile, prep.output
    win = winner(records, metric)
    if win is None:
        raise AutosearchError("no candidate completed, not even the baselines; check the data")
    progress.say(f"refitting the winner {win.name} on train+validation and scoring it once on test")
    mark = time.monotonic()
    model, preprocessor, test_score, timings["refit_fit"] = _refit(win, prep, config.seed)
    timings["refit"] = time.monotonic() - mark
    leaderboard = to_frame(records, metric, {win.name: test_score})
    summary = _summary(records, win, test_score, prep, tracker)
    summary["cut_short"] = cut_short
    bundle = save_bundle(output / "model", preprocessor=preprocessor, codec=prep.codec, model=model,
                         is_network=win.kind == "nn", meta={
                             "task": prof.task.value, "kind": prof.kind.value, "targets": list(prof.targets),
                             "classes": [str(c) for c in prep.codec.classes_], "metric": metric.name,
                             "profile": prof.as_dict(), "winner": summary["winner"], "test_score": test_score,
                             "mlflow_run_id": tracker.parent_id})
    _write_atomic(output / "leaderboard.csv", leaderboard.to_csv(index=False))
    timings["total"] = time.monotonic() - started
    summary["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    _write_atomic(output / "summary.json", json.dumps(summary, indent=2, default=str))
    best_nn, best_baseline = summary["best_nn"], summary["best_baseline"]
    tracker.finish_parent(
        metrics={"val_score": win.val_score, "test_score": test_score,
                 "best_nn_val_score": best_nn and best_nn["val_score"],
                 "best_baseline_val_score": best_baseline and best_baseline["val_score"],
                 "seconds": timings["total"]},
        tags={"autosearch.winner": win.name, "autosearch.winner_family": win.family,
              "mlflow.note.content": _note(summary)},
        files=[output / "leaderboard.csv", output / "summary.json"], folders={"model": bundle},
    )
    progress.say(f"open the dashboard: {tracker.dashboard_command()}")
    return FitResult(output, bundle, leaderboard, win, metric.name, test_score, summary, tracker.parent_id)


def _summary(records: list[TrialRecord], win: TrialRecord, test_score: float, prep: Prepared, tracker) -> dict:
    """summary.json: what scripts read (see README)."""
    prof, metric = prep.profile, prep.metric
    return {
        "data": prep.name, "target": prof.targets[0] if len(prof.targets) == 1 else list(prof.targets),
        "target_reason": prof.target_reason, "task": prof.task.value, "task_reason": prof.task_reason,
        "kind": prof.kind.value, "kind_reason": prof.kind_reason, "metric": metric.name,
        "metric_reason": prep.metric_reason,
        "greater_is_better": metric.greater_is_better, "class_ratio": prep.problem.class_ratio,
        "class_weight_searched": any("class_weight" in r.params for r in records if r.kind == "nn"),
        "winner": {"name": win.name, "kind": win.kind, "family": win.family, "params": dict(win.params),
                   "val_score": win.val_score},
        "test_score": test_score,
        "best_nn": _brief(best_of(records, metric, "nn")),
        "best_baseline": _brief(best_of(records, metric, "baseline")),
        "trials": {s.value: sum(r.kind == "nn" and r.state is s for r in records) for s in State},
        "trial_fit_seconds": round(sum(r.fit_seconds for r in records if r.kind == "nn"), 2),
        "profile": prof.as_dict(), "families": [s.family for s in prep.spaces],
        "spaces": [s.as_dict() for s in prep.spaces],
        "rows": {"train": len(prep.split.train), "validation": len(prep.split.val), "test": len(prep.split.test)},
        "mlflow_run_id": tracker.parent_id, "mlflow_experiment": tracker.experiment,
        "tracking_uri": tracker.tracking_uri,
        "output_dir": str(prep.output.resolve()), "bundle": str((prep.output / "model").resolve()),
    }


def _brief(record: TrialRecord | None) -> dict | None:
    return None if record is None else {"name": record.name, "family": record.family, "val_score": record.val_score}


def _note(summary: dict) -> str:
    w = summary["winner"]
    return (f"**{summary['task']}** on `{summary['target']}`: winner **{w['name']}** ({w['family']}), "
            f"val {summary['metric']} {w['val_score']:.4f}, test {summary['test_score']:.4f}.\n\n"
            f"Task: {summary['task_reason']}. Metric: {summary['metric_reason']}.")


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)
