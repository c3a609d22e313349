"""`fit` and `predict`: the only place the steps are wired together; also the Python API."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch.baselines import FAMILIES as BASELINES
from autosearch.baselines import fit_baseline
from autosearch.bundle import Bundle, save_bundle
from autosearch.config import RunConfig, make_config
from autosearch.data.load import load_table
from autosearch.data.profile import Profile, profile
from autosearch.data.split import Split, split_frame
from autosearch.errors import AutosearchError
from autosearch.leaderboard import best_of, to_frame, winner
from autosearch.metrics import Metric, default_metric, get_metric
from autosearch.preprocessing import TargetCodec
from autosearch.problem import Problem, make_problem
from autosearch.progress import Progress, format_score
from autosearch.records import State, TrialRecord
from autosearch.spaces import SearchSpace, load_space

REFIT_SHARE = 0.1  # of --time-budget kept back for refitting the winner and writing results
RUNS_FOLDER = Path("autosearch-runs")


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
        return predict(self.bundle_path, data)


def fit(data: str | Path | pd.DataFrame, target: str | list[str] | None = None, **options: Any) -> FitResult:
    """Search for the best model of `target` in `data` (a CSV/Parquet path or a DataFrame).

    Options are those of `autosearch fit` (``trials``, ``time_budget``, ``task``, ``metric``,
    ``space``, ``test``, ``output``, ``experiment``, ``tracking_uri``, ``seed``, ``max_epochs``, ``quiet``).
    """
    return run_fit(data, make_config(target=target, **options))


def predict(model_dir: str | Path, data: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Predictions of a saved bundle for the rows of `data`."""
    bundle = Bundle.load(model_dir)
    frame = data if isinstance(data, pd.DataFrame) else load_table(data)
    return bundle.predict(frame)


@dataclass(frozen=True)
class Prepared:
    """What `fit` knows once the input is read and checked: everything but the candidates."""

    name: str
    profile: Profile
    split: Split
    codec: TargetCodec
    metric: Metric
    metric_reason: str
    space: SearchSpace
    output: Path
    problem: Problem  # fit on train, score on validation


def run_fit(data: str | Path | pd.DataFrame, config: RunConfig, progress: Progress | None = None) -> FitResult:
    started = time.monotonic()
    progress = progress or Progress(config.quiet)
    prep = prepare(data, config, progress)
    deadline = None if config.time_budget is None else started + config.time_budget * (1 - REFIT_SHARE)

    from autosearch.tracking import Tracker  # MLflow is slow to import: only once the input is known good
    tracker = Tracker(config.tracking_uri, config.experiment or prep.name)
    prep.output.mkdir(parents=True, exist_ok=True)
    tracker.start_parent(prep.output.name, _run_params(config, prep), {
        "autosearch.task": prep.profile.task.value, "autosearch.task_reason": prep.profile.task_reason,
        "autosearch.target_reason": prep.profile.target_reason, "autosearch.metric_reason": prep.metric_reason,
        "autosearch.command": " ".join(sys.argv),
    })
    timings = {"prepare": time.monotonic() - started}
    try:
        mark = time.monotonic()
        records = _baselines(prep.problem, tracker, progress)
        timings["baselines"] = time.monotonic() - mark
        mark = time.monotonic()
        records += _search(prep, config, deadline, tracker, progress, records)
        timings["search"] = time.monotonic() - mark
        return _finish(records, prep, config, tracker, progress, started, timings)
    except BaseException as error:
        tracker.abort_parent("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise


def prepare(data: str | Path | pd.DataFrame, config: RunConfig, progress: Progress) -> Prepared:
    """Read and check everything the user gave, before any heavy work; say what was inferred and why."""
    space = _space(config)
    frame, name = _read(data)
    output = _output_folder(config.output, name)
    prof, frame, notes = profile(frame, config.targets, config.task)
    progress.say(f"target: {', '.join(prof.targets)} ({prof.target_reason})")
    progress.say(f"task: {prof.task.value} ({prof.task_reason})")
    test_frame = _read_test(config.test, prof, notes) if config.test else None
    split, split_notes = split_frame(frame, prof, config.seed, test_frame)
    for note in notes + split_notes:
        progress.say(note)
    codec = _fit_codec(prof, frame, test_frame, split)
    class_ratio = codec.class_ratio(split.train[list(prof.targets)])
    metric, metric_reason = (
        (get_metric(config.metric, prof.task), "set with --metric") if config.metric
        else default_metric(prof.task, class_ratio)
    )
    progress.say(f"metric: {metric.name} ({metric_reason})")
    problem, _ = make_problem(split.train, split.val, prof, codec, metric, config.seed)
    return Prepared(name, prof, split, codec, metric, metric_reason, space, output, problem)


def _read(data: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise AutosearchError("the DataFrame is empty; pass one with feature and target columns")
        return data.rename(columns=str), "dataframe"
    return load_table(data), Path(data).stem


def _read_test(path: Path, prof: Profile, notes: list[str]) -> pd.DataFrame:
    test = load_table(path)
    missing = [c for c in prof.targets + prof.features if c not in test.columns]
    if missing:
        raise AutosearchError(f"--test file '{path}' lacks column(s) {', '.join(missing)}; "
                              "give it the same columns as the data")
    keep = test[list(prof.targets)].notna().all(axis=1)
    if not keep.any():
        raise AutosearchError(f"--test file '{path}' has no row with a target value; fill in its target")
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} test rows with a missing target")
    return test[keep].reset_index(drop=True)


def _fit_codec(prof: Profile, frame: pd.DataFrame, test: pd.DataFrame | None, split: Split) -> TargetCodec:
    """Class vocabularies come from every labelled row; a regression target's scale from training rows only."""
    targets = list(prof.targets)
    if prof.task.is_classification:
        rows = frame[targets] if test is None else pd.concat([frame[targets], test[targets]], ignore_index=True)
    else:
        rows = split.train[targets]
    return TargetCodec(prof.task, prof.targets).fit(rows)


def _space(config: RunConfig) -> SearchSpace:
    space = load_space(config.space)
    if config.max_epochs is not None:
        space = dataclasses.replace(space, max_epochs=config.max_epochs)
    return space


def _output_folder(requested: Path | None, name: str) -> Path:
    """The folder results go to: new, or empty; refuses one that holds files (nothing there is touched)."""
    if requested is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder, n = RUNS_FOLDER / f"{name}-{stamp}", 1
        while folder.exists():
            folder, n = RUNS_FOLDER / f"{name}-{stamp}-{n}", n + 1
    else:
        folder = requested
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise AutosearchError(f"output folder '{folder}' already holds files; pass a new --output "
                                  "(nothing there was changed)")
    nearest = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not os.access(nearest, os.W_OK):
        raise AutosearchError(f"cannot create output folder '{folder}' (no write access); pass another --output")
    return folder


def _run_params(config: RunConfig, prep: Prepared) -> dict:
    prof = prep.profile
    return {
        "data": prep.name, "target": ",".join(prof.targets), "task": prof.task.value, "kind": prof.kind,
        "metric": prep.metric.name, "rows": prof.n_rows, "columns": prof.n_columns,
        "features_numeric": len(prof.numeric), "features_categorical": len(prof.categorical),
        "seed": config.seed, "trials": config.trials, "time_budget_s": config.time_budget,
        "space": prep.space.source, "max_epochs": prep.space.max_epochs, "engine": "optuna",
    }


def _baselines(problem: Problem, tracker, progress: Progress) -> list[TrialRecord]:
    records = []
    for family in BASELINES:
        notes: list[str] = []
        record, _ = fit_baseline(family, problem, notes)
        records.append(tracker.log_candidate(record))
        for note in notes:
            progress.say(note)
        shown = format_score(record.val_score) if record.state is State.COMPLETE else f"failed: {record.error}"
        progress.say(f"  baseline {family}: val {problem.metric.name} {shown}, {record.fit_seconds:.2f}s")
    return records


def _search(prep: Prepared, config: RunConfig, deadline: float | None, tracker, progress: Progress,
            baselines: list[TrialRecord]) -> list[TrialRecord]:
    from autosearch.models import load_keras

    load_keras()
    from autosearch.engines.optuna_engine import run_search

    space, problem = prep.space, prep.problem

    def on_start(name: str, params: dict) -> str:
        progress.trial_started(name)
        return tracker.start_candidate(name, "nn", space.family, params)

    def on_trial(record: TrialRecord, run_id: str) -> TrialRecord:
        tracker.end_candidate(run_id, record)
        record = record.with_run(run_id)
        progress.trial_finished(record)
        return record

    progress.say(f"searching {space.family} networks: up to {config.trials} trials"
                 + (f", {config.time_budget:.0f}s budget" if config.time_budget else ""))
    with progress.search(config.trials, deadline, prep.metric, best_of(baselines, prep.metric, "baseline")):
        return run_search(space, problem, trials=config.trials, deadline=deadline, seed=config.seed,
                          on_start=on_start, on_trial=on_trial)


def _refit(win: TrialRecord, prep: Prepared, seed: int) -> tuple[Any, Any, float, float]:
    """Refit the winner on train+validation; score it once on the test rows.

    Returns the model, its preprocessor, the test score and the seconds spent fitting.
    """
    split = prep.split
    fit_rows = pd.concat([split.train, split.val], ignore_index=True)
    problem, preprocessor = make_problem(fit_rows, split.test, prep.profile, prep.codec, prep.metric, seed)
    if win.kind == "baseline":
        record, model = fit_baseline(win.family, problem)  # its "val_score" is on the score rows: the test split
        if record.state is not State.COMPLETE:
            raise AutosearchError(f"refitting the winner {win.name} failed ({record.error})")
        return model, preprocessor, record.val_score, record.fit_seconds
    from autosearch.training import predict_network, train_network
    result = train_network(win.params, prep.space, problem, seed=seed + (win.number or 0),
                           epochs=win.best_epoch + 1)
    if result.state is not State.COMPLETE:
        raise AutosearchError(f"refitting the winner {win.name} failed ({result.error})")
    test_score = problem.score(predict_network(result.model, problem))
    return result.model, preprocessor, test_score, result.fit_seconds


def _finish(records: list[TrialRecord], prep: Prepared, config: RunConfig, tracker, progress: Progress,
            started: float, timings: dict[str, float]) -> FitResult:
    """Refit and test the winner, save the bundle and the leaderboard, close the parent run."""
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
    bundle = save_bundle(output / "model", preprocessor=preprocessor, codec=prep.codec, model=model,
                         is_network=win.kind == "nn", meta={
                             "task": prof.task.value, "targets": list(prof.targets),
                             "classes": [str(c) for c in prep.codec.classes_], "metric": metric.name,
                             "input_schema": {"numeric": list(prof.numeric), "categorical": list(prof.categorical),
                                              "dtypes": {c: str(prep.split.train[c].dtype) for c in prof.features}},
                             "winner": summary["winner"], "test_score": test_score,
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
        "kind": prof.kind, "metric": metric.name, "metric_reason": prep.metric_reason,
        "greater_is_better": metric.greater_is_better, "class_ratio": prep.problem.class_ratio,
        "class_weight_searched": any("class_weight" in r.params for r in records if r.kind == "nn"),
        "winner": {"name": win.name, "kind": win.kind, "family": win.family, "params": dict(win.params),
                   "val_score": win.val_score},
        "test_score": test_score,
        "best_nn": _brief(best_of(records, metric, "nn")),
        "best_baseline": _brief(best_of(records, metric, "baseline")),
        "trials": {s.value: sum(r.kind == "nn" and r.state is s for r in records) for s in State},
        "trial_fit_seconds": round(sum(r.fit_seconds for r in records if r.kind == "nn"), 2),
        "profile": prof.as_dict(), "space": prep.space.as_dict(),
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
