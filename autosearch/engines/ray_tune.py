"""The Ray Tune side of the Ray engine: the trainable each worker runs, the callback through which this
process starts and finishes every trial with the `TrialRunner`, and the stopper that ends the experiment
when the run's Stop says so. Imports Ray Tune: import it only where a Ray search runs."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import ray
from ray import tune
from ray.tune import Callback
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import Stopper

from autosearch.errors import describe
from autosearch.problem import Folds
from autosearch.processes import worker_id
from autosearch.records import CandidateKind, TrialRecord
from autosearch.spaces import from_values, suggest_family
from autosearch.stopping import Stop
from autosearch.trial_runner import FirstFoldScores, Started, TrialRunner
from autosearch.trial_store import pack, unpack

RESULT_BUFFER_SECONDS = 1.0
_WORKER: dict[str, float] = {}  # this worker's memory before its first trial, and its trials since (actors are reused)


# The first-fold scores as an actor that every Ray worker, on any node, reaches
FirstFolds = ray.remote(num_cpus=0)(FirstFoldScores)


def train(config: dict, folds: Folds, spaces: tuple, seed: int, first_folds=None, seconds: float | None = None
          ) -> None:
    """A Ray trial: train the network of `config` on every fold with the runner's `train_trial` (raced after
    its first fold against `first_folds`; for at most `seconds`, `budget.trial_seconds`), reporting every epoch
    of the first fold (what the scheduler compares); the last report carries the record and the out-of-fold
    predictions."""
    import keras

    from autosearch.restart import resident_mb
    from autosearch.training import freeze_heap
    from autosearch.trial_runner import train_trial

    class Report(keras.callbacks.Callback):
        """Every epoch's score: `score` for the trial's record, `val_score` for the scheduler (NaN while the
        network warms up, which ASHA neither prunes nor counts in its rungs)."""
        reports_warmup = True

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            score = float(logs.get("val_score", float("nan")))
            tune.report({"epoch": epoch + 1, "score": score,
                         "val_score": float("nan") if logs.get("warming_up") else score})

    if not _WORKER:  # once per worker
        freeze_heap()
        _WORKER.update(start_mb=resident_mb(), trials=0)
    space, params = from_values(config, spaces, folds.first.context)
    trial_id = tune.get_context().get_trial_id()
    trial_seed = seed + zlib.crc32(trial_id.encode()) % 100_000
    raced = None if first_folds is None else (lambda score: ray.get(first_folds.race.remote(trial_id, score)))
    trained = train_trial(space, params, folds, seed=trial_seed, callbacks=[Report()], raced=raced, seconds=seconds)
    node = ray.get_runtime_context().get_node_id()[:8]
    record = replace(trained.record, device=f"{trained.record.device} on node {node} "
                     f"({ray.util.get_node_ip_address()})", worker=worker_id())
    predictions = None if trained.predictions is None else base64.b64encode(pack(trained.predictions)).decode()
    _WORKER["trials"] += 1
    tune.report({"epoch": max(record.epochs, 1), "val_score": record.val_score if record.val_score is not None
                 else float("nan"), "record": json.dumps(record.to_dict()), "predictions": predictions,
                 "curves": json.dumps({k: list(v) for k, v in record.curves.items()}),
                 "grown_mb": resident_mb() - _WORKER["start_mb"], "worker_trials": _WORKER["trials"]})


def tune_search(engine, runner: TrialRunner, trials: int, stop: Stop, cpus: float, gpus: float, concurrency: int,
                results: Path) -> None:
    """Run the Tune experiment: Optuna's TPE over the run's study, the engine's scheduler, `concurrency` trials
    at once, until the store holds `trials` or `stop` says so."""
    from autosearch.engines.optuna_study import storage

    setup = engine.setup
    spaces, problem, mode = setup.spaces, setup.problem, setup.problem.metric.mode
    scheduler = _scheduler(engine.scheduler, spaces, mode)
    # Set while Tune runs (it reads them when `fit` starts). MLflow keeps every result: Tune's own CSV, JSON
    # and TensorBoard files per trial would be clutter; the trial records carry the errors. Ctrl-C and SIGTERM
    # stay with the run's Stop (Tune's own handler would end the run as if it were complete).
    variables = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
                 "TUNE_DISABLE_SIGINT_HANDLER": "1"}
    if scheduler.supports_buffered_results:
        # Tune fetches a trial's results one driver round trip each; short epochs spend more time in the trip
        # than training. Buffer up to RESULT_BUFFER_SECONDS of epochs per trip where the scheduler allows it
        # (it and the budget see them that much later).
        variables |= {"TUNE_RESULT_BUFFER_LENGTH": "50", "TUNE_RESULT_BUFFER_MIN_TIME_S": str(RESULT_BUFFER_SECONDS)}
    searcher = OptunaSearch(space=_Define(spaces, problem.context), metric="val_score", mode=mode,
                            sampler=optuna.samplers.TPESampler(seed=setup.seed), study_name=setup.study_name,
                            storage=storage(setup.storage, None))  # Ray's own handle on the run's study
    scores = [r.first_fold_score for r in runner.store.records(CandidateKind.NETWORK) if r.first_fold_score is not None]
    # a holdout has one fold: nothing to race, no actor process to start
    first_folds = FirstFolds.remote(scores, problem.metric.greater_is_better) if setup.folds.k > 1 else None
    # trials run `concurrency` at once: each may take that many shares of the budget's networks' time
    seconds = None if runner.trial_seconds is None else runner.trial_seconds * concurrency
    trainable = tune.with_resources(tune.with_parameters(train, folds=setup.folds, spaces=spaces, seed=setup.seed,
                                                         first_folds=first_folds, seconds=seconds),
                                   {"cpu": cpus, "gpu": gpus})
    logger = _Logger(runner, spaces, problem.context)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                    num_samples=trials - runner.store.count(), max_concurrent_trials=concurrency,
                                    reuse_actors=True),
        run_config=tune.RunConfig(name=setup.study_name, storage_path=str(results),
                                  callbacks=[logger], stop=_StopWhen(stop),
                                  verbose=0, failure_config=tune.FailureConfig(max_failures=1)),
    )
    with _environment(variables), contextlib.redirect_stdout(io.StringIO()):  # Ray's tables: not ours
        tuner.fit()
    logger.end_the_rest()


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    """`variables` set in os.environ for the block (those the user set win), then as they were."""
    before = {k: os.environ.get(k) for k in variables}
    os.environ.update({k: v for k, v in variables.items() if before[k] is None})
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)


def _scheduler(name: str, spaces: tuple, mode: str):
    from ray.tune import schedulers

    max_t = max(s.max_epochs for s in spaces) + 1  # a trial's last report (its record) must not count as a stop
    common = dict(metric="val_score", mode=mode, time_attr="epoch")
    if name == "asha":
        return schedulers.ASHAScheduler(max_t=max_t, grace_period=min(3, max_t), reduction_factor=3, **common)
    if name == "hyperband":
        return schedulers.HyperBandScheduler(max_t=max_t, reduction_factor=3, **common)
    if name == "median":
        return schedulers.MedianStoppingRule(grace_period=3, min_samples_required=4, **common)
    return schedulers.FIFOScheduler()


class _Unpicklable:
    """Ray pickles the experiment's settings for `Tuner.restore`, which autosearch never uses (a run resumes
    from its own database); these objects hold live handles, so they pickle to an empty shell."""

    def __getstate__(self):
        return {}


class _Define:
    """The define-by-run space OptunaSearch walks: the same walk as the Optuna engine's."""

    def __init__(self, spaces: tuple, context: dict):
        self.spaces, self.context = spaces, context

    def __call__(self, trial: optuna.Trial) -> None:
        suggest_family(trial, self.spaces, self.context)


class _StopWhen(_Unpicklable, Stopper):
    """Ends the whole experiment when the run's Stop says so (budget, signal); Ray asks at every epoch."""

    def __init__(self, stop: Stop):
        self.stop = stop

    def __call__(self, trial_id, result) -> bool:
        return self.stop.requested

    def stop_all(self) -> bool:
        return self.stop.requested


@dataclass
class _Flight:
    started: Started
    scores: list  # per-epoch validation scores as reported
    done: bool = False
    retried: str | None = None  # why Ray ran it again (its worker died)


class _Logger(_Unpicklable, Callback):
    """The Ray Tune callback through which this process starts and finishes every trial, wherever it ran."""

    def __init__(self, runner: TrialRunner, spaces: tuple, context: dict):
        self.runner, self.spaces, self.context = runner, spaces, context
        self.trials: dict[str, _Flight] = {}

    def on_trial_start(self, iteration, trials, trial, **info):
        if trial.trial_id in self.trials:
            return  # a retry after a dead worker: same MLflow run
        space, params = from_values(trial.config, self.spaces, self.context)
        taken = self.runner.store.numbers() | {t.started.number for t in self.trials.values()}
        number = max(taken, default=-1) + 1  # after a resume the stored numbers may have gaps: never reuse one
        self.trials[trial.trial_id] = _Flight(self.runner.start(space.family, params, number), [])

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "record" not in result:
            self.trials[trial.trial_id].scores.append(result.get("score", result.get("val_score", float("nan"))))

    def on_trial_complete(self, iteration, trials, trial, **info):
        flight = self.trials[trial.trial_id]
        flight.done = True
        last = trial.last_result or {}
        if "record" not in last:  # stopped by the scheduler, or by the budget or a signal
            self.runner.stopped(flight.started, flight.scores, note=_retry_note(flight.retried))
            return
        curves = {k: tuple(v) for k, v in json.loads(last.get("curves", "{}")).items()}
        record = replace(TrialRecord.from_dict(json.loads(last["record"])), curves=curves)
        predictions = last.get("predictions")
        self.runner.finish(flight.started, _noted(record, flight.retried),
                           predictions=None if predictions is None else unpack(base64.b64decode(predictions)))
        self.runner.worker_grew(last["grown_mb"], last["worker_trials"], record.worker)

    def end_the_rest(self) -> None:
        """Trials Tune let go without a last callback (started just as the experiment stopped): ended as
        stopped from outside."""
        for flight in self.trials.values():
            if not flight.done:
                flight.done = True
                self.runner.stopped(flight.started, flight.scores, note=_retry_note(flight.retried))

    def on_trial_recover(self, iteration, trials, trial, **info):
        flight = self.trials[trial.trial_id]
        flight.retried, flight.scores = _last_error(trial), []  # it starts again from its first epoch

    def on_trial_error(self, iteration, trials, trial, **info):
        flight = self.trials[trial.trial_id]
        flight.done = True
        self.runner.failed(flight.started, describe(RuntimeError(_last_error(trial))),
                           note=_retry_note(flight.retried))


def _retry_note(retried: str | None) -> str | None:
    return f"run again after: {retried}" if retried else None


def _noted(record: TrialRecord, retried: str | None) -> TrialRecord:
    note = _retry_note(retried)
    if note is None:
        return record
    return replace(record, note=f"{record.note}; {note}" if record.note else note)


def _last_error(trial) -> str:
    """The last failure Ray wrote for `trial`, as one line (a dead worker's long advice left out)."""
    text = Path(trial.error_file).read_text() if trial.error_file and Path(trial.error_file).exists() else ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].split(" Some common causes")[0] if lines else "its Ray worker failed"
