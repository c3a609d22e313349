"""Overnight sweeps: the same search again, a different one refused, sweep files, the overnight script.

(Killed, resumed, budgeted, interrupted and shared searches are checked for every engine in
test_engine_contract.py.) Real `autosearch` processes, real signals, the real run database and MLflow store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from commands import autosearch_here
from mlflow import MlflowClient
from test_engine_contract import stored, wait_for

pytestmark = pytest.mark.slow  # every test here trains or starts processes


def test_same_seed_same_data_same_trial_parameters(breast_cancer_csv, tmp_path):
    import autosearch

    params = []
    for name in ("a", "b"):
        result = autosearch.fit(breast_cancer_csv, target="diagnosis", trials=4, max_epochs=2, seed=7,
                                cv_folds=2, baselines="linear", quiet=True, output=tmp_path / name)
        nets = result.leaderboard[result.leaderboard.kind == "nn"].sort_values("name")
        params.append(list(nets.params))
    assert params[0] == params[1]


def test_a_different_search_in_the_same_folder_is_refused(breast_cancer_csv, iris_csv, tmp_path):
    import autosearch

    out = tmp_path / "run"
    autosearch.fit(breast_cancer_csv, target="diagnosis", trials=1, max_epochs=1, cv_folds=2, quiet=True, output=out)
    with pytest.raises(autosearch.AutosearchError, match="holds a run on other data"):
        autosearch.fit(iris_csv, trials=1, max_epochs=1, cv_folds=2, quiet=True, output=out)
    with pytest.raises(autosearch.AutosearchError, match="holds a run with other settings"):
        autosearch.fit(breast_cancer_csv, target="diagnosis", trials=1, max_epochs=1, seed=3, cv_folds=2, quiet=True,
                       output=out)
    with pytest.raises(autosearch.AutosearchError, match=r"other settings \(engine 'optuna' → 'keras-tuner'"):
        autosearch.fit(breast_cancer_csv, target="diagnosis", trials=1, max_epochs=1, cv_folds=2, quiet=True,
                       output=out, engine="keras-tuner")


def test_a_run_whose_search_space_changed_is_refused(breast_cancer_csv, tmp_path):
    """A space file edited (or autosearch upgraded) between sittings: Optuna refuses new choices for a parameter
    it has seen, and a trial would be refitted with another network than the one scored."""
    import autosearch

    space = tmp_path / "dense.yaml"
    space.write_text((Path(__file__).parents[1] / "search_spaces" / "dense.yaml").read_text())
    out = tmp_path / "run"
    autosearch.fit(breast_cancer_csv, target="diagnosis", trials=1, max_epochs=1, cv_folds=2, quiet=True, output=out,
                   space=space)
    space.write_text(space.read_text().replace("default: relu", "default: tanh", 1))
    with pytest.raises(autosearch.AutosearchError, match="search spaces of the run .* have changed"):
        autosearch.fit(breast_cancer_csv, target="diagnosis", trials=2, max_epochs=1, cv_folds=2, quiet=True,
                       output=out, space=space)


def take_the_lock_while_restarting(lock: Path, stderr: Path, command: subprocess.Popen) -> int:
    """How often another process could take the run folder's lock between a restart said on `stderr` and the
    fresh process's resuming the run (polled every 20 ms, released at once)."""
    import fcntl
    import time

    taken = 0
    while command.poll() is None:
        said = stderr.read_text()
        if "restarting the process" in said and "resuming the run in" not in said:
            with open(lock, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    taken += 1
                    fcntl.flock(handle, fcntl.LOCK_UN)
                except BlockingIOError:
                    pass
        time.sleep(0.02)
    return taken


def test_a_process_that_outgrew_its_memory_limit_hands_the_run_to_a_fresh_one(iris_csv, tmp_path):
    """TensorFlow keeps part of every network a process trained: past AUTOSEARCH_MAX_GROWTH_MB the command
    replaces its process between two trials and the run goes on, under one MLflow run, inside its budget."""
    import time

    out = tmp_path / "run"
    env = {**os.environ, "AUTOSEARCH_MAX_GROWTH_MB": "1"}  # any trial grows a process by more than 1 MB
    began = time.monotonic()
    with open(tmp_path / "stderr.txt", "w+") as printed:
        command = subprocess.Popen([sys.executable, "-m", "autosearch", "fit", str(iris_csv), "--target", "species",
                                    "--trials", "2", "--max-epochs", "1", "--cv-folds", "2", "--time-budget", "10m",
                                    "--output", str(out)], stderr=printed, stdout=subprocess.DEVNULL, env=env)
        taken = take_the_lock_while_restarting(out / ".lock", tmp_path / "stderr.txt", command)
        assert command.wait(timeout=300) == 0
        printed.seek(0)
        stderr = printed.read()
    wall = time.monotonic() - began
    assert stderr.count("restarting the process to release it") == 1, stderr  # after trial 1; trial 2 ends it
    assert "resuming the run in" in stderr and "1 of 2 trials done" in stderr
    assert taken == 0  # the run's lock was held through the restart: no other process could take the run over
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"]["complete"] == 2
    assert summary["seconds"]["total"] > wall - 10  # the budget counted from the first process's start
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    parent = client.get_run(summary["mlflow_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    trials = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert parent.info.status == "FINISHED" and len(trials) == 2
    assert all(c.info.status == "FINISHED" for c in trials)
    assert json.loads((out / "run.json").read_text())["config"]["time_budget"] == 600


def test_sweep_runs_every_entry_even_when_one_fails(breast_cancer_csv, tmp_path):
    (tmp_path / "broken.csv").write_text("a,b,target\n")  # header only
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"""
output: out
defaults: {{trials: 2, max_epochs: 2, cv_folds: 2, baselines: linear}}
runs:
  - data: broken.csv
  - data: {breast_cancer_csv}
    target: diagnosis
    spaces: [default, {Path(__file__).parents[1] / 'search_spaces' / 'dense.yaml'}]
""")
    done = subprocess.run([sys.executable, "-m", "autosearch", "sweep", str(sweep)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "AUTOSEARCH_MAX_GROWTH_MB": "1"})
    assert done.returncode == 1, done.stderr[-2000:]  # a run failed; the others ran
    # a trial outgrew the memory limit: the sweep went on in a fresh process, which skipped what was done and
    # resumed the run it was in (how many trials grow past 1 MB depends on what the allocator reuses: 1 or 2)
    assert done.stderr.count("restarting the process to release it") >= 1
    summary = pd.read_csv(tmp_path / "out" / "sweep-summary.csv")
    assert list(summary.run) == ["broken", "breast_cancer", "breast_cancer-dense"]
    assert list(summary.status) == ["failed", "finished", "finished"] and list(summary.trials[1:]) == [2, 2]
    assert "no data rows" in summary.error[0]
    for name in ("breast_cancer", "breast_cancer-dense"):
        assert (tmp_path / "out" / name / "model" / "metadata.json").exists()
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_experiment_by_name("breast_cancer") is not None  # one experiment per dataset
    again = autosearch_here("sweep", sweep)
    assert again.stderr.count("finished in an earlier sitting: skipped") == 2


def test_overnight_script_passes_sigterm_on_and_logs_to_a_dated_file(breast_cancer_csv, tmp_path):
    sweep = tmp_path / "night.yaml"
    sweep.write_text(f"output: out\ndefaults: {{trials: 100, max_epochs: 60}}\nruns:\n"
                     f"  - data: {breast_cancer_csv}\n    target: diagnosis\n")
    script = Path(__file__).parents[1] / "scripts" / "overnight.sh"
    env = {**os.environ, "AUTOSEARCH": str(Path(sys.executable).parent / "autosearch"), "LOGS": str(tmp_path / "logs")}
    night = subprocess.Popen(["bash", str(script), str(sweep)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: len(stored(tmp_path / "out" / "breast_cancer")) >= 1, what="a first trial")
    night.send_signal(signal.SIGTERM)  # to the shell script, as Slurm and systemd do
    output, _ = night.communicate(timeout=120)
    assert night.returncode == 0, output
    logs = list((tmp_path / "logs").glob("night-*.log"))
    assert len(logs) == 1 and "cut short (SIGTERM received)" in logs[0].read_text()
    assert (tmp_path / "out" / "breast_cancer" / "leaderboard.csv").exists()
