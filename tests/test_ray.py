"""What only the Ray engine does, against real Ray: a worker that dies, a trial no node can hold, SIGTERM kept
with the run, a two-node cluster on 127.0.0.1 joined with --ray-address. (Its searches, stops and resumes are
checked with every engine's in test_engine_contract.py.) Few and short: Ray starts in seconds and each worker
imports Keras."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from test_fit import runs_of

import autosearch
from autosearch import restart
from autosearch.errors import AutosearchError
from autosearch.spaces import load_space

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_sandbox")]  # every test trains; Ray set up

SPACE_NAMES = {s.name for family in ("dense", "tabm") for s in load_space(family=family).params}  # tables


def check_trials(result, expected: int, device: str = "cpu") -> list:
    """Every trial is one nested MLflow run, logged once, with the space's parameters and a device."""
    client, parent, children = runs_of(result.mlflow_run_id)
    assert parent.data.params["engine"] == "ray"
    trials = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert len(trials) == expected and len({t.info.run_name.split()[0] for t in trials}) == expected
    for run in trials:
        state = run.data.tags["autosearch.state"]
        assert state in ("complete", "pruned", "failed")
        assert run.info.status == {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}[state]
        assert {k.split("_")[0] if k.startswith("units_") else k for k in run.data.params} <= SPACE_NAMES
        if state == "complete":
            assert run.data.tags["autosearch.device"].startswith(f"{device} on node ")
            assert client.get_metric_history(run.info.run_id, "epoch_val_score")
    board = pd.read_csv(result.output_dir / "leaderboard.csv")
    assert (board.kind == "nn").sum() == expected and 1 <= board.test_score.notna().sum() <= 3
    return trials


def kill_a_trial_worker(killed: list) -> threading.Thread:
    """SIGKILL the first Ray trial worker that appears (as the OOM killer would), once."""
    def kill():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for proc in Path("/proc").glob("[0-9]*"):
                try:
                    title = (proc / "cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if title.startswith("ray::ImplicitFunc"):  # Tune's trial actor
                    time.sleep(0.3)
                    os.kill(int(proc.name), signal.SIGKILL)
                    killed.append(title.split("\0")[0].strip())
                    break
            time.sleep(0.05)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def test_a_trial_whose_worker_dies_runs_again_and_the_search_goes_on(iris_csv, tmp_path, capfd):
    killed: list[str] = []  # one trial's worker dies (as under the OOM killer): Ray runs that trial again
    killer = kill_a_trial_worker(killed)
    result = autosearch.fit(iris_csv, target="species", trials=4, max_epochs=3, cv_folds=2, engine="ray", concurrency=2,
                            output=tmp_path / "run", experiment="ray-local", seed=1, quiet=True)
    killer.join()
    trials = check_trials(result, 4)
    assert killed, "no Ray trial worker was seen to kill"
    again = [t.data.tags["autosearch.note"] for t in trials if "run again" in t.data.tags.get("autosearch.note", "")]
    assert len(again) == 1 and "died" in again[0], again
    printed = capfd.readouterr().err
    assert "Traceback" not in printed  # the dead worker is in the trial's note, not a traceback
    assert "Token authentication" not in printed and "Failed to fetch metrics" not in printed  # Ray's, not ours
    assert result.summary.test_score > 0.6


def test_a_worker_that_outgrew_its_memory_limit_restarts_the_run_which_resumes_in_fresh_workers(iris_csv, tmp_path,
                                                                                              monkeypatch):
    monkeypatch.setattr(restart, "_limit_mb", 1.0)  # as the command line sets it (AUTOSEARCH_MAX_GROWTH_MB=1)
    with pytest.raises(restart.Restart) as asked:  # the command line would replace its process with `resume`
        autosearch.fit(iris_csv, target="species", trials=3, max_epochs=1, cv_folds=2, engine="ray", concurrency=1,
                       output=tmp_path / "run", quiet=True)
    assert asked.value.args_again[:2] == ["resume", str((tmp_path / "run").resolve())]
    asked.value.lock.close()  # the run folder's lock: the command line would hand it to the fresh process
    import ray
    assert not ray.is_initialized()  # the run's local Ray ended with its sitting: its workers with it
    # the first trial, kept (with one more if Tune had started it before the stop and it ended an epoch)
    assert 1 <= json.loads((tmp_path / "run" / "run.json").read_text())["trials_done"] < 3
    monkeypatch.setattr(restart, "_limit_mb", None)
    result = autosearch.resume(tmp_path / "run", quiet=True)
    check_trials(result, 3)


def test_the_local_ray_of_a_run_is_its_own_and_leaves_sigterm_to_the_run(monkeypatch):
    import ray

    from autosearch.engines.ray_engine import ray_context

    # The address of a cluster `ray start` made here once, since stopped: plain ray.init() would try to join it
    # (and wait ~100 s for it) instead of starting the run's own local Ray.
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
    monkeypatch.setenv("RAY_TMPDIR", str(temp))
    (temp / "ray").mkdir()
    (temp / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")

    def the_runs_handler(number, frame):  # what Stop.on_signals installs: SIGTERM ends a search gracefully
        pass

    previous = signal.signal(signal.SIGTERM, the_runs_handler)
    began = time.monotonic()
    try:
        with ray_context(None, 1):  # ray.init installs its own SIGTERM handler, which exits at once
            assert ray.is_initialized() and time.monotonic() - began < 60
            assert signal.getsignal(signal.SIGTERM) is the_runs_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_trial_no_node_can_hold_is_refused_not_queued_forever(iris_csv, tmp_path):
    with pytest.raises(AutosearchError, match="no Ray node has that much.*--gpus-per-trial"):
        autosearch.fit(iris_csv, target="species", trials=2, max_epochs=1, engine="ray", gpus_per_trial=1,
                       output=tmp_path / "run", quiet=True)  # this machine has no GPU
    assert (tmp_path / "run" / "run.json").exists()  # the run stays, to resume with other resources


def test_a_two_node_cluster_on_localhost_shares_the_trials(iris_csv, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    # Trials of a few seconds (one sample per batch, no early stop): longer than a worker's start-up, so
    # Ray does not hand every trial to the first node's reused actor while the second node's still starts.
    space = tmp_path / "slow.yaml"
    space.write_text("family: dense\ntraining: {max_epochs: 12, patience: 12}\nparams:\n  layers: 1\n"
                     "  units: {type: int, low: 8, high: 32, per_layer: layers}\n  batch_size: 1\n")
    try:
        result = autosearch.fit(iris_csv, target="species", trials=4, engine="ray", scheduler="fifo", space=space,
                                holdout=True, ray_address=cluster.address, output=tmp_path / "run",
                                experiment="ray-cluster", mixed_precision=True, quiet=True)
        trials = check_trials(result, 4, device="cpu (mixed_float16)")  # the driver's setting reached the workers
        nodes = {t.data.tags["autosearch.device"].split(" on node ")[1] for t in trials
                 if "autosearch.device" in t.data.tags}
        assert len(nodes) == 2, nodes  # one trial per node at a time: both nodes trained
    finally:
        import ray
        ray.shutdown()
        cluster.shutdown()
