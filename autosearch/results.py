"""The end of a fit: refit the winner, score it once on test, write the bundle, the leaderboard and the
summary, and close the MLflow parent run."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autosearch import report
from autosearch.baselines import estimator_output, fit_baseline
from autosearch.bundle import Bundle, save_bundle
from autosearch.config import RunConfig
from autosearch.errors import AutosearchError, describe
from autosearch.files import write_atomic
from autosearch.leaderboard import best_of, to_frame, winner
from autosearch.prepare import Prepared
from autosearch.problem import make_problem
from autosearch.progress import Progress
from autosearch.records import State, TrialRecord
from autosearch.summary import Candidate, RunSummary


@dataclass(frozen=True)
class FitResult:
    output_dir: Path
    bundle_path: Path
    leaderboard: pd.DataFrame
    winner: TrialRecord
    metric: str
    test_score: float
    summary: RunSummary
    mlflow_run_id: str

    def predict(self, data: str | Path | pd.DataFrame) -> pd.DataFrame:
        return Bundle.load(self.bundle_path).predict(data)


@dataclass(frozen=True, eq=False)
class Refit:
    """The winner refitted on train+validation, and its outputs on the test split (scoring space)."""

    model: Any
    preprocessor: Any
    test_score: float
    fit_seconds: float
    truth: np.ndarray
    scores: np.ndarray


def refit(win: TrialRecord, prep: Prepared, seed: int) -> Refit:
    """Refit a candidate (the winner) on train+validation; score it once on the test samples."""
    split = prep.split
    problem, preprocessor = make_problem(split.train + split.val, split.test, prep.profile, prep.codec,
                                         prep.metric, seed)
    if win.kind == "baseline":
        record, model = fit_baseline(win.family, problem)  # its "val_score" is on the score samples: the test
        if record.state is not State.COMPLETE:
            raise AutosearchError(f"refitting the winner {win.name} failed ({record.error})")
        output = estimator_output(model, problem.score_views[problem.spec.baseline_view], problem.task,
                                  problem.codec.n_outputs)
        fit_seconds = record.fit_seconds
    else:
        from autosearch.training import predict_network, train_network
        result = train_network(win.params, prep.space(win.family), problem, seed=seed + (win.number or 0),
                               epochs=win.best_epoch + 1)
        if result.state is not State.COMPLETE:
            raise AutosearchError(f"refitting the winner {win.name} failed ({result.error})")
        model, fit_seconds = result.model, result.fit_seconds
        output = predict_network(model, problem, win.family, win.params)
    return Refit(model, preprocessor, problem.score(output), fit_seconds, problem.truth,
                 problem.codec.scores(output))


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
    refitted = refit(win, prep, config.seed)
    test_score, timings["refit_fit"] = refitted.test_score, refitted.fit_seconds
    timings["refit"] = time.monotonic() - mark
    leaderboard = to_frame(records, metric, {win.name: test_score})
    meta = {"task": prof.task.value, "kind": prof.kind.value, "targets": list(prof.targets),
            "classes": [str(c) for c in prep.codec.classes_], "metric": metric.name, "profile": prof.as_dict(),
            "winner": Candidate.of(win, with_params=True).__dict__, "test_score": test_score,
            "mlflow_run_id": tracker.parent_id}
    bundle = save_bundle(output / "model", preprocessor=refitted.preprocessor, codec=prep.codec,
                         model=refitted.model, is_network=win.kind == "nn", meta=meta)
    write_atomic(output / "leaderboard.csv", leaderboard.to_csv(index=False))
    _save_predictions(output / report.PREDICTIONS_FILE, refitted, prep.codec.classes_)
    timings["total"] = time.monotonic() - started
    summary = _summary(records, win, test_score, prep, tracker, cut_short, timings)
    files, folders = [output / "leaderboard.csv", summary.save(output)], {"model": bundle}
    try:
        from autosearch.tracking import read_curves
        files.append(report.write(output, summary, records,
                                  lambda run_ids: read_curves(tracker.tracking_uri, run_ids)))
        folders[report.IMAGES_FOLDER] = output / report.IMAGES_FOLDER
    except Exception as error:  # the search's results stand without their report
        progress.say(f"report not written: {describe(error)}; `autosearch report {output}` retries")
    best_nn, best_baseline = summary.best_nn, summary.best_baseline
    tracker.finish_parent(
        metrics={"val_score": win.val_score, "test_score": test_score,
                 "best_nn_val_score": best_nn and best_nn.val_score,
                 "best_baseline_val_score": best_baseline and best_baseline.val_score,
                 "seconds": timings["total"]},
        tags={"autosearch.winner": win.name, "autosearch.winner_family": win.family,
              "mlflow.note.content": _note(summary)},
        files=files, folders=folders,
    )
    progress.say(f"report: {output / report.REPORT_FILE}")
    progress.say(f"dashboard: autosearch ui {output}")
    return FitResult(output, bundle, leaderboard, win, metric.name, test_score, summary, tracker.parent_id)


def _summary(records: list[TrialRecord], win: TrialRecord, test_score: float, prep: Prepared, tracker,
             cut_short: str | None, timings: dict[str, float]) -> RunSummary:
    """summary.json: what scripts read (see README)."""
    prof, metric = prep.profile, prep.metric
    return RunSummary(
        data=prep.name, target=prof.targets[0] if len(prof.targets) == 1 else list(prof.targets),
        target_reason=prof.target_reason, task=prof.task.value, task_reason=prof.task_reason,
        kind=prof.kind.value, kind_reason=prof.kind_reason, metric=metric.name, metric_reason=prep.metric_reason,
        greater_is_better=metric.greater_is_better, class_ratio=prep.problem.class_ratio,
        context=prep.problem.context,
        class_weight_searched=any("class_weight" in r.params for r in records if r.kind == "nn"),
        winner=Candidate.of(win, with_params=True), test_score=test_score,
        best_nn=Candidate.of(best_of(records, metric, "nn")),
        best_baseline=Candidate.of(best_of(records, metric, "baseline")),
        trials={s.value: sum(r.kind == "nn" and r.state is s for r in records) for s in State},
        trial_fit_seconds=round(sum(r.fit_seconds for r in records if r.kind == "nn"), 2),
        profile=prof.as_dict(), families=[s.family for s in prep.spaces], spaces=[s.as_dict() for s in prep.spaces],
        rows={"train": len(prep.split.train), "validation": len(prep.split.val), "test": len(prep.split.test)},
        mlflow_run_id=tracker.parent_id, mlflow_experiment=tracker.experiment, tracking_uri=tracker.tracking_uri,
        output_dir=str(prep.output.resolve()), bundle=str((prep.output / "model").resolve()),
        cut_short=cut_short, seconds={k: round(v, 2) for k, v in timings.items()},
    )


def _note(summary: RunSummary) -> str:
    w = summary.winner
    return (f"**{summary.task}** on `{summary.target}`: winner **{w.name}** ({w.family}), "
            f"val {summary.metric} {w.val_score:.4f}, test {summary.test_score:.4f}.\n\n"
            f"Task: {summary.task_reason}. Metric: {summary.metric_reason}.")


def _save_predictions(path: Path, refit: Refit, classes: list) -> None:
    """The winner's test outputs in the scoring space, for the report's diagnostic plots."""
    buffer = io.BytesIO()
    np.savez(buffer, truth=refit.truth, scores=refit.scores, classes=np.asarray([str(c) for c in classes]))
    write_atomic(path, buffer.getvalue())
