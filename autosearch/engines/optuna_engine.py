"""In-process search with Optuna: seeded TPE, median pruning on per-epoch validation scores."""

from __future__ import annotations

import gc
import time
from typing import Callable, Sequence

import optuna
from optuna_integration import KerasPruningCallback

from autosearch.problem import Problem
from autosearch.records import State, TrialRecord
from autosearch.spaces import SearchSpace, starting_point, suggest
from autosearch.training import train_network


class TrialFailed(Exception):
    """Tells Optuna a trial failed; the sweep goes on (`catch` below)."""


def make_study(problem: Problem, seed: int) -> optuna.Study:
    return optuna.create_study(
        direction=problem.metric.direction,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3),
    )


def run_search(
    spaces: Sequence[SearchSpace],
    problem: Problem,
    *,
    trials: int,
    deadline: float | None,
    seed: int,
    on_start: Callable[[str, str, dict], str | None],
    on_trial: Callable[[TrialRecord, str | None], TrialRecord],
) -> list[TrialRecord]:
    """Run up to `trials` trials over one or more families' spaces, starting none after `deadline`.

    With several spaces the family is itself a searched parameter, and Optuna knows each family's
    parameters as `<family>.<name>`. Each family's defaults are enqueued first, in order, so the
    domain notes' first choice is trial 0. `on_start(name, family, params)` is called before a trial
    trains and returns a handle (the MLflow run id); `on_trial(record, handle)` after, returning the
    record as logged.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = make_study(problem, seed)
    by_family = {space.family: space for space in spaces}
    several = len(spaces) > 1
    for space in spaces:
        start = starting_point(space, problem.context, prefix=f"{space.family}." if several else "")
        study.enqueue_trial({"family": space.family, **start} if several else start)
    records: list[TrialRecord] = []

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(by_family)) if several else spaces[0].family
        space = by_family[family]
        params = suggest(trial, space, problem.context, prefix=f"{family}." if several else "")
        name = f"{family}-{trial.number:03d}"
        handle = on_start(name, family, params)
        result = train_network(
            params, space, problem, seed=seed + trial.number, deadline=deadline,
            callbacks=[KerasPruningCallback(trial, "val_score")], prune_signals=(optuna.TrialPruned,),
        )
        record = on_trial(result.record(name, family, params, trial.number), handle)
        records.append(record)
        if record.state is State.PRUNED:
            raise optuna.TrialPruned()
        if record.state is State.FAILED:
            raise TrialFailed(record.error)
        return record.val_score

    def stop_at_deadline(study: optuna.Study, _trial) -> None:
        if deadline is not None and time.monotonic() >= deadline:
            study.stop()

    timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
    if timeout == 0.0:
        return records
    # Each trial's clear_session() runs gc.collect(); with TensorFlow and MLflow loaded that scans
    # ~0.34 s of long-lived objects. Freezing them first makes it ~1 ms.
    gc.collect()
    gc.freeze()
    try:
        study.optimize(objective, n_trials=trials, timeout=timeout, catch=(TrialFailed,),
                       callbacks=[stop_at_deadline])
    finally:
        gc.unfreeze()
    return records
