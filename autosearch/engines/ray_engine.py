"""Search on Ray Tune: trials in parallel, on this machine or a Ray cluster, one (or part of a) GPU each.

Ray's `OptunaSearch` drives the run's Optuna study (the same SQLite file or `--storage` as the Optuna
engine, the same define-by-run walk of the space files, each family's defaults enqueued first), a Ray
scheduler (ASHA by default) stops trials that fall behind on their per-epoch validation score, and each
trial trains in a Ray worker with `training.train_network`. Whatever node a trial runs on, this process
logs it to MLflow (a nested run opened when it starts, closed with its curves and state when it ends) and
keeps its record on the study, so the results, the leaderboard and a resumed run are the same as with the
Optuna engine. A trial the scheduler stopped is pruned; one that raised, diverged or lost its worker is
failed (after Ray's one retry of a dead worker) and the search goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import signal
import threading
import time
import zlib
from pathlib import Path
from typing import Callable, Sequence

import optuna
import ray
from ray import tune
from ray.tune import Callback
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import Stopper

from autosearch.engines import optuna_engine
from autosearch.errors import AutosearchError, describe
from autosearch.models import MIXED_PRECISION_ENV
from autosearch.problem import Problem
from autosearch.records import State, TrialRecord
from autosearch.spaces import SearchSpace, from_values, suggest_family
from autosearch.stopping import Stop

RECORD_PREFIX = "autosearch.ray_record."  # study attribute per trial that has run: its TrialRecord
RAY_FOLDER = "ray_results"
RESULT_BUFFER_SECONDS = 1.0
# Ray's remarks that are not the user's concern: a note that a local cluster uses token authentication, and
# Tune's complaint, after the run, that trials have no result files (MLflow keeps the results).
_QUIET_LOGGERS = ("ray._private.authentication.authentication_token_setup", "ray.tune.analysis.experiment_analysis")
_FROZEN: list[bool] = []


def _train(config: dict, problem: Problem, spaces: tuple, seed: int) -> None:
    """A Ray trial: train the network of `config`, reporting every epoch; the last report carries the record."""
    import keras

    from autosearch.training import freeze_heap, train_network

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            tune.report({"epoch": epoch + 1, "val_score": float(logs.get("val_score", float("nan")))})

    if not _FROZEN:  # once per worker (actors are reused from trial to trial)
        freeze_heap()
        _FROZEN.append(True)
    space, params = from_values(config, spaces, problem.context)
    trial_seed = seed + zlib.crc32(tune.get_context().get_trial_id().encode()) % 100_000
    result = train_network(params, space, problem, seed=trial_seed, callbacks=[Report()])
    record = result.record("", space.family, params)
    node = ray.get_runtime_context().get_node_id()[:8]
    record = dataclasses.replace(record, device=f"{record.device} on node {node} ({ray.util.get_node_ip_address()})")
    tune.report({"epoch": max(record.epochs, 1), "val_score": record.val_score if record.val_score is not None
                 else float("nan"), "record": json.dumps(record.to_dict()),
                 "curves": json.dumps({k: list(v) for k, v in record.curves.items()})})


class RayEngine:
    """The engine interface of `optuna_engine` over Ray Tune (records kept as study attributes)."""

    name = "ray"
    PARENT_RUN_ID = optuna_engine.PARENT_RUN_ID
    RUN_ID = optuna_engine.RUN_ID
    default_storage = staticmethod(optuna_engine.default_storage)
    enqueue_defaults = staticmethod(optuna_engine.enqueue_defaults)

    def __init__(self, address: str | None = None, concurrency: int | None = None,
                 cpus_per_trial: float | None = None, gpus_per_trial: float | None = None,
                 scheduler: str = "asha", folder: Path | None = None):  # settings checked by RunConfig
        self.address, self.concurrency, self.scheduler = address, concurrency, scheduler
        self.cpus_per_trial, self.gpus_per_trial, self.folder = cpus_per_trial, gpus_per_trial, folder

    def open_study(self, storage: str, name: str, problem: Problem, seed: int, on_lost):
        """The run's Optuna study, as the Optuna engine opens it; Ray's searcher samples from it."""
        self.storage_url = storage
        return optuna_engine.open_study(storage, name, problem, seed, on_lost)

    # --- what the run keeps --------------------------------------------------------------------------
    def records(self, study: optuna.Study) -> list[TrialRecord]:
        found = [TrialRecord.from_dict(v) for k, v in study.user_attrs.items() if k.startswith(RECORD_PREFIX)]
        return sorted(found, key=lambda r: r.number)

    def counts(self, study: optuna.Study) -> tuple[int, int]:
        return sum(k.startswith(RECORD_PREFIX) for k in study.user_attrs), 0

    def running_run_ids(self, study: optuna.Study) -> set[str]:
        return set()  # one driver: when it starts, no trial of this run is running

    def fail_lost_trials(self, study: optuna.Study, on_lost) -> None:
        """Optuna trials a dead driver left running: failed, so the sampler stops waiting on them."""
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)

    # --- the search ----------------------------------------------------------------------------------
    def resources(self, gpus_visible: float, cpus_visible: float) -> tuple[float, float, int]:
        """(cpus, gpus) per trial and the concurrency: one trial per GPU where there are GPUs, else as
        many one-core trials as there are cores, unless told otherwise."""
        gpus = self.gpus_per_trial if self.gpus_per_trial is not None else (1.0 if gpus_visible else 0.0)
        cpus = self.cpus_per_trial or 1.0
        fits = int(gpus_visible // gpus) if gpus else int(cpus_visible // cpus)
        return cpus, gpus, max(1, self.concurrency or fits)

    def run_search(
        self,
        study: optuna.Study,
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
        spaces = tuple(spaces)
        mode = "max" if problem.metric.greater_is_better else "min"
        scheduler = _scheduler(self.scheduler, spaces, mode)
        # Set while Tune runs (it reads them when `fit` starts). MLflow keeps every result: Tune's own CSV,
        # JSON and TensorBoard files per trial would be clutter; the trial records carry the errors. Ctrl-C
        # and SIGTERM stay with the run's Stop (Tune's own handler would end the run as if it were complete).
        variables = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
                     "TUNE_DISABLE_SIGINT_HANDLER": "1"}
        if scheduler.supports_buffered_results:
            # Tune fetches a trial's results one driver round trip each; short epochs spend more time in the
            # trip than training. Buffer up to RESULT_BUFFER_SECONDS of epochs per trip where the scheduler
            # allows it (it and the budget see them that much later).
            variables |= {"TUNE_RESULT_BUFFER_LENGTH": "50",
                          "TUNE_RESULT_BUFFER_MIN_TIME_S": str(RESULT_BUFFER_SECONDS)}
        done = self.counts(study)[0]
        if done >= trials or stop.requested:
            return
        with _quiet(_QUIET_LOGGERS), _environment(variables), _ray(self.address, self.cpus_per_trial or 1):
            cluster = ray.cluster_resources()
            cpus, gpus, concurrency = self.resources(cluster.get("GPU", 0), cluster.get("CPU", 1))
            _check_a_node_fits(cpus, gpus)
            storage = optuna_engine.open_storage(self.storage_url)  # Ray's own handle, without our callbacks
            searcher = OptunaSearch(space=_Define(spaces, problem.context), metric="val_score", mode=mode,
                                    sampler=optuna.samplers.TPESampler(seed=seed), study_name=study.study_name,
                                    storage=storage)
            logger = _Logger(self, study, spaces, problem, stop, on_start, on_trial)
            trainable = tune.with_resources(
                tune.with_parameters(_train, problem=problem, spaces=spaces, seed=seed),
                {"cpu": cpus, "gpu": gpus})
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=searcher, scheduler=scheduler,
                    num_samples=trials - done, max_concurrent_trials=concurrency, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=study.study_name, storage_path=str(((self.folder or Path.cwd()) / RAY_FOLDER).resolve()),
                    callbacks=[logger], stop=_StopWhen(stop), verbose=0,
                    failure_config=tune.FailureConfig(max_failures=1)),
            )
            with contextlib.redirect_stdout(io.StringIO()):  # Ray's tables: not ours
                tuner.fit()


def _check_a_node_fits(cpus: float, gpus: float) -> None:
    """A trial that no node can hold would wait forever in Tune's queue: say so instead."""
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)))
    raise AutosearchError(
        f"a trial asks for {cpus:g} CPU and {gpus:g} GPU, but no Ray node has that much (the largest has "
        f"{largest.get('CPU', 0):g} CPU and {largest.get('GPU', 0):g} GPU); lower --cpus-per-trial / "
        "--gpus-per-trial, or add a node that has them")


@contextlib.contextmanager
def _ray(address: str | None, cpus_per_trial: float):
    """Ray for the block: the cluster at `address`, or a local instance started here and shut down after;
    one this process already joined is used as it is."""
    if ray.is_initialized():
        yield
        return
    on_sigterm = signal.getsignal(signal.SIGTERM)
    ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": _worker_env(cpus_per_trial)})
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)  # ray.init makes SIGTERM exit at once; the run's Stop handles it
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _quiet(loggers: Sequence[str]):
    """Only errors from these loggers for the block."""
    before = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


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


def _worker_env(cpus: float) -> dict[str, str]:
    """Thread pools sized to a trial's CPU share (Ray's OMP_NUM_THREADS=1 does not reach TensorFlow)."""
    threads = str(max(1, int(cpus)))
    env = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads != '1' else 'false'}",
           "RAY_USAGE_STATS_ENABLED": "0"}
    for name in ("KERAS_BACKEND", MIXED_PRECISION_ENV):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


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
    """Ray pickles the experiment's settings for `Tuner.restore`, which autosearch never uses (it resumes
    from its study); these objects hold live handles, so they pickle to an empty shell."""

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


@dataclasses.dataclass
class _Started:
    name: str
    family: str
    params: dict
    handle: str | None
    number: int
    started: float
    scores: list = dataclasses.field(default_factory=list)  # per-epoch validation scores as reported
    kept: bool = False
    retried: str | None = None  # why Ray ran it again (its worker died)


class _Logger(_Unpicklable, Callback):
    """The Ray Tune callback through which this process logs every trial, wherever it ran."""

    def __init__(self, engine: RayEngine, study: optuna.Study, spaces: tuple, problem: Problem, stop: Stop,
                 on_start, on_trial):
        self.engine, self.study, self.spaces, self.context = engine, study, spaces, problem.context
        self.greater, self.stop = problem.metric.greater_is_better, stop
        self.on_start, self.on_trial = on_start, on_trial
        self.trials: dict[str, _Started] = {}

    def on_trial_start(self, iteration, trials, trial, **info):
        if trial.trial_id in self.trials:
            return  # a retry after a dead worker: same MLflow run
        space, params = from_values(trial.config, self.spaces, self.context)
        in_flight = sum(not t.kept for t in self.trials.values())
        number = self.engine.counts(self.study)[0] + in_flight
        name = f"{space.family}-{number:03d}"
        handle = self.on_start(name, space.family, params)
        self.trials[trial.trial_id] = _Started(name, space.family, params, handle, number, time.monotonic())

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if "record" not in result:
            self.trials[trial.trial_id].scores.append(result.get("val_score", float("nan")))

    def on_trial_complete(self, iteration, trials, trial, **info):
        t = self.trials[trial.trial_id]
        last = trial.last_result or {}
        if "record" in last:
            curves = {k: tuple(v) for k, v in json.loads(last.get("curves", "{}")).items()}
            record = TrialRecord.from_dict({**json.loads(last["record"]), "name": t.name, "number": t.number})
            record = dataclasses.replace(record, curves=curves)
        else:  # stopped by the scheduler, or by the budget or a signal, after `scores` epochs
            scores = t.scores
            record = TrialRecord(t.name, "nn", t.family, t.params, State.PRUNED, scores[-1] if scores else None,
                                 time.monotonic() - t.started, epochs=len(scores), curves={"val_score": tuple(scores)},
                                 number=t.number)
            if self.stop.requested:  # as in the Optuna engine: cut short, it keeps its best epoch so far
                if not scores:
                    t.kept = True
                    self.on_trial(dataclasses.replace(record, state=State.FAILED, error=f"interrupted before its "
                                                      f"first epoch ended ({self.stop.why})"), t.handle, False)
                    return  # does not count: a resumed run tries it again
                best = max(range(len(scores)), key=lambda i: scores[i] if self.greater else -scores[i])
                record = dataclasses.replace(record, state=State.COMPLETE, val_score=scores[best], best_epoch=best,
                                             note=f"cut short: {self.stop.why}")
        self._keep(t, record)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.trials[trial.trial_id].retried = _last_error(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        t = self.trials[trial.trial_id]
        self._keep(t, TrialRecord(t.name, "nn", t.family, t.params, State.FAILED, None, time.monotonic() - t.started,
                                  error=describe(RuntimeError(_last_error(trial))), number=t.number))

    def _keep(self, t: _Started, record: TrialRecord) -> None:
        t.kept = True
        if t.retried:
            retried = f"run again after: {t.retried}"
            record = dataclasses.replace(record, note=f"{record.note}; {retried}" if record.note else retried)
        record = self.on_trial(record, t.handle, True)
        self.study.set_user_attr(f"{RECORD_PREFIX}{record.number:05d}", record.to_dict())


def _last_error(trial) -> str:
    """The last failure Ray wrote for `trial`, as one line (a dead worker's long advice left out)."""
    text = Path(trial.error_file).read_text() if trial.error_file and Path(trial.error_file).exists() else ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].split(" Some common causes")[0] if lines else "its Ray worker failed"
