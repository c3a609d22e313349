"""MLflow bookkeeping: one parent run per `fit`, one nested run per candidate.

With `mlflow_model.py` (the pick as an MLflow Model), the only module that imports MLflow. Uses MlflowClient (no
global active run), so trials logged from anywhere land under the parent run they name.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from autosearch.errors import AutosearchError, describe
from autosearch.records import CandidateKind, State, TrialRecord
from autosearch.redact import redact

# A pruned trial ended as the pruner asked: FINISHED, named "… (pruned)" and tagged autosearch.state=pruned,
# so that the runs table does not show it with the red cross of a failed one.
RUN_STATUS = {State.COMPLETE: "FINISHED", State.PRUNED: "FINISHED", State.FAILED: "FAILED"}
PRUNED_SUFFIX = " (pruned)"
CANDIDATE_KINDS = {CandidateKind.NETWORK: "trial", CandidateKind.BASELINE: "baseline",  # the autosearch.kind tag
                   CandidateKind.ENSEMBLE: "ensemble"}
PARENT_ID_TAG = "mlflow.parentRunId"
COMPLETE_TRIALS = "tags.`autosearch.kind` = 'trial' and tags.`autosearch.state` = 'complete'"  # a runs filter
MAX_PARAM_CHARS = 6000
SYSTEM_METRICS_SECONDS = 5.0  # between two samples of a trial's CPU, memory and GPU use (--system-metrics)


def _params(values: Mapping[str, Any]) -> list[Param]:
    return [Param(str(k), str(v)[:MAX_PARAM_CHARS]) for k, v in values.items()]


def _now_ms() -> int:
    return int(time.time() * 1000)


def run_label(params: Mapping[str, Any]) -> str:
    """A network's parameters in a few words, for the dashboard's run list: its architecture and size,
    activation, optimizer and learning rate.

    >>> run_label({"layers": 2, "units_0": 64, "units_1": 32, "activation": "relu", "optimizer": "adam",
    ...           "learning_rate": 0.001, "dropout": 0.1})
    '64-32 relu adam lr=0.001'
    >>> run_label({"cell": "gru", "bidirectional": True, "layers": 1, "units_0": 48, "optimizer": "rmsprop",
    ...           "learning_rate": 0.00234})
    'bi-gru 48 rmsprop lr=0.0023'
    >>> run_label({"blocks": 3, "filters": 32, "conv_type": "separable", "kernel_size": 5})
    'separable 3x32 k5'
    >>> run_label({"ensemble_size": 16, "layers": 2, "units": 128, "activation": "relu", "optimizer": "adamw",
    ...           "learning_rate": 0.002})
    '16 members 2x128 relu adamw lr=0.002'
    """
    words = [str(params[key]) for key in ("architecture",) if key in params]
    if "cell" in params:
        words.append(("bi-" if params.get("bidirectional") else "") + str(params["cell"]))
    if params.get("conv_type", "conv") != "conv":
        words.append(str(params["conv_type"]))
    units = [str(params[f"units_{i}"]) for i in range(int(params.get("layers", 0))) if f"units_{i}" in params]
    if "ensemble_size" in params:
        words.append(f"{params['ensemble_size']} members")
    if units:
        words.append("-".join(units))
    elif "units" in params and "layers" in params:
        words.append(f"{params['layers']}x{params['units']}")
    if "blocks" in params and "filters" in params:
        words.append(f"{params['blocks']}x{params['filters']}" + (f" k{params['kernel_size']}"
                                                                  if "kernel_size" in params else ""))
    words += [str(params[key]) for key in ("activation", "optimizer") if key in params]
    if "learning_rate" in params:
        words.append(f"lr={float(params['learning_rate']):.2g}")
    return " ".join(words)


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast on a tracking server that does not answer.

    MLflow retries a refused connection for minutes before it gives up; one short probe first
    turns that into an immediate, readable error. Any HTTP answer (even 401/404) counts as reachable.
    """
    if not uri.startswith(("http://", "https://")):
        return
    parts = urllib.parse.urlsplit(uri)  # urllib reads no user:password@ in a URL; any answer will do here
    bare = parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]).geturl()
    try:
        urllib.request.urlopen(f"{bare.rstrip('/')}/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise AutosearchError(f"cannot reach the MLflow tracking server at {redact(uri)} ({reason}); start it "
                              "(mlflow server --host 127.0.0.1 --port 5000) or pass another --tracking-uri") from None


def experiment_runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs table under a dashboard at `base` (MLflow 3's root opens on its overview page).

    >>> experiment_runs_url("http://127.0.0.1:5000/", "3")
    'http://127.0.0.1:5000/#/experiments/3/runs'
    """
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs"


def experiment_id(tracking_uri: str, experiment: str | None) -> str | None:
    """The id of the experiment named `experiment` in the store, if there is one."""
    if not experiment:
        return None
    try:
        found = MlflowClient(tracking_uri).get_experiment_by_name(experiment)
    except MlflowException:
        return None
    return found.experiment_id if found else None


class Tracker:
    """Writes a fit's runs into one MLflow experiment."""

    def __init__(self, tracking_uri: str | None, experiment: str):
        self.tracking_uri = tracking_uri or mlflow.get_tracking_uri()
        check_reachable(self.tracking_uri)
        self.client = MlflowClient(self.tracking_uri)
        try:
            found = self.client.get_experiment_by_name(experiment)
            self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        except MlflowException as e:
            raise AutosearchError(f"MLflow at {redact(self.tracking_uri)} refused the experiment '{experiment}' "
                                  f"({describe(e, 300)}); check --tracking-uri and --experiment") from None
        self.experiment = experiment
        self.parent_id: str | None = None

    def start_parent(self, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        run = self.client.create_run(self.experiment_id, run_name=run_name,
                                     tags={"autosearch.kind": "fit", **tags})
        self.parent_id = run.info.run_id
        self.client.log_batch(self.parent_id, params=_params(params))
        return self.parent_id

    def resume_parent(self, run_id: str) -> None:
        """Continue an earlier fit's parent run (a resumed search logs under the same run)."""
        self.parent_id = run_id
        self.client.update_run(run_id, status="RUNNING")

    def join_parent(self, run_id: str) -> None:
        """Log under another process's parent run (a worker sharing its run)."""
        self.parent_id = run_id
        self.experiment_id = self.client.get_run(run_id).info.experiment_id

    @contextmanager
    def system_metrics(self, run_id: str | None) -> Iterator[None]:
        """While the block runs, MLflow's monitor logs CPU, memory, disk, network and (with NVIDIA's or AMD's
        library) GPU use on `run_id` as `system/…` metrics every SYSTEM_METRICS_SECONDS
        ($MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL to change); nothing when `run_id` is None."""
        if run_id is None:
            yield
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=SYSTEM_METRICS_SECONDS,
                                       tracking_uri=self.tracking_uri)
        monitor.start()
        try:
            yield
        finally:
            monitor.finish()

    def fail_run(self, run_id: str, error: str) -> None:
        """Close a candidate's run whose process died before it could."""
        self.client.log_batch(run_id, tags=[RunTag("autosearch.state", "failed"), RunTag("autosearch.error", error)])
        self.client.set_terminated(run_id, "FAILED")

    def fail_orphans(self, claimed: set[str], why: str) -> int:
        """Mark failed the parent's child runs still RUNNING that no running trial claims (their process
        died between opening the run and saying so); returns how many."""
        orphans = self.client.search_runs(
            [self.experiment_id], max_results=1000,
            filter_string=f"tags.`{PARENT_ID_TAG}` = '{self.parent_id}' and attributes.status = 'RUNNING'")
        for run in orphans:
            if run.info.run_id not in claimed:
                self.fail_run(run.info.run_id, f"lost: {why}")
        return sum(run.info.run_id not in claimed for run in orphans)

    def start_candidate(self, name: str, kind: CandidateKind, family: str, params: Mapping[str, Any]) -> str:
        """Open a nested run (RUNNING) before a candidate trains, so the dashboard shows it live."""
        tags = {PARENT_ID_TAG: self.parent_id, "autosearch.kind": CANDIDATE_KINDS[kind], "autosearch.family": family}
        run_name = f"{name} {run_label(params)}".strip() if kind is CandidateKind.NETWORK else name
        run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        self.client.log_batch(run.info.run_id, params=_params(params))
        return run.info.run_id

    def end_candidate(self, run_id: str, record: TrialRecord) -> None:
        """Log the candidate's curves, scores and state, and close its run."""
        now = _now_ms()
        # curves are "epoch_<name>" so they never shadow the one final value the run list sorts by
        metrics = [Metric(f"epoch_{key}", value, now, step) for key, values in record.curves.items()
                   for step, value in enumerate(values) if math.isfinite(value)]
        final = {"val_score": record.val_score, "folds": record.folds, "fit_seconds": record.fit_seconds,
                 "epochs": record.epochs}
        metrics += [Metric(k, float(v), now, 0) for k, v in final.items() if v is not None and math.isfinite(v)]
        tags = [RunTag("autosearch.state", record.state.value)]
        if record.best_epoch is not None:
            tags.append(RunTag("autosearch.best_epoch", str(record.best_epoch)))
        if record.error:
            tags.append(RunTag("autosearch.error", record.error))
        if record.note:
            tags.append(RunTag("autosearch.note", record.note))
        if record.device:
            tags.append(RunTag("autosearch.device", record.device))
        if record.worker:
            tags.append(RunTag("autosearch.worker", record.worker))
        if record.warm_start:
            tags.append(RunTag("autosearch.warm_start", record.warm_start))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        if record.state is State.PRUNED:
            name = self.client.get_run(run_id).info.run_name or record.name
            self.client.update_run(run_id, name=name + PRUNED_SUFFIX)
        self.client.set_terminated(run_id, RUN_STATUS[record.state])

    def log_candidate(self, record: TrialRecord) -> TrialRecord:
        """Open and close a candidate's run in one go (for candidates logged after they ran)."""
        run_id = self.start_candidate(record.name, record.kind, record.family, record.params)
        self.end_candidate(run_id, record)
        return record.with_run(run_id)

    def finish_parent(self, metrics: Mapping[str, float], tags: Mapping[str, str], files: list[Path],
                      folders: Mapping[str, Path], status: str = "FINISHED") -> None:
        now = _now_ms()
        self.client.log_batch(
            self.parent_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None and math.isfinite(v)],
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )
        for path in files:
            self.client.log_artifact(self.parent_id, str(path))
        for name, folder in folders.items():
            self.client.log_artifacts(self.parent_id, str(folder), artifact_path=name)
        self.client.set_terminated(self.parent_id, status)

    def abort_parent(self, status: str = "FAILED") -> None:
        """Close the parent run of a sitting that did not finish; best effort (the store may be what failed)."""
        if self.parent_id:
            try:
                self.client.set_terminated(self.parent_id, status)
            except Exception:
                pass


CURVES = ("epoch_loss", "epoch_val_loss", "epoch_val_score")


def read_curves(tracking_uri: str, run_ids: list[str]) -> dict[str, dict[str, list[float]]]:
    """The per-epoch curves of some candidates' runs: {run_id: {"loss": [...], "val_loss": ..., ...}}."""
    client = MlflowClient(tracking_uri)
    curves = {}
    for run_id in run_ids:
        curves[run_id] = {}
        for key in CURVES:
            history = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
            curves[run_id][key.removeprefix("epoch_")] = [m.value for m in history]
    return curves


def log_report(tracking_uri: str, run_id: str, html: Path, images: Path) -> None:
    """Put a (re)written report on a fit's parent run."""
    client = MlflowClient(tracking_uri)
    client.log_artifact(run_id, str(html))
    client.log_artifacts(run_id, str(images), artifact_path="report")
