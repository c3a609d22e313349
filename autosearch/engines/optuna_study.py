"""The run's Optuna study, for the engines that sample with Optuna (the Optuna engine, and Ray Tune's
`OptunaSearch`): opened in the run's database with heartbeats, SQLite in write-ahead-log mode, and each
family's defaults as its first trials."""

from __future__ import annotations

import time
import warnings
from typing import Callable, Sequence

import optuna

from autosearch.problem import Problem
from autosearch.records import WarmConfig
from autosearch.spaces import SearchSpace, keyed, starting_point

# Heartbeats and fail_stale_trials have been "experimental" since Optuna 2.9; the warning is not the user's.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60  # a trial whose heartbeat is this old belongs to a dead process

Stale = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def open_study(url: str, name: str, problem: Problem, seed: int, on_stale: Stale | None,
               spaces: Sequence[SearchSpace], warm: Sequence[WarmConfig] = (),
               portfolio: Sequence[WarmConfig] = ()) -> optuna.Study:
    """The study `name` in `url`. Of several processes opening it at once exactly one creates it (creation is
    atomic in the storage); that one enqueues the first trials: the `warm` configurations, the spaces'
    defaults, then the `portfolio`'s."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    options = dict(storage=storage(url, on_stale), study_name=name, direction=problem.metric.direction,
                   sampler=optuna.samplers.TPESampler(seed=seed),
                   pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3))
    try:
        study = optuna.create_study(**options)
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.create_study(load_if_exists=True, **options)
    _enqueue_first(study, spaces, problem, warm, portfolio)
    return study


def storage(url: str, on_stale: Stale | None, attempts: int = 6) -> optuna.storages.RDBStorage:
    """Optuna's RDBStorage, with heartbeats when `on_stale` is given. Processes started together race to
    create its tables (one gets an IntegrityError or 'database is locked'); the loser waits and tries again."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    sqlite = url.startswith("sqlite")
    engine = {"connect_args": {"timeout": 60}} if sqlite else None
    heartbeat = {} if on_stale is None else dict(heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                                                 heartbeat_stale_trial_callback=on_stale)
    for attempt in range(attempts):
        try:
            rdb = optuna.storages.RDBStorage(url, engine_kwargs=engine, **heartbeat)
            if sqlite:
                _write_ahead_log(rdb)
            return rdb
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _write_ahead_log(rdb: optuna.storages.RDBStorage) -> None:
    """SQLite in WAL mode with synchronous=NORMAL: a report + prune check per epoch took 7.1 ms, now 3.6 ms.
    Commits survive a crash of the process (what resuming needs); only a crash of the machine may lose the
    last ones. WAL needs the processes on one machine: across machines use --storage postgresql://…"""
    from sqlalchemy import event

    from autosearch.trial_store import _sqlite_pragmas

    event.listen(rdb.engine, "connect", _sqlite_pragmas)
    rdb.engine.dispose()  # connections made before the listener reopen with it


def _enqueue_first(study: optuna.Study, spaces: Sequence[SearchSpace], problem: Problem,
                   warm: Sequence[WarmConfig], portfolio: Sequence[WarmConfig] = ()) -> None:
    """The warm-start configurations, best first, then each family's defaults (the domain notes' first choice
    first) where a warm one is not the same, then the portfolio's configurations (`autosearch.portfolio`)."""
    several = len(spaces) > 1
    by_family = {space.family: space for space in spaces}
    for config in warm:
        study.enqueue_trial(keyed(by_family[config.family], config.params, problem.context, several))
    for space in spaces:
        study.enqueue_trial(starting_point(space, problem.context, several), skip_if_exists=True)
    for config in portfolio:
        study.enqueue_trial(keyed(by_family[config.family], config.params, problem.context, several),
                            skip_if_exists=True)
