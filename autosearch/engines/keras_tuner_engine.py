"""Search with keras-tuner: Hyperband (default), Bayesian optimisation or random search.

The space files are the ones the Optuna engine reads, translated by `spaces.to_keras_tuner`; each trial's
values go back through `spaces.from_values` and train in `training.train_network`, so both engines build,
train, score and log networks the same way. keras-tuner's oracle decides what to try next; its project
folder (`keras_tuner/` in the run folder) keeps the oracle's state, so a re-run with the same `--output`
resumes it, and a trial whose process died runs again (keras-tuner retries the trials it had running).

Hyperband trains each configuration it promotes from scratch for the round's larger epoch budget
(`tuner/epochs`), as in Li et al.'s Hyperband; keras-tuner's own warm start from the previous round's
checkpoint would need a saved model per trial. The search runs in one process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from pathlib import Path
from typing import Callable, Sequence

import keras_tuner as kt

from autosearch.problem import Problem
from autosearch.records import State, TrialRecord
from autosearch.spaces import SearchSpace, from_values, to_keras_tuner
from autosearch.stopping import Stop
from autosearch.training import frozen_heap, train_network

FOLDER = "keras_tuner"
RECORD_FILE = "autosearch.record.json"  # in keras-tuner's trial folder, once the trial has run: it counts
ATTRS_FILE = "autosearch.study.json"
PARENT_RUN_ID = "autosearch.parent_run_id"
RUN_ID = "autosearch.mlflow_run_id"
HYPERBAND_FACTOR = 3


class _Enough(BaseException):
    """Ends `tuner.search()` between trials (trial count reached, or a stop asked). A BaseException, so that
    keras-tuner does not take it for a failed trial: a trial it interrupts stays running in the oracle's
    state and is retried on resume."""


class TunerStudy:
    """The engine's study: keras-tuner's project folder, with our records and attributes beside its files."""

    def __init__(self, folder: Path):
        self.folder = folder

    @property
    def user_attrs(self) -> dict:
        path = self.folder / ATTRS_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def set_user_attr(self, key: str, value) -> None:
        attrs = {**self.user_attrs, key: value}
        partial = self.folder / (ATTRS_FILE + ".partial")
        partial.write_text(json.dumps(attrs))
        partial.replace(self.folder / ATTRS_FILE)

    def save_record(self, trial_id: str, record: TrialRecord) -> None:
        folder = self.folder / f"trial_{trial_id}"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (RECORD_FILE + ".partial")
        partial.write_text(json.dumps(record.to_dict()))
        partial.replace(folder / RECORD_FILE)


class KerasTunerEngine:
    """The engine interface of `optuna_engine` (open_study, records, counts, run_search, ...) over keras-tuner."""

    PARENT_RUN_ID = PARENT_RUN_ID
    RUN_ID = RUN_ID
    name = "keras-tuner"

    def __init__(self, tuner: str = "hyperband"):  # one of config.TUNER_CHOICES, checked there
        self.tuner = tuner

    @staticmethod
    def default_storage(folder: Path) -> str:
        return str((folder / FOLDER).resolve())

    def open_study(self, storage: str, name: str, problem: Problem, seed: int, on_lost) -> tuple[TunerStudy, bool]:
        folder = Path(storage) / name
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        return TunerStudy(folder), created

    def enqueue_defaults(self, study: TunerStudy, spaces: Sequence[SearchSpace], problem: Problem) -> None:
        """keras-tuner's oracles choose every trial themselves (the spaces' defaults seed Bayesian fills)."""

    def records(self, study: TunerStudy) -> list[TrialRecord]:
        found = [TrialRecord.from_dict(json.loads(p.read_text())) for p in study.folder.glob(f"trial_*/{RECORD_FILE}")]
        return sorted(found, key=lambda r: r.number)

    def counts(self, study: TunerStudy) -> tuple[int, int]:
        return len(list(study.folder.glob(f"trial_*/{RECORD_FILE}"))), 0

    def running_run_ids(self, study: TunerStudy) -> set[str]:
        return set()  # one process runs the search: when it starts, nothing else is running

    def fail_lost_trials(self, study: TunerStudy, on_lost) -> None:
        """Nothing to do: keras-tuner retries the trials its oracle had running when the process died."""

    def oracle(self, spaces: Sequence[SearchSpace], problem: Problem, seed: int):
        objective = kt.Objective("val_score", "max" if problem.metric.greater_is_better else "min")
        options = dict(objective=objective, hyperparameters=to_keras_tuner(tuple(spaces), problem.context),
                       seed=seed, tune_new_entries=False, allow_new_entries=False,
                       max_consecutive_failed_trials=10**9)  # a failed trial never ends the search
        if self.tuner == "hyperband":  # rounds until --trials or the budget says stop
            return kt.oracles.HyperbandOracle(max_epochs=max(s.max_epochs for s in spaces), factor=HYPERBAND_FACTOR,
                                              hyperband_iterations=10**6, **options)
        if self.tuner == "bayesian":
            return kt.oracles.BayesianOptimizationOracle(max_trials=None, **options)
        return kt.oracles.RandomSearchOracle(max_trials=None, **options)

    def run_search(
        self,
        study: TunerStudy,
        spaces: Sequence[SearchSpace],
        problem: Problem,
        *,
        trials: int,
        seed: int,
        stop: Stop,
        on_start: Callable[[str, str, dict], str | None],
        on_trial: Callable[[TrialRecord, str | None, bool], TrialRecord],
        on_lost=None,
        wait_for_others: bool = True,
    ) -> None:
        """Run keras-tuner trials until `trials` have run or `stop` asks to end."""
        engine, spaces = self, tuple(spaces)

        class Tuner(kt.engine.base_tuner.BaseTuner):
            def pre_create_trial(self):
                if stop.requested or engine.counts(study)[0] >= trials:
                    raise _Enough()

            def run_trial(self, trial, *args, **kwargs):
                values = trial.hyperparameters.values
                space, params = from_values(values, spaces, problem.context)
                if "tuner/epochs" in values:  # Hyperband's epoch budget for this round
                    space = dataclasses.replace(space, max_epochs=int(values["tuner/epochs"]))
                number = int(trial.trial_id)
                name = f"{space.family}-{number:03d}"
                handle = on_start(name, space.family, params)
                result = train_network(params, space, problem, seed=seed + number, stop=stop)
                record = on_trial(result.record(name, space.family, params, number), handle, result.counts)
                if not result.counts:  # stopped in its first epoch: left running in the oracle, it runs again
                    raise _Enough()
                study.save_record(trial.trial_id, record)
                if record.state is not State.COMPLETE:
                    raise kt.errors.FailedTrialError(record.error or record.state.value)
                return {"val_score": record.val_score}

            def save_model(self, trial_id, model, step=0):
                pass  # the winner is refitted from its parameters; no checkpoints are kept

        quiet = io.StringIO()  # keras-tuner prints its progress; ours is autosearch's
        with contextlib.redirect_stdout(quiet):
            tuner = Tuner(oracle=self.oracle(spaces, problem, seed), directory=str(study.folder.parent),
                          project_name=study.folder.name, overwrite=False)
            tuner.oracle.verbose = 0
            tuner.save()  # from now on a re-run reloads this oracle, even if the first trial never ends
        with frozen_heap(), contextlib.redirect_stdout(quiet), contextlib.suppress(_Enough):
            tuner.search()
