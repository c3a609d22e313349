"""Search on Ray Tune: trials in parallel, on this machine or a Ray cluster, one (or part of a) GPU each.

Ray's `OptunaSearch` drives the run's Optuna study (the same database and the same define-by-run walk of the
space files as the Optuna engine, each family's defaults first), a Ray scheduler (ASHA by default) stops
trials that fall behind on their per-epoch validation score, and each trial trains in a Ray worker with the
runner's `train_trial`. Whatever node a trial runs on, this process starts and finishes it with the
`TrialRunner` (its MLflow run opened when it starts; its record stored when it ends), so the results, the
leaderboard and a resumed run are the same as with the other engines. The Tune side lives in `ray_tune.py`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import typing
from dataclasses import dataclass
from typing import Sequence

from autosearch.engines.base import EngineOptions, SearchEngine, option, register
from autosearch.errors import AutosearchError

if typing.TYPE_CHECKING:
    from autosearch.stopping import Stop
    from autosearch.trial_runner import TrialRunner

RAY_FOLDER = "ray_results"
SCHEDULERS = ("asha", "hyperband", "median", "fifo")
# Ray's remarks that are not the user's concern: a note that a local cluster uses token authentication, and
# Tune's complaint, after the run, that trials have no result files (MLflow keeps the results).
QUIET_LOGGERS = ("ray._private.authentication.authentication_token_setup", "ray.tune.analysis.experiment_analysis")


@dataclass(frozen=True)
class RayOptions(EngineOptions):
    resumable = frozenset({"ray_address", "concurrency", "cpus_per_trial", "gpus_per_trial"})

    scheduler: str | None = option(help="Ray Tune scheduler with --engine ray: asha (default), hyperband, median "
                                        "or fifo.", choices=SCHEDULERS)
    ray_address: str | None = option(help="Join this Ray cluster (e.g. 10.0.0.5:6379) instead of starting a local "
                                          "Ray for the run.")
    concurrency: int | None = option(help="Ray trials at once (default: one per GPU, else one per CPU share).",
                                     positive=True)
    cpus_per_trial: float | None = option(help="CPUs per Ray trial (default 1).", positive=True)
    gpus_per_trial: float | None = option(help="GPUs per Ray trial; fractions share a GPU (default: 1 where there "
                                               "are GPUs).", positive=True)


@register
class RayEngine(SearchEngine):
    name = "ray"
    summary = "Optuna's TPE on Ray Tune: trials in parallel, on a cluster, on GPUs"
    Options = RayOptions
    prunes = True
    # Measured on 2 cores: Tune ends its trials 2.7 s after the stop is asked (it asks its stopper when a result
    # arrives, buffered up to 1 s, then tears the actors down), and Ray shuts down in 1.4 s.
    wind_down_seconds = 4.5

    @property
    def scheduler(self) -> str:
        return self.options.scheduler or "asha"

    def describe(self) -> str:
        return f"Ray Tune (Optuna TPE, {self.scheduler} scheduler)"

    def params(self) -> dict:
        o = self.options
        return {"scheduler": self.scheduler, "ray_address": o.ray_address or "local",
                "concurrency": o.concurrency or "auto", "cpus_per_trial": o.cpus_per_trial or 1,
                "gpus_per_trial": o.gpus_per_trial if o.gpus_per_trial is not None else "auto"}

    def open(self) -> None:
        """The run's Optuna study, as the Optuna engine opens it; Ray's searcher samples from it."""
        from autosearch.engines.optuna_study import open_study

        s = self.setup
        self.study = open_study(s.storage, s.study_name, s.problem, s.seed, None, s.spaces, s.warm, s.portfolio)

    def recover(self, runner: TrialRunner) -> None:
        """Optuna trials a dead driver left running: failed, so the sampler stops waiting on them (their MLflow
        runs are closed as orphans: no other process runs this engine's trials)."""
        from optuna.trial import TrialState

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            self.study.tell(trial.number, state=TrialState.FAIL)

    def resources(self, gpus_visible: float, cpus_visible: float) -> tuple[float, float, int]:
        """(cpus, gpus) per trial and the concurrency: one trial per GPU where there are GPUs, else as
        many one-core trials as there are cores, unless told otherwise."""
        o = self.options
        gpus = o.gpus_per_trial if o.gpus_per_trial is not None else (1.0 if gpus_visible else 0.0)
        cpus = o.cpus_per_trial or 1.0
        fits = int(gpus_visible // gpus) if gpus else int(cpus_visible // cpus)
        return cpus, gpus, max(1, o.concurrency or fits)

    def search(self, runner: TrialRunner, trials: int, stop: Stop, lead: bool) -> None:
        if runner.store.count() >= trials or stop.requested:
            return
        from autosearch.engines.ray_tune import tune_search

        with _quiet(QUIET_LOGGERS), ray_context(self.options.ray_address, self.options.cpus_per_trial or 1):
            import ray

            if stop.requested:  # starting Ray took the time that was left
                return
            cluster = ray.cluster_resources()
            cpus, gpus, concurrency = self.resources(cluster.get("GPU", 0), cluster.get("CPU", 1))
            _check_a_node_fits(cpus, gpus)
            tune_search(self, runner, trials, stop, cpus, gpus, concurrency,
                        (self.setup.folder / RAY_FOLDER).resolve())


def _check_a_node_fits(cpus: float, gpus: float) -> None:
    """A trial that no node can hold would wait forever in Tune's queue: say so instead."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        return
    largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)))
    raise AutosearchError(
        f"a trial asks for {cpus:g} CPU and {gpus:g} GPU, but no Ray node has that much (the largest has "
        f"{largest.get('CPU', 0):g} CPU and {largest.get('GPU', 0):g} GPU); lower --cpus-per-trial / "
        "--gpus-per-trial, or add a node that has them")


@contextlib.contextmanager
def ray_context(address: str | None, cpus_per_trial: float):
    """Ray for the block: the cluster at `address`, or a local instance started here and shut down after;
    one this process already joined is used as it is."""
    import ray

    if ray.is_initialized():
        yield
        return
    on_sigterm = signal.getsignal(signal.SIGTERM)
    # "local": a new instance even where Ray would otherwise join the last cluster `ray start` made on this
    # machine (it does for address=None, and hangs on one that has since stopped); RAY_ADDRESS (`ray job
    # submit` sets it) still names the cluster to join
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or "local", include_dashboard=False,
             logging_level="ERROR", log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": _worker_env(cpus_per_trial)})
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


def _worker_env(cpus: float) -> dict[str, str]:
    """Thread pools sized to a trial's CPU share (Ray's OMP_NUM_THREADS=1 does not reach TensorFlow)."""
    from autosearch.models import MIXED_PRECISION_ENV

    threads = str(max(1, int(cpus)))
    env = {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads != '1' else 'false'}",
           "RAY_USAGE_STATS_ENABLED": "0"}
    for name in ("KERAS_BACKEND", MIXED_PRECISION_ENV):
        if name in os.environ:
            env[name] = os.environ[name]
    return env
