"""Search with Optuna: seeded TPE, median pruning on per-epoch validation scores, a persistent study.

The study lives in a database (the run folder's SQLite file by default), so a search survives its
process: every finished trial stores its record on the study, a resumed or parallel process picks up
where the study stands, and trials whose process died are marked failed and run again (at once when the
process was on this machine, else once Optuna's heartbeat goes stale).
"""

from __future__ import annotations

import time
import warnings
from typing import Callable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState
from optuna_integration import KerasPruningCallback

from autosearch.problem import Problem
from autosearch.records import State, TrialRecord
from autosearch.runs import default_storage, is_dead_here, worker_id
from autosearch.spaces import SearchSpace, starting_point, suggest_family
from autosearch.stopping import Stop
from autosearch.training import frozen_heap, train_network

# Heartbeats and fail_stale_trials have been "experimental" since Optuna 2.9; the warning is not the user's.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

name = "optuna"
__all__ = ["default_storage", "open_study", "enqueue_defaults", "records", "counts", "running_run_ids",
           "fail_lost_trials", "run_search"]
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60  # a trial whose heartbeat is this old belongs to a dead process
POLL_SECONDS = 2.0
RECORD = "autosearch.record"  # the trial's TrialRecord, set when it has run; a trial counts once it has one
WORKER = "autosearch.worker"  # host:pid:start of the process running it
RUN_ID = "autosearch.mlflow_run_id"
PARENT_RUN_ID = "autosearch.parent_run_id"  # on the study: the MLflow run every worker logs under

Lost = Callable[[FrozenTrial, str], None]


class TrialFailed(Exception):
    """Tells Optuna a trial failed; the sweep goes on (`catch` below)."""


class NotRun(Exception):
    """A trial that will not count: surplus to the total, or stopped before its first epoch ended."""


def open_study(storage: str, name: str, problem: Problem, seed: int, on_lost: Lost) -> tuple[optuna.Study, bool]:
    """The study `name` in `storage`, and whether this call created it (creation is atomic in the storage,
    so of several processes starting at once exactly one creates it)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rdb = _storage(storage, on_lost)
    options = dict(storage=rdb, study_name=name, direction=problem.metric.direction,
                   sampler=optuna.samplers.TPESampler(seed=seed),
                   pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3))
    try:
        return optuna.create_study(**options), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.create_study(load_if_exists=True, **options), False


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """The storage at `url` as this engine opens it, for another user of the same study (Ray's searcher)."""
    return _storage(url, None)


def _storage(url: str, on_lost: Lost | None, attempts: int = 6) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage with heartbeats. Processes started together race to create its tables (one
    gets an IntegrityError or 'database is locked'); the loser waits a moment and tries again."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    sqlite = url.startswith("sqlite")
    engine = {"connect_args": {"timeout": 60}} if sqlite else None
    for attempt in range(attempts):
        try:
            heartbeat = {} if on_lost is None else dict(
                heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=lambda study, trial: on_lost(
                    trial, f"its process stopped answering (no heartbeat for {GRACE_SECONDS} s)"))
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, **heartbeat)
            if sqlite:
                _write_ahead_log(storage)
            return storage
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _write_ahead_log(storage: optuna.storages.RDBStorage) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: a report + prune check per epoch took 7.1 ms, now 3.6 ms.
    Commits survive a crash of the process (what resuming needs); only a crash of the machine may lose the
    last ones. WAL needs the processes on one machine: across machines use --storage postgresql://…"""
    from sqlalchemy import event

    def pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # connections made before the listener reopen with it


def enqueue_defaults(study: optuna.Study, spaces: Sequence[SearchSpace], problem: Problem) -> None:
    """Each family's defaults as the first trials, the domain notes' first choice first."""
    several = len(spaces) > 1
    for space in spaces:
        start = starting_point(space, problem.context, prefix=f"{space.family}." if several else "")
        study.enqueue_trial({"family": space.family, **start} if several else start)


def records(study: optuna.Study) -> list[TrialRecord]:
    """Every network trial that has run, from any process, in trial order."""
    return [TrialRecord.from_dict(t.user_attrs[RECORD]) for t in study.get_trials(deepcopy=False)
            if RECORD in t.user_attrs]


def counts(study: optuna.Study) -> tuple[int, int]:
    """(trials that have run, trials running now)."""
    trials = study.get_trials(deepcopy=False)
    done = sum(RECORD in t.user_attrs for t in trials)
    return done, sum(t.state is TrialState.RUNNING for t in trials)


def running_run_ids(study: optuna.Study) -> set[str]:
    """The MLflow runs of the trials running now."""
    return {t.user_attrs[RUN_ID] for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if RUN_ID in t.user_attrs}


def fail_lost_trials(study: optuna.Study, on_lost: Lost) -> None:
    """Mark failed the running trials whose process is gone: dead on this machine, or silent too long."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER, "")
        if worker and is_dead_here(worker):
            try:
                study.tell(trial.number, state=TrialState.FAIL)
            except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                continue  # another process marked it first
            on_lost(trial, f"its process ({worker}) died")
    optuna.storages.fail_stale_trials(study)


def run_search(
    study: optuna.Study,
    spaces: Sequence[SearchSpace],
    problem: Problem,
    *,
    trials: int,
    seed: int,
    stop: Stop,
    on_start: Callable[[str, str, dict], str | None],
    on_trial: Callable[[TrialRecord, str | None, bool], TrialRecord],
    on_lost: Lost,
    wait_for_others: bool = True,
) -> None:
    """Run trials until the study holds `trials` that have run, or `stop` says so.

    With several spaces the family is itself a searched parameter, and Optuna knows each family's
    parameters as `<family>.<name>`. `on_start(name, family, params)` is called before a trial trains
    and returns a handle (the MLflow run id); `on_trial(record, handle, counted)` after, returning it as
    logged (`counted`: it counts toward the total).
    With `wait_for_others` (the chief) it also waits for other processes' trials to finish, and runs
    again any that were lost.
    """
    spaces = tuple(spaces)

    def objective(trial: optuna.Trial) -> float:
        if _rank(study, trial.number) >= trials or stop.requested:
            study.stop()
            raise NotRun("surplus" if not stop.requested else stop.why)
        trial.set_user_attr(WORKER, worker_id())
        space, params = suggest_family(trial, spaces, problem.context)
        family = space.family
        name = f"{family}-{trial.number:03d}"
        handle = on_start(name, family, params)
        trial.set_user_attr(RUN_ID, handle)
        result = train_network(
            params, space, problem, seed=seed + trial.number, stop=stop,
            callbacks=[KerasPruningCallback(trial, "val_score")], prune_signals=(optuna.TrialPruned,),
        )
        record = on_trial(result.record(name, family, params, trial.number), handle, result.counts)
        if not result.counts:
            raise NotRun(f"stopped before its first epoch ended ({stop.why})")
        trial.set_user_attr(RECORD, record.to_dict())
        if record.state is State.PRUNED:
            raise optuna.TrialPruned()
        if record.state is State.FAILED:
            raise TrialFailed(record.error)
        return record.val_score

    def enough(study: optuna.Study, _trial: FrozenTrial) -> None:
        if stop.requested or counts(study)[0] >= trials:
            study.stop()

    with frozen_heap():
        while not stop.requested:
            fail_lost_trials(study, on_lost)
            done, running = counts(study)
            if done >= trials or (running and not wait_for_others and done + running >= trials):
                break
            if done + running < trials:
                study.optimize(objective, catch=(TrialFailed, NotRun), callbacks=[enough])
            else:
                time.sleep(POLL_SECONDS)  # the last trials run elsewhere


def _rank(study: optuna.Study, number: int) -> int:
    """How many trials before this one count or may count: those that have run, and those running."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.number < number and (RECORD in t.user_attrs or t.state is TrialState.RUNNING))
