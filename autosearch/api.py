"""`fit`, `resume` and `predict`: the only place the steps are wired together; also the Python API.

A fit runs in a run folder (runs.py). The process that owns the folder — the *chief* — fits the
baselines, runs trials and writes the results; it starts a new run or resumes one. Any other process
given the same folder (or the same `--storage` and `--study`) joins the study as a *worker*: it runs
trials and leaves the results to the chief.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch.baselines import families_for, fit_baseline
from autosearch.bundle import Bundle, versions
from autosearch.config import RunConfig, make_config
from autosearch.errors import AutosearchError
from autosearch.leaderboard import best_of
from autosearch.models import precision
from autosearch.prepare import Prepared, prepare
from autosearch.progress import Progress, format_score
from autosearch.records import State, TrialRecord
from autosearch.results import FitResult, finish
from autosearch.runs import RESOURCES, FolderLock, RunState, config_from_dict, config_to_dict, fingerprint
from autosearch.stopping import Stop

DEFAULT_STUDY = "autosearch"
JOIN_WAIT_SECONDS = 120  # how long a worker waits for the chief to open the MLflow parent run

__all__ = ["FitResult", "fit", "leaderboard", "predict", "report", "resume", "run_fit", "test_candidate"]


def fit(data: str | Path | pd.DataFrame, target: str | list[str] | None = None, **options: Any) -> FitResult | None:
    """Search for the best model of `target` in `data`: a CSV/TSV/Parquet file, an .npz of arrays, a folder
    of images in class subfolders, or a DataFrame.

    Options are those of `autosearch fit` (``trials``, ``time_budget``, ``task``, ``kind``, ``metric``,
    ``space``, ``test``, ``output``, ``experiment``, ``tracking_uri``, ``seed``, ``max_epochs``, ``storage``,
    ``study``, ``quiet``). Given an ``output`` folder that holds a run, it continues that run. Returns
    None in a worker process (another process owns the run and writes its results).
    """
    return run_fit(data, make_config(target=target, **options))


def resume(folder: str | Path, started: float | None = None, **changes: Any) -> FitResult | None:
    """Continue the run in `folder` as it was asked; `changes` may set trials, time_budget or quiet."""
    folder = Path(folder)
    state = RunState.load(folder)
    if state is None:
        raise AutosearchError(f"'{folder}' holds no run (no run.json); pass the --output folder of a fit")
    if state.data is None:
        raise AutosearchError(f"the run in '{folder}' was fitted on a DataFrame; resume it from Python with "
                              f"autosearch.fit(frame, output='{folder}')")
    config = config_from_dict({**state.config, "output": str(folder)})
    if "time_budget" in changes:
        changes["time_budget"] = make_config(time_budget=changes["time_budget"]).time_budget
    return run_fit(state.data, RunConfig(**{**config.__dict__, **changes}), started=started)


def report(folder: str | Path) -> Path:
    """(Re)write the report of a run folder and put it on the run's MLflow parent run; returns its path."""
    from autosearch import report as reports
    from autosearch.tracking import log_report, read_curves

    folder = Path(folder)
    summary = _finished_summary(folder)
    page = reports.write(folder, lambda run_ids: read_curves(summary["tracking_uri"], run_ids))
    log_report(summary["tracking_uri"], summary["mlflow_run_id"], page, folder / reports.IMAGES_FOLDER)
    return page


def leaderboard(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """A run folder's leaderboard and summary."""
    summary = _finished_summary(Path(folder))
    return pd.read_csv(Path(folder) / "leaderboard.csv"), summary


def test_candidate(folder: str | Path, name: str) -> float:
    """Refit the leaderboard candidate `name` of a finished run on train+validation and score it once on the
    run's test split, as the winner was (its score is in summary.json already).

    For comparisons made after the fact — the benchmark's "best network" when a baseline won. Choosing a
    model by these scores would be choosing on the test split: pick by validation score.
    """
    from autosearch.engines import engine_for
    from autosearch.results import refit

    folder = Path(folder)
    _finished_summary(folder)
    state = RunState.load(folder)
    if state.data is None:
        raise AutosearchError(f"the run in '{folder}' was fitted on a DataFrame; its data cannot be read again")
    config = config_from_dict({**state.config, "output": str(folder)})
    prep = prepare(state.data, config, Progress(quiet=True))
    engine = engine_for(config, prep.output)
    study = engine.open_study(state.storage, state.study_name, prep.problem, config.seed, lambda *_: None)[0]
    candidates = [TrialRecord.from_dict(r) for r in state.baselines] + engine.records(study)
    found = [r for r in candidates if r.name == name and r.state is State.COMPLETE]
    if not found:
        raise AutosearchError(f"'{folder}' has no completed candidate named '{name}'; see "
                              f"`autosearch leaderboard {folder}`")
    with precision(config.mixed_precision):  # refitted as it was trained
        return refit(found[0], prep, config.seed).test_score


def _finished_summary(folder: Path) -> dict:
    import json

    path = folder / "summary.json"
    if not path.exists():
        hint = ("it holds a run that has not written results yet: `autosearch resume` finishes it"
                if (folder / "run.json").exists() else "pass the --output folder of a fit")
        raise AutosearchError(f"'{folder}' has no summary.json; {hint}")
    return json.loads(path.read_text())


def predict(model_dir: str | Path, data: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Predictions of a saved bundle for the samples of `data` (in any form `fit` takes)."""
    return Bundle.load(model_dir).predict(data)


def run_fit(data: str | Path | pd.DataFrame, config: RunConfig, progress: Progress | None = None,
            started: float | None = None) -> FitResult | None:
    """One sitting of a fit: `started` (time.monotonic) is when the budget started, by default now."""
    started = time.monotonic() if started is None else started
    progress = progress or Progress(config.quiet)
    stop = Stop(None if config.time_budget is None else started + config.time_budget)
    prep = prepare(data, config, progress)
    state = RunState.load(prep.output)
    sha256 = fingerprint(data)
    if state is not None:
        state.check_same_search(config, sha256, prep.output)

    from autosearch.tracking import Tracker  # MLflow is slow to import: only once the input is known good
    tracker = Tracker(config.tracking_uri or (state.tracking_uri if state else None),
                      config.experiment or (state.experiment if state else None) or prep.name)
    lock = FolderLock(prep.output)
    chief = lock.acquire()
    try:
        with stop.on_signals(progress.say), precision(config.mixed_precision):
            sitting = Sitting(config, prep, state, tracker, lock, stop, progress, started)
            return sitting.run(data, sha256, chief)
    finally:
        lock.release()


class Sitting:
    """One process's part in a run: the chief's (a new run, or a resumed one) or a worker's."""

    def __init__(self, config: RunConfig, prep: Prepared, state: RunState | None, tracker, lock: FolderLock,
                 stop: Stop, progress: Progress, started: float):
        from autosearch.models import load_keras

        load_keras()  # first, so that importing the engine does not bring TensorFlow's start-up chatter
        from autosearch.engines import engine_for

        self.engine = engine_for(config, prep.output)
        self.config, self.prep, self.state, self.tracker = config, prep, state, tracker
        self.lock, self.stop, self.progress, self.started = lock, stop, progress, started
        self.storage = config.storage or (state.storage if state else self.engine.default_storage(prep.output))
        self.study_name = config.study or (state.study_name if state else DEFAULT_STUDY)

    def run(self, data, sha256: str, chief: bool) -> FitResult | None:
        if not chief and self.config.engine != "optuna":
            raise AutosearchError(f"{self.lock.holder()} is running the search in '{self.prep.output}'; the "
                                  f"{self.config.engine} engine searches in one process: wait for it, or pass a "
                                  "new --output")
        if not chief:
            return self.work()
        study, created = self.engine.open_study(self.storage, self.study_name, self.prep.problem, self.config.seed,
                                                self.on_lost)
        if self.state is None and not created:  # a shared --storage whose study another process started
            return self.work()
        self._open_run(study, created, data, sha256)
        return self._lead(study)

    def on_lost(self, trial, why: str) -> None:
        """A trial's process died: close its MLflow run as failed (Optuna has marked the trial)."""
        run_id = trial.user_attrs.get(self.engine.RUN_ID)
        if run_id:
            self.tracker.fail_run(run_id, f"lost: {why}")
        self.progress.say(f"  trial {trial.number} was lost ({why}); marked failed, it runs again")

    def _open_run(self, study, created: bool, data, sha256: str) -> None:
        """run.json and the MLflow parent run: made for a new run, reopened for a resumed one."""
        config, prep, tracker, engine = self.config, self.prep, self.tracker, self.engine
        if self.state is None:  # written first: from here on a crash leaves a folder that resumes
            path = None if isinstance(data, pd.DataFrame) else str(Path(data).resolve())
            self.state = RunState(config_to_dict(config), path, sha256, self.storage, self.study_name,
                                  tracker.tracking_uri, tracker.experiment)
            self.state.save(prep.output)
        if created:
            engine.enqueue_defaults(study, prep.spaces, prep.problem)
        if self.state.parent_run_id is None:
            tracker.start_parent(prep.output.name, _run_params(config, prep, sha256), _run_tags(prep))
            self.state.parent_run_id = tracker.parent_id
            study.set_user_attr(engine.PARENT_RUN_ID, tracker.parent_id)
        else:
            tracker.resume_parent(self.state.parent_run_id)
            self.progress.say(f"resuming the run in {prep.output}: {len(engine.records(study))} of "
                              f"{config.trials} trials done")
            engine.fail_lost_trials(study, self.on_lost)
            tracker.fail_orphans(engine.running_run_ids(study), "its process died before its trial started")
        asked = config_to_dict(config)  # a later `resume` continues as this sitting was asked
        self.state.config = {**self.state.config, **{k: asked[k] for k in ("trials", *RESOURCES)}}
        self.state.save(prep.output)

    def _lead(self, study) -> FitResult:
        """The chief's sitting: baselines, trials (waiting for any workers), then the results."""
        config, prep, stop = self.config, self.prep, self.stop
        timings = {"prepare": time.monotonic() - self.started}
        try:
            mark = time.monotonic()
            baselines = self._baselines()
            timings["baselines"] = time.monotonic() - mark
            mark = time.monotonic()
            self._search(study, baselines, chief=True)
            timings["search"] = time.monotonic() - mark
            trials = self.engine.records(study)
            cut_short = stop.why if stop.requested and len(trials) < config.trials else None
            result = finish(baselines + trials, prep, config, self.tracker, self.progress, self.started, timings,
                            cut_short)
        except BaseException as error:  # the run stays resumable; its parent run says it did not finish
            self.tracker.abort_parent("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            raise
        self.state.status = "cut_short" if cut_short else "finished"
        self.state.save(prep.output)
        if cut_short:
            self.progress.say(f"sweep cut short ({cut_short}) after {len(trials)} of {config.trials} trials; "
                              f"results are written; resume with: autosearch resume {prep.output}")
        return result

    def work(self) -> None:
        """A worker's sitting: join the study another process owns, run trials under its parent run."""
        engine = self.engine
        study = engine.open_study(self.storage, self.study_name, self.prep.problem,
                                  _seed(self.config.seed, chief=False), self.on_lost)[0]
        deadline = time.monotonic() + JOIN_WAIT_SECONDS
        while engine.PARENT_RUN_ID not in study.user_attrs:
            if time.monotonic() > deadline:
                raise AutosearchError(f"study '{self.study_name}' has no chief after {JOIN_WAIT_SECONDS} s; "
                                      "start the first process without other workers, then add them")
            time.sleep(1.0)
        self.tracker.join_parent(study.user_attrs[engine.PARENT_RUN_ID])
        self.progress.say(f"joining study '{self.study_name}' as a worker (the run belongs to "
                          f"{self.lock.holder()}); it writes the results")
        self._search(study, [], chief=False)
        self.progress.say(f"worker done: the study holds {len(engine.records(study))} of "
                          f"{self.config.trials} trials")
        return None

    def _baselines(self) -> list[TrialRecord]:
        """The baselines: those fitted in an earlier sitting are kept, the others fitted now."""
        prep, state, stop = self.prep, self.state, self.stop
        problem = prep.problem
        records = [TrialRecord.from_dict(r) for r in state.baselines]
        fitted = {r.family for r in records}
        for family in families_for(problem):
            if family in fitted or stop.requested:
                continue
            notes: list[str] = []
            record, _ = fit_baseline(family, problem, notes)
            records.append(self.tracker.log_candidate(record))
            state.baselines.append(records[-1].to_dict())
            state.save(prep.output)
            for note in notes:
                self.progress.say(note)
            shown = format_score(record.val_score) if record.state is State.COMPLETE else f"failed: {record.error}"
            self.progress.say(f"  baseline {family}: val {problem.metric.name} {shown}, {record.fit_seconds:.2f}s")
        for record in records:
            stop.expect_refit(record.fit_seconds)
        return records

    def _search(self, study, baselines: list[TrialRecord], chief: bool) -> None:
        engine, prep, config, stop, progress = self.engine, self.prep, self.config, self.stop, self.progress
        for record in engine.records(study):  # trials of earlier sittings: their refit must fit the budget too
            stop.expect_refit(_training_seconds(record))

        def on_start(name: str, family: str, params: dict) -> str:
            progress.trial_started(name)
            return self.tracker.start_candidate(name, "nn", family, params)

        def on_trial(record: TrialRecord, run_id: str, counted: bool) -> TrialRecord:
            self.tracker.end_candidate(run_id, record)
            record = record.with_run(run_id)
            stop.expect_refit(_training_seconds(record))
            progress.trial_finished(record, counted, study_done=engine.counts(study)[0] + counted)
            return record

        families = " / ".join(s.family for s in prep.spaces)
        how = {"optuna": "Optuna TPE", "keras-tuner": f"keras-tuner {config.tuner or 'hyperband'}",
               "ray": f"Ray Tune (Optuna TPE, {config.scheduler or 'asha'} scheduler)"}[config.engine]
        progress.say(f"searching {families} networks with {how}: up to {config.trials} trials"
                     + (f", {config.time_budget:.0f}s budget" if config.time_budget else ""))
        reference = best_of(baselines, prep.metric, "baseline")
        with progress.search(config.trials, stop.deadline, prep.metric, reference, done=engine.records(study)):
            engine.run_search(study, prep.spaces, prep.problem, trials=config.trials,
                              seed=_seed(config.seed, chief), stop=stop, on_start=on_start, on_trial=on_trial,
                              on_lost=self.on_lost, wait_for_others=chief)


def _run_params(config: RunConfig, prep: Prepared, sha256: str) -> dict:
    prof = prep.profile
    return {
        "data": prep.name, "data_sha256": sha256, "target": ",".join(prof.targets), "task": prof.task.value,
        "kind": prof.kind.value, "metric": prep.metric.name, "rows": prof.n_rows, "columns": prof.n_columns,
        "sample_shape": "x".join(map(str, prof.sample_shape)) or None,
        "features_numeric": len(prof.numeric), "features_categorical": len(prof.categorical),
        "features_text": len(prof.text), "seed": config.seed, "trials": config.trials,
        "time_budget_s": config.time_budget, "families": ",".join(s.family for s in prep.spaces),
        "spaces": ",".join(s.source for s in prep.spaces), "max_epochs": max(s.max_epochs for s in prep.spaces),
        "engine": config.engine, **({"tuner": config.tuner or "hyperband"} if config.engine == "keras-tuner" else {}),
        **({"scheduler": config.scheduler or "asha", "ray_address": config.ray_address or "local",
            "concurrency": config.concurrency or "auto", "cpus_per_trial": config.cpus_per_trial or 1,
            "gpus_per_trial": config.gpus_per_trial if config.gpus_per_trial is not None else "auto"}
           if config.engine == "ray" else {}),
        "mixed_precision": config.mixed_precision,
    }


def _run_tags(prep: Prepared) -> dict[str, str]:
    prof = prep.profile
    return {
        "autosearch.task": prof.task.value, "autosearch.task_reason": prof.task_reason,
        "autosearch.kind_reason": prof.kind_reason, "autosearch.target_reason": prof.target_reason,
        "autosearch.metric_reason": prep.metric_reason, "autosearch.command": " ".join(sys.argv),
        "autosearch.versions": " ".join(f"{k}={v}" for k, v in versions().items()),
    }


def _training_seconds(record: TrialRecord) -> float:
    """What refitting this candidate would take: its training time up to its best epoch."""
    if record.kind == "nn" and record.epochs and record.best_epoch is not None:
        return record.fit_seconds * (record.best_epoch + 1) / record.epochs
    return record.fit_seconds


def _seed(seed: int, chief: bool) -> int:
    """Workers sample with their own seed, or every process would propose the same trials."""
    return seed if chief else (seed * 1_000_003 + os.getpid()) % (2 ** 31)
