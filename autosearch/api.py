"""`fit`, `resume` and `predict`: the only place the steps are wired together; also the Python API.

A fit runs in a run folder (runs.py). The process that owns the folder — the *chief* — fits the
baselines, runs trials and writes the results; it starts a new run or resumes one. Any other process
given the same folder (or the same `--storage` and `--study`) joins the run as a *worker*, where the engine
can share a search: it runs trials and leaves the results to the chief.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch import warm_start
from autosearch.config import RunConfig, make_config
from autosearch.data.kinds import DataKind
from autosearch.engines.base import SearchSetup, engine_class
from autosearch.ensemble import ensemble_of, networks_set_aside
from autosearch.errors import AutosearchError, StorageFault, storage_fault
from autosearch.leaderboard import best_of
from autosearch.models import precision
from autosearch.prepare import Prepared, prepare
from autosearch.progress import Progress, format_score
from autosearch.records import PORTFOLIO_MARK as PORTFOLIO
from autosearch.records import STACK_FAMILY as STACK
from autosearch.records import CandidateKind, State, TrialRecord, WarmConfig
from autosearch.redact import redact
from autosearch.restart import Restart
from autosearch.results import FitResult, finish
from autosearch.run_context import RunContext
from autosearch.runs import DEFAULT_STUDY, FolderLock, RunState, default_storage, fingerprint, spaces_fingerprint
from autosearch.serving.bundle import Bundle, is_model_uri, versions
from autosearch.stacking import stack_of
from autosearch.stopping import Stop
from autosearch.summary import RunSummary
from autosearch.trial_runner import TrialRunner
from autosearch.trial_store import BAG, PARENT_RUN_ID, TrialStore

JOIN_WAIT_SECONDS = 120  # how long a worker waits for the chief to open the MLflow parent run

__all__ = ["FitResult", "fit", "leaderboard", "predict", "report", "resume", "run_fit", "test_candidate"]


def fit(data: str | Path | pd.DataFrame, target: str | list[str] | None = None, **options: Any) -> FitResult | None:
    """Search for the best model of `target` in `data`: a CSV/TSV/Parquet file, an .npz of arrays, a folder
    of images in class subfolders, or a DataFrame.

    Options are those of `autosearch fit` (``trials``, ``time_budget``, ``task``, ``kind``, ``metric``,
    ``space``, ``test``, ``output``, ``experiment``, ``tracking_uri``, ``seed``, ``max_epochs``, ``time``,
    ``no_time``, ``groups``, ``storage``, ``study``, ``baselines``, ``engine`` and the engine's own options such as
    ``tuner`` or ``concurrency``, ``mixed_precision``, ``quiet``; a forecast's ``horizon``, ``series`` (--id),
    ``backtests``, ``known`` (covariates known ahead, a list) and ``quantiles`` (levels, a list); ``warm_start``:
    an earlier search's run folder, MLflow experiment or ``models:/NAME``, whose best configurations run first).
    Given an ``output`` folder that holds a run, it continues that run. Returns None in a worker process (another
    process owns the run and writes its results).
    """
    return run_fit(data, make_config(target=target, **options))


def resume(folder: str | Path, started: float | None = None, **changes: Any) -> FitResult | None:
    """Continue the run in `folder` as it was asked; `changes` may set trials, time_budget, quiet and where
    the trials run (the engine's resumable options, such as Ray's concurrency)."""
    folder = Path(folder)
    state = RunState.load(folder)
    if state is None:
        raise AutosearchError(f"'{folder}' holds no run (no run.json); pass the --output folder of a fit")
    if state.data is None:
        raise AutosearchError(f"the run in '{folder}' was fitted on a DataFrame; resume it from Python with "
                              f"autosearch.fit(frame, output='{folder}')")
    if "time_budget" in changes:
        changes["time_budget"] = make_config(time_budget=changes["time_budget"]).time_budget
    config = RunConfig.from_dict({**state.config, "output": str(folder), **changes})  # flat: engine options too
    return run_fit(state.data, config, started=started)


def report(folder: str | Path) -> Path:
    """(Re)write the report of a run folder and put it on the run's MLflow parent run; returns its path."""
    from autosearch import report as reports
    from autosearch.tracking import log_report, read_curves

    folder = Path(folder)
    summary = RunSummary.load(folder)
    state = RunState.load(folder)
    records = _records(folder, state) if state is not None else []  # without run.json: no Optuna views
    uri = state.tracking_uri if state is not None and state.tracking_uri else summary.tracking_uri  # unredacted
    page = reports.write(folder, summary, records, lambda run_ids: read_curves(uri, run_ids))
    log_report(uri, summary.mlflow_run_id, page, folder / reports.IMAGES_FOLDER)
    return page


def leaderboard(folder: str | Path) -> tuple[pd.DataFrame, RunSummary]:
    """A run folder's leaderboard and summary."""
    summary = RunSummary.load(Path(folder))
    return pd.read_csv(Path(folder) / "leaderboard.csv"), summary


def test_candidate(folder: str | Path, name: str) -> float:
    """Refit the leaderboard candidate `name` of a finished run on train+validation and score it once on the
    run's test split, as the winner was (its score is in summary.json already).

    For comparisons made after the fact — the benchmark's "best network" when a baseline won. Choosing a
    model by these scores would be choosing on the test split: pick by validation score.
    """
    from autosearch.results import refit

    folder = Path(folder)
    RunSummary.load(folder)
    state = RunState.load(folder)
    if state.data is None:
        raise AutosearchError(f"the run in '{folder}' was fitted on a DataFrame; its data cannot be read again")
    config = RunConfig.from_dict({**state.config, "output": str(folder)})
    store = state.trial_store(folder)
    try:
        records = {r.name: r for r in store.records() if r.state is State.COMPLETE}
        if name not in records:
            raise AutosearchError(f"'{folder}' has no completed candidate named '{name}'; see "
                                  f"`autosearch leaderboard {folder}`")
        if records[name].family == STACK:
            raise AutosearchError(f"'{name}' is a stacker, scored on test when it was the pick (summary.json); "
                                  "refit its members by name")
        weights = dict(records[name].params) if records[name].kind is CandidateKind.ENSEMBLE else {name: 1.0}
        prep = prepare(state.data, config, Progress(quiet=True))
        with precision(config.mixed_precision):  # refitted as it was trained
            refitted = refit([records[n] for n in weights], prep, config.seed, fold_models=store.fold_models)
    finally:
        store.close()
    if refitted.failed:
        failed, error = next(iter(refitted.failed.items()))
        raise AutosearchError(f"refitting {failed} on train+validation failed ({error})")
    return refitted.score(weights)


def _records(folder: Path, state: RunState) -> list[TrialRecord]:
    """Every candidate of the run in `folder`, from its TrialStore."""
    store = state.trial_store(folder)
    try:
        return store.records()
    finally:
        store.close()


def predict(model: str | Path, data: str | Path | pd.DataFrame, tracking_uri: str | None = None) -> pd.DataFrame:
    """Predictions of a saved model for the samples of `data` (in any form `fit` takes). `model`: a bundle
    folder (`model/` in a fit's output), or an MLflow model URI (`models:/NAME@champion`, `runs:/ID/model`) read
    from `tracking_uri` (default: MLflow's)."""
    if is_model_uri(model):
        from autosearch.serving.mlflow_model import load_bundle
        return load_bundle(str(model), tracking_uri).predict(data)
    return Bundle.load(model).predict(data)


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
        state.check_same_search(config, sha256, prep.output, spaces_fingerprint(prep.spaces))
    warm = _warm_start(config, prep, progress) if state is None and config.warm_start else ()
    after = _portfolio(config, prep, progress) if state is None and not config.warm_start else ()

    from autosearch.tracking import Tracker  # MLflow is slow to import: only once the input is known good
    lock = FolderLock(prep.output)
    try:
        tracker = Tracker(config.tracking_uri or (state.tracking_uri if state else None),
                          config.experiment or (state.experiment if state else None) or prep.name)
        chief = lock.acquire()
    except Exception as error:  # the MLflow store or the run folder refused its first write
        what = storage_fault(error)
        if what is None:
            raise
        lock.release()
        again = f"autosearch resume {prep.output}" if state is not None else "the same command again"
        raise StorageFault(f"{what}: the run could not start; free space or make '{prep.output}' and the MLflow "
                           f"store writable, then run {again}") from None
    sitting = None
    try:
        with stop.on_signals(progress.say), precision(config.mixed_precision):
            sitting = Sitting(config, prep, state, tracker, lock, stop, progress, started, chief, warm, after)
            return sitting.run(data, sha256)
    except Restart as again:
        again.lock = lock.hand_over()  # the fresh process keeps the run: no other process slips in between
        raise
    except Exception as error:
        what = storage_fault(error)
        if what is None or isinstance(error, AutosearchError):
            raise
        if sitting is not None:
            sitting.interrupted()
        raise StorageFault(f"{what}: the run stopped, and what it finished is kept; free space or make "
                           f"'{prep.output}' writable, then continue it with: autosearch resume {prep.output}") \
            from None
    finally:
        if sitting is not None:
            sitting.store.close()
        lock.release()


class Sitting:
    """One process's part in a run: the chief's (a new run, or a resumed one) or a worker's.

    It keeps the run's lifecycle — run.json, the MLflow parent run, the baselines, the order of the steps —
    and leaves proposing trials to the engine and running them to the TrialRunner; the candidates live in
    the run's TrialStore.
    """

    def __init__(self, config: RunConfig, prep: Prepared, state: RunState | None, tracker, lock: FolderLock,
                 stop: Stop, progress: Progress, started: float, chief: bool, warm: tuple[WarmConfig, ...] = (),
                 after: tuple[WarmConfig, ...] = ()):
        from autosearch.models import load_keras

        load_keras()  # first, so that importing an engine's library does not bring TensorFlow's start-up chatter
        self.config, self.prep, self.state, self.tracker = config, prep, state, tracker
        self.lock, self.stop, self.progress, self.started, self.chief = lock, stop, progress, started, chief
        self.storage = config.storage or (state.storage if state else None)  # None: the folder's own database
        self.study_name = config.study or (state.study_name if state else DEFAULT_STUDY)
        url = self.storage or default_storage(prep.output)  # as RunState.storage_url, before run.json exists
        self.store = TrialStore(url, self.study_name)
        # The chief leads a run it resumes, or one it is the first to start (on a shared --storage the others
        # join it as workers); workers sample with their own seed.
        self.leads = chief and (state is not None or self.store.claim())
        # the configurations a warm start or the portfolio chose when the run began are kept in its database (to
        # mark the trials they become); a worker marks them once it has joined (`work`)
        marked = ()
        if self.leads:
            marked = warm_start.kept(self.store)
            if not marked and (warm or after):
                marked = (*warm, *after)
                warm_start.keep(self.store, marked)
        warm = tuple(c for c in marked if not c.source.startswith(PORTFOLIO))  # as kept: keras-tuner's resumed
        after = tuple(c for c in marked if c.source.startswith(PORTFOLIO))  # oracle queues them again
        # A warm start's sampler draws its own random first trials: with the earlier search's seed it drew that
        # search's again (3 of digits' first 10 trials repeated configurations its source had tried).
        seed = _seed(config.seed + (warm_start.SEED_OFFSET if warm else 0), self.leads)
        setup = SearchSetup(prep.output, url, self.study_name, prep.spaces, prep.folds, seed, warm, after)
        self.engine = engine_class(config.engine)(config.engine_options, setup)
        stop.wind_down = self.engine.wind_down_seconds
        self.runner = TrialRunner(prep.folds, prep.spaces, seed, stop, tracker, self.store, progress,
                                  system_metrics=config.system_metrics)
        self.runner.warm = marked

    def run(self, data, sha256: str) -> FitResult | None:
        if not self.leads and not self.engine.shares_search:
            one = f"the {self.config.engine} engine searches in one process"
            if not self.chief:
                raise AutosearchError(f"{self.lock.holder()} is running the search in '{self.prep.output}'; {one}: "
                                      "wait for it, or pass a new --output")
            raise AutosearchError(f"study '{self.study_name}' in --storage belongs to another run; {one}: pass "
                                  "another --study")
        if not self.leads:
            return self.work()
        self.engine.open()
        self._open_run(data, sha256)
        return self._lead()

    def interrupted(self) -> None:
        """Say in run.json that this sitting was stopped by a fault (best effort: the disk may be what failed)."""
        if self.leads and self.state is not None:
            self.state.status = "interrupted"
            self._save_count()

    def _save_count(self) -> None:
        """run.json's count of the trials the database holds (`RunState.check_trials`); best effort when a sitting
        ends early: the database or the disk may be what failed."""
        try:
            self.state.trials_done = self.store.count()
            self.state.save(self.prep.output)
        except Exception:
            pass

    def _open_run(self, data, sha256: str) -> None:
        """run.json and the MLflow parent run: made for a new run, reopened for a resumed one."""
        config, prep, tracker = self.config, self.prep, self.tracker
        if self.state is None:  # written first: from here on a crash leaves a folder that resumes
            path = None if isinstance(data, pd.DataFrame) else str(Path(data).resolve())
            self.state = RunState(config.as_dict(), path, sha256, self.storage, self.study_name,
                                  tracker.tracking_uri, tracker.experiment,
                                  spaces_sha256=spaces_fingerprint(prep.spaces), folder=str(prep.output.resolve()),
                                  folds=prep.folds.k)
            self.state.save(prep.output)
        if self.state.parent_run_id is None:
            tracker.start_parent(_parent_name(prep), _run_params(config, prep, sha256, self.engine), _run_tags(prep))
            self.state.parent_run_id = tracker.parent_id
            self.store.set(PARENT_RUN_ID, tracker.parent_id)
        else:
            moved = self.state.check_place(prep.output)
            self.state.check_trials(self.store.count(), prep.output)
            if moved:
                self.progress.say(moved)
            self.state.folder = str(prep.output.resolve())
            tracker.resume_parent(self.state.parent_run_id)
            self.progress.say(f"resuming the run in {prep.output}: {self.store.count()} {_of(config)} trials done")
            self.engine.recover(self.runner)
            tracker.fail_orphans(self.engine.in_flight(), "its process died before its trial ended")
        asked = config.as_dict()  # a later `resume` continues as this sitting was asked
        kept = ("trials", *config.engine_options.resumable)
        self.state.config = {**self.state.config, **{k: asked[k] for k in kept}}
        self.state.save(prep.output)

    def _lead(self) -> FitResult:
        """The chief's sitting: baselines, trials (waiting for any workers), then the results."""
        config, prep, stop = self.config, self.prep, self.stop
        timings = {"prepare": time.monotonic() - self.started}
        try:
            mark = time.monotonic()
            baselines = self._baselines()
            timings["baselines"] = time.monotonic() - mark
            mark = time.monotonic()
            self._search(baselines, lead=True)
            timings["search"] = time.monotonic() - mark
            self._restart_if_asked(["resume", str(prep.output.resolve()), *self._sitting_flags()])
            mark = time.monotonic()
            self._bag()
            timings["bagging"] = time.monotonic() - mark
            trials = self.store.records(CandidateKind.NETWORK) + self.store.records(BAG)
            mark = time.monotonic()
            ensemble, aside = self._ensemble(baselines + trials)
            timings["ensemble"] = time.monotonic() - mark
            short = stop.signal_name or (config.capped and len(trials) < config.trial_cap)  # a budget alone: done
            cut_short = stop.why if stop.requested and short else None
            run = RunContext(config, prep, self.tracker, self.progress, stop, self.store, self.started,
                             self.state.data_sha256)
            result = finish(run, baselines + trials + ensemble, timings, cut_short, aside)
        except Restart:  # a fresh process takes the run over: its MLflow run stays open
            raise
        except BaseException as error:  # the run stays resumable; its parent run says it did not finish
            self.tracker.abort_parent("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
            self._save_count()
            raise
        self.state.status = "cut_short" if cut_short else "finished"
        self.state.trials_done = self.store.count()
        self.state.save(prep.output)
        if cut_short:
            self.progress.say(f"sweep cut short ({cut_short}) after {len(trials)} {_of(config)} trials; "
                              f"results are written; resume with: autosearch resume {prep.output}")
        return result

    def work(self) -> None:
        """A worker's sitting: join the run another process owns, run trials under its parent run. It opens the
        engine once the chief has (the chief's parent run begins after): the chief creates the study, with its
        first trials."""
        deadline = time.monotonic() + JOIN_WAIT_SECONDS
        while (parent := self.store.get(PARENT_RUN_ID)) is None:
            if time.monotonic() > deadline:
                raise AutosearchError(f"study '{self.study_name}' has no chief after {JOIN_WAIT_SECONDS} s; "
                                      "start the first process without other workers, then add them")
            time.sleep(1.0)
        self.engine.open()
        self.tracker.join_parent(parent)
        self.runner.warm = warm_start.kept(self.store)  # kept before the parent run began: mark the trials it runs
        self.progress.say(f"joining study '{self.study_name}' as a worker (the run belongs to "
                          f"{self.lock.holder()}); it writes the results")
        self._search([], lead=False)
        self._restart_if_asked(sys.argv[1:])  # as it was started: it joins the run again
        self.progress.say(f"worker done: the run holds {self.store.count()} {_of(self.config)} trials")
        return None

    def _restart_if_asked(self, args: list[str]) -> None:
        """Hand the run to a fresh process running `autosearch ARGS` (`autosearch.restart`) when this one grew too
        much and trials are left to run; when the search ended anyway, this process finishes it."""
        stop = self.stop
        if stop.restart is None or stop.signal_name is not None or stop.budget_spent \
                or self.store.count() >= self.config.trial_cap:
            return
        self._save_count()
        self.progress.say(f"{stop.restart}: restarting the process to release it; the run goes on")
        raise Restart(args)

    def _sitting_flags(self) -> list[str]:
        """`resume`'s flags that continue this sitting as it was asked: its budget (which may differ from the
        run's first) and --quiet."""
        budget, flags = self.config.time_budget, []
        if budget is not None:
            flags += ["--time-budget", f"{budget:g}s"]
        if self.config.quiet:
            flags.append("--quiet")
        return flags

    def _baselines(self) -> list[TrialRecord]:
        """The classical candidates, within their share of the budget (budget.py): those fitted in an earlier
        sitting are kept, the others fitted now."""
        from autosearch.budget import PLAN_KEY, Line, Plan, classical_seconds, fit_classical

        stop, problem, config = self.stop, self.prep.problem, self.config
        records = self.store.records(CandidateKind.BASELINE)
        fitted = {r.name for r in records}
        todo = [n for n in self.prep.classical if n not in fitted]
        share = classical_seconds(stop.deadline, self.started, config.time_budget, problem.kind is not DataKind.TABULAR)
        networks = None if share is None else max(stop.deadline - time.monotonic() - share, 0.0)
        fold_rows = len(self.prep.folds.splits[0][0])
        plan = Plan(config.time_budget, share, networks,
                    tuple(Line(r.name, "earlier", fold_rows, fold_rows, outcome="complete") for r in records))
        if todo:
            self.progress.say(plan.shown())
            self.progress.say(f"fitting the classical candidates: {', '.join(todo)}")
        for record, predictions, line in fit_classical(todo, self.prep.folds, share, stop.reason):
            plan = plan.with_line(line)
            self.store.set(PLAN_KEY, plan.to_json())
            if record is None:
                self.progress.say(f"  baseline {line.name}: skipped ({line.why})")
                continue
            records.append(self.tracker.log_candidate(record))
            self.store.save(records[-1], predictions)
            self.progress.say(f"  baseline {record.name}: {_outcome(record, problem.metric.name)}, "
                              f"{record.fit_seconds:.2f}s" + (f"; {line.what()}" if line.action == "sample" else ""))
        for record in records:
            stop.expect_refit(record, problem.metric.greater_is_better)
        return records

    def _ensemble(self, candidates: list[TrialRecord]) -> tuple[list[TrialRecord], str | None]:
        """The ensemble selected over the candidates' out-of-fold predictions, logged and stored (none where no
        blend of two or more candidates scores better than the best one alone), and why the networks may not be
        the pick, if they may not (`ensemble.networks_set_aside`: the ensemble is then of the others)."""
        predictions, folds = self.store.predictions(), self.prep.folds
        ensemble = ensemble_of(candidates, predictions, folds)
        aside = networks_set_aside(candidates + ([ensemble] if ensemble else []), predictions, folds)
        if aside is not None:
            self.progress.say(f"{aside}: the pick is among the classical forecasters")
            ensemble = ensemble_of([r for r in candidates if r.kind is not CandidateKind.NETWORK], predictions, folds)
        made = []
        if ensemble is not None:
            ensemble = self.tracker.log_candidate(ensemble)
            self.store.save(ensemble)
            weights = ", ".join(f"{name} {weight:.2f}" for name, weight in ensemble.params.items())
            self.progress.say(f"ensemble: val {self.prep.metric.name} {format_score(ensemble.val_score)} ({weights})")
            made.append(ensemble)
        shuffled = self._shuffled() and self.prep.profile.groups is None
        stacked = stack_of(candidates + made, predictions, folds, self.config.seed, shuffled) if aside is None else None
        if stacked is not None:
            stacker, outputs, said = stacked
            self.progress.say(said)
            if stacker is not None:
                made.append(self.tracker.log_candidate(stacker))
                self.store.save(made[-1], outputs)
        for stale in {"ensemble", STACK} - {r.name for r in made}:  # an earlier sitting's, not made again
            self.store.drop(stale)
        return made, aside

    def _bag(self) -> None:
        """With time left once the search is over (its trial cap reached inside a time budget, or settled:
        `stopping.settled`), the best networks bagged again over new fold splits of shuffled cross-validation
        (`bagging.py`), each a candidate logged and stored with its fold models."""
        from autosearch.bagging import REPEAT_SEED, bag_best
        from autosearch.data.split import fold_rows

        prep, config, stop = self.prep, self.config, self.stop
        if stop.settled and not stop.budget_spent and not stop.signal_name and not stop.restart:
            self.progress.say(stop.settled)
            stop.settled = None
        if config.time_budget is None or stop.requested or not self._repeatable():
            return
        dev, k = prep.split.train + prep.split.val, prep.folds.k

        def splits(repeat: int) -> tuple:
            return fold_rows(dev, len(prep.split.train), k, config.seed + repeat * REPEAT_SEED,
                             prep.profile.task.single_label)[0]

        def save(bagged) -> None:
            record = self.tracker.log_candidate(bagged.record)
            self.store.save(record, bagged.predictions)
            self.store.keep_fold_models(record.name, bagged.weights)
            stop.expect_refit(record, prep.metric.greater_is_better, kept=True)

        bag_best(self.store.records(CandidateKind.NETWORK) + self.store.records(BAG), prep.folds, self.store,
                 prep.space, splits, config.seed, stop, self.progress.say, save)

    def _repeatable(self) -> bool:
        """Whether the folds can be split again for bagging (`bagging.can_repeat`)."""
        from autosearch.bagging import can_repeat

        split = self.prep.split
        groups = None if split.train.groups is None else len(set(split.train.groups) | set(split.val.groups))
        return can_repeat(self.prep.folds, self._shuffled(), groups)

    def _shuffled(self) -> bool:
        """Whether the samples were split at random: not in time order, nor a forecast's backtests."""
        return self.prep.profile.time is None and self.prep.profile.forecast is None

    def _search(self, baselines: list[TrialRecord], lead: bool) -> None:
        from autosearch.budget import trial_seconds
        from autosearch.stopping import LONG_BUDGET

        prep, config, stop, progress = self.prep, self.config, self.stop, self.progress
        # a long budget's search ends once it settles, for its best networks to be bagged (`bagging.settled`)
        stop.settles = (config.time_budget or 0) >= LONG_BUDGET and self._repeatable()
        done, kept = self.store.records(CandidateKind.NETWORK), self.store.kept()
        for record in done:  # trials of earlier sittings: their refit must fit the budget too
            stop.expect_refit(record, prep.metric.greater_is_better, kept=record.name in kept)
        families = " / ".join(s.family for s in prep.spaces)
        cap = f"up to {config.trial_cap} trials" if config.capped else "trials until the budget is spent"
        each = self.runner.trial_seconds = trial_seconds(stop.deadline)
        progress.say(f"searching {families} networks with {self.engine.describe()}: {cap}"
                     + (f", {config.time_budget:.0f}s budget" if config.time_budget else "")
                     + (f" (past each family's first trial, a trial trains at most {each:.0f}s)" if each else ""))
        reference = best_of(baselines, prep.metric, CandidateKind.BASELINE)
        with progress.search(config.trial_cap if config.capped else None, lambda: stop.deadline, prep.metric, reference,
                             done=done):
            self.engine.search(self.runner, config.trial_cap, stop, lead)


def _outcome(record: TrialRecord, metric: str) -> str:
    """A classical candidate's outcome in a few words: its score, or why it has none."""
    if record.state is State.COMPLETE:
        return f"val {metric} {format_score(record.val_score)}"
    return record.note if record.state is State.PRUNED else f"failed: {record.error}"


def _run_params(config: RunConfig, prep: Prepared, sha256: str, engine) -> dict:
    prof = prep.profile
    return {
        "data": prep.name, "data_sha256": sha256, "target": ",".join(prof.targets), "task": prof.task_name,
        "kind": prof.kind.value, "metric": prep.metric.name, "rows": prof.n_rows, "columns": prof.n_columns,
        "sample_shape": "x".join(map(str, prof.sample_shape)) or None,
        "features_numeric": len(prof.numeric), "features_categorical": len(prof.categorical),
        "features_text": len(prof.text), "features_dates": len(prof.dates), "seed": config.seed,
        "trials": config.trials,
        "time_budget_s": config.time_budget, "families": ",".join(s.family for s in prep.spaces),
        "spaces": ",".join(s.source for s in prep.spaces), "max_epochs": max(s.max_epochs for s in prep.spaces),
        "engine": config.engine, **engine.params(), "mixed_precision": config.mixed_precision,
        "system_metrics": config.system_metrics,
    }


def _parent_name(prep: Prepared) -> str:
    """The parent run's name in the runs table: the data, the target and when, e.g.
    "penguins.csv → species 2026-11-30 16:05" (two fits of one file on different targets read apart)."""
    return f"{prep.name} → {', '.join(prep.profile.targets)} {time.strftime('%Y-%m-%d %H:%M')}"


def _run_tags(prep: Prepared) -> dict[str, str]:
    prof = prep.profile
    return {
        "autosearch.output": str(prep.output.resolve()),
        "autosearch.task": prof.task_name, "autosearch.task_reason": prof.task_reason,
        "autosearch.kind_reason": prof.kind_reason, "autosearch.target_reason": prof.target_reason,
        "autosearch.metric_reason": prep.metric_reason, "autosearch.command": redact(" ".join(sys.argv)),
        "autosearch.versions": " ".join(f"{k}={v}" for k, v in versions().items()),
    }


def _of(config: RunConfig) -> str:
    """'of 20' where a trial count ends the search; nothing where the budget does."""
    return f"of {config.trial_cap}" if config.capped else "(no trial cap)"


def _warm_start(config: RunConfig, prep: Prepared, progress: Progress) -> tuple[WarmConfig, ...]:
    """The configurations a new run tries first (`--warm-start`), chosen before anything of the run is written:
    a source that names nothing is refused while the folder is still as it was."""
    problem = prep.folds.first
    configs, notes = warm_start.warm_configs(config.warm_start, prep.spaces, problem.context,
                                             problem.metric.greater_is_better, config.tracking_uri)
    progress.say(f"warm start from {config.warm_start}: {len(configs)} configurations run first, best first "
                 f"({', '.join(c.source.rsplit(': ', 1)[-1] for c in configs)})")
    for note in notes[:warm_start.NOTES_SHOWN]:
        progress.say(f"  {note}")
    if len(notes) > warm_start.NOTES_SHOWN:
        progress.say(f"  … and {len(notes) - warm_start.NOTES_SHOWN} more changes of the same kind")
    return configs


def _portfolio(config: RunConfig, prep: Prepared, progress: Progress) -> tuple[WarmConfig, ...]:
    """The configurations of the kind's portfolio (`autosearch.portfolio`) a new run tries after each family's
    defaults: none with --space files."""
    if config.spaces:
        return ()
    from autosearch.portfolio import portfolio, portfolio_path

    configs = portfolio(prep.profile.kind.value, prep.spaces, prep.folds.first.context)
    if configs:
        progress.say(f"portfolio: {len(configs)} configurations run after each family's defaults "
                     f"({portfolio_path(prep.profile.kind.value).name}, learnt on other datasets)")
    return configs


def _seed(seed: int, leads: bool) -> int:
    """Workers sample with their own seed, or every process would propose the same trials."""
    return seed if leads else (seed * 1_000_003 + os.getpid()) % (2 ** 31)
