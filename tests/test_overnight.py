"""Overnight sweeps: killed and resumed, interrupted, budgeted, shared by two processes.

Real `autosearch` processes, real signals, the real Optuna study (SQLite) and MLflow store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient

RECORD = "autosearch.record"


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autosearch", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def study_of(out: Path) -> optuna.Study | None:
    if not (out / "run.json").exists():  # the chief writes it once the study exists
        return None
    try:
        return optuna.load_study(study_name="autosearch", storage=f"sqlite:///{out / 'study.db'}")
    except KeyError:  # created but not yet written
        return None


def wait_for(condition, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def done_and_running(out: Path) -> tuple[int, int]:
    study = study_of(out)
    if study is None:
        return 0, 0
    trials = study.get_trials(deepcopy=False)
    return (sum(RECORD in t.user_attrs for t in trials),
            sum(t.state is optuna.trial.TrialState.RUNNING and "autosearch.mlflow_run_id" in t.user_attrs
                for t in trials))


def mlflow_runs(out: Path) -> tuple[list, list]:
    state = json.loads((out / "run.json").read_text())
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(state["experiment"])
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("autosearch.kind") == "fit"
               and r.info.run_name == out.name]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in {p.info.run_id for p in parents}]
    return parents, children


def test_killed_run_resumes_without_losing_or_repeating_trials(breast_cancer_csv, tmp_path):
    out = tmp_path / "killed"
    fit = ("fit", breast_cancer_csv, "--target", "diagnosis", "--trials", "5", "--max-epochs", "30",
           "--output", out, "--experiment", "killed")
    first = start(*fit)
    wait_for(lambda: done_and_running(out)[0] >= 2 and done_and_running(out)[1] == 1, what="2 trials and a third")
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {t.number: t.user_attrs[RECORD] for t in study_of(out).get_trials() if RECORD in t.user_attrs}
    interrupted = [t.number for t in study_of(out).get_trials()
                   if t.state is optuna.trial.TrialState.RUNNING and "autosearch.worker" in t.user_attrs]
    assert len(before) >= 2 and len(interrupted) == 1

    resumed = subprocess.run([sys.executable, "-m", "autosearch", "resume", str(out)], capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming the run" in resumed.stderr and "was lost" in resumed.stderr

    trials = study_of(out).get_trials()
    after = {t.number: t.user_attrs[RECORD] for t in trials if RECORD in t.user_attrs}
    assert len(after) == 5  # the total asked for
    assert all(after[n] == record for n, record in before.items())  # nothing done before was lost or redone
    assert trials[interrupted[0]].state is optuna.trial.TrialState.FAIL and interrupted[0] not in after
    names = [record["name"] for record in after.values()]
    assert len(set(names)) == len(names)

    parents, children = mlflow_runs(out)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # one parent run, reused
    baselines = [c for c in children if c.data.tags["autosearch.kind"] == "baseline"]
    nets = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert len(baselines) == 4  # fitted once, not again on resume
    lost = [c for c in nets if c.data.tags.get("autosearch.error", "").startswith("lost:")]
    assert len(lost) == 1 and lost[0].info.status == "FAILED"
    assert len(nets) == 6 and len({c.info.run_name for c in nets}) == 6
    board = pd.read_csv(out / "leaderboard.csv")
    assert (board.kind == "nn").sum() == 5 and (board.kind == "baseline").sum() == 4


def test_sigint_during_a_trial_writes_results_and_exits_0(breast_cancer_csv, tmp_path):
    out = tmp_path / "interrupted"
    run = start("fit", breast_cancer_csv, "--target", "diagnosis", "--trials", "50", "--max-epochs", "60",
                "--output", out, "--experiment", "interrupted")
    wait_for(lambda: done_and_running(out)[0] >= 1 and done_and_running(out)[1] == 1, what="a trial running")
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    assert "cut short (SIGINT received)" in output and f"autosearch resume {out}" in output
    assert json.loads((out / "run.json").read_text())["status"] == "cut_short"
    board = pd.read_csv(out / "leaderboard.csv")
    assert 1 <= (board.kind == "nn").sum() < 50 and board.test_score.notna().sum() == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cut_short"] == "SIGINT received"
    predicted = subprocess.run([sys.executable, "-m", "autosearch", "predict", str(out / "model"),
                                str(breast_cancer_csv)], capture_output=True, text=True, timeout=120)
    assert predicted.returncode == 0 and predicted.stdout.startswith("prediction,")


def test_time_budget_ends_the_whole_process_in_time(breast_cancer_csv, tmp_path):
    budget = 25
    out = tmp_path / "budget"
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autosearch", "fit", str(breast_cancer_csv), "--target",
                           "diagnosis", "--trials", "1000", "--time-budget", f"{budget}s", "--output", str(out)],
                          capture_output=True, text=True, timeout=budget * 3)
    wall = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-2000:]
    assert "time budget reached" in done.stderr
    assert wall <= budget + 1.0  # the stated margin: the process, start-up included, ends within the budget + 1 s
    assert (out / "model" / "metadata.json").exists() and (out / "leaderboard.csv").exists()


@pytest.mark.parametrize("sharing", ["one output folder", "one --storage, two folders"])
def test_two_processes_share_one_study(breast_cancer_csv, tmp_path, sharing):
    outs = [tmp_path / "shared", tmp_path / "shared"]
    extra: tuple = ()
    if sharing.startswith("one --storage"):
        outs = [tmp_path / "first", tmp_path / "second"]
        extra = ("--storage", f"sqlite:///{tmp_path / 'shared.db'}", "--study", "shared-study")
    fit = ("fit", breast_cancer_csv, "--target", "diagnosis", "--trials", "8", "--max-epochs", "10",
           "--experiment", "shared", *extra)
    chief = start(*fit, "--output", outs[0])
    wait_for(lambda: (outs[0] / "run.json").exists(), what="the chief's run.json")
    worker = start(*fit, "--output", outs[1])
    worker_out, _ = worker.communicate(timeout=300)
    chief_out, _ = chief.communicate(timeout=300)
    assert worker.returncode == 0 and chief.returncode == 0, worker_out + chief_out
    assert "as a worker" in worker_out

    storage = f"sqlite:///{tmp_path / 'shared.db'}" if extra else f"sqlite:///{outs[0] / 'study.db'}"
    trials = optuna.load_study(study_name="shared-study" if extra else "autosearch", storage=storage).get_trials()
    counted = [t for t in trials if RECORD in t.user_attrs]
    assert len(counted) == 8  # the total asked for, across both processes
    assert len({t.user_attrs["autosearch.worker"] for t in counted}) == 2  # both processes ran trials
    params = [json.dumps(t.user_attrs[RECORD]["params"], sort_keys=True) for t in counted]
    assert len(set(params)) == len(params)  # the worker samples with its own seed: no repeated proposals
    _, children = mlflow_runs(outs[0])
    nets = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert len(nets) == 8 and len({c.info.run_name for c in nets}) == 8  # no trial run twice
    assert (pd.read_csv(outs[0] / "leaderboard.csv").kind == "nn").sum() == 8


def test_same_seed_same_data_same_trial_parameters(breast_cancer_csv, tmp_path):
    import autosearch

    params = []
    for name in ("a", "b"):
        result = autosearch.fit(breast_cancer_csv, target="diagnosis", trials=4, max_epochs=2, seed=7,
                                quiet=True, output=tmp_path / name)
        nets = result.leaderboard[result.leaderboard.kind == "nn"].sort_values("name")
        params.append(list(nets.params))
    assert params[0] == params[1]


def test_a_different_search_in_the_same_folder_is_refused(breast_cancer_csv, iris_csv, tmp_path):
    import autosearch

    out = tmp_path / "run"
    autosearch.fit(breast_cancer_csv, target="diagnosis", trials=1, max_epochs=1, quiet=True, output=out)
    with pytest.raises(autosearch.AutosearchError, match="holds a run on other data"):
        autosearch.fit(iris_csv, trials=1, max_epochs=1, quiet=True, output=out)
    with pytest.raises(autosearch.AutosearchError, match="holds a run with other settings"):
        autosearch.fit(breast_cancer_csv, target="diagnosis", trials=1, max_epochs=1, seed=3, quiet=True,
                       output=out)


def test_sweep_runs_every_entry_even_when_one_fails(breast_cancer_csv, tmp_path):
    (tmp_path / "broken.csv").write_text("a,b,target\n")  # header only
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"""
output: out
defaults: {{trials: 2, max_epochs: 2}}
runs:
  - data: broken.csv
  - data: {breast_cancer_csv}
    target: diagnosis
    spaces: [default, {Path(__file__).parents[1] / 'search_spaces' / 'dense.yaml'}]
""")
    done = subprocess.run([sys.executable, "-m", "autosearch", "sweep", str(sweep)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]  # a run failed; the others ran
    summary = pd.read_csv(tmp_path / "out" / "sweep-summary.csv")
    assert list(summary.run) == ["broken", "breast_cancer", "breast_cancer-dense"]
    assert list(summary.status) == ["failed", "finished", "finished"]
    assert "no data rows" in summary.error[0]
    for name in ("breast_cancer", "breast_cancer-dense"):
        assert (tmp_path / "out" / name / "model" / "metadata.json").exists()
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    assert client.get_experiment_by_name("breast_cancer") is not None  # one experiment per dataset
    again = subprocess.run([sys.executable, "-m", "autosearch", "sweep", str(sweep)], capture_output=True,
                           text=True, timeout=120)
    assert again.stderr.count("finished in an earlier sitting: skipped") == 2


def test_overnight_script_passes_sigterm_on_and_logs_to_a_dated_file(breast_cancer_csv, tmp_path):
    sweep = tmp_path / "night.yaml"
    sweep.write_text(f"output: out\ndefaults: {{trials: 100, max_epochs: 60}}\nruns:\n"
                     f"  - data: {breast_cancer_csv}\n    target: diagnosis\n")
    script = Path(__file__).parents[1] / "scripts" / "overnight.sh"
    env = {**os.environ, "AUTOSEARCH": str(Path(sys.executable).parent / "autosearch"), "LOGS": str(tmp_path / "logs")}
    night = subprocess.Popen(["bash", str(script), str(sweep)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: done_and_running(tmp_path / "out" / "breast_cancer")[0] >= 1, what="a first trial")
    night.send_signal(signal.SIGTERM)  # to the shell script, as Slurm and systemd do
    output, _ = night.communicate(timeout=120)
    assert night.returncode == 0, output
    logs = list((tmp_path / "logs").glob("night-*.log"))
    assert len(logs) == 1 and "cut short (SIGTERM received)" in logs[0].read_text()
    assert (tmp_path / "out" / "breast_cancer" / "leaderboard.csv").exists()
