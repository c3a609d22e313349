"""The engine contract: one suite every registered engine must pass, as Optuna runs every sampler through one.

A new engine that passes it is done. Each check runs on every engine in `ENGINES` (keras-tuner once per
algorithm where that matters), on real data, with real Keras training, the real run database and MLflow:

- the same space file gives the same logged parameters (names and ranges), the same MLflow layout and tags;
  failed trials are recorded with their error, pruned ones (engines that prune) as pruned;
- the records in the run's TrialStore are the MLflow runs and the leaderboard rows, one each;
- a process killed mid-trial (SIGKILL) resumes without losing or repeating a trial; the time budget ends a
  sitting in time; Ctrl-C ends one with its results written;
- two processes share one search where the engine says it can, and the second is refused where it cannot.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from commands import autosearch_here
from mlflow import MlflowClient

import autosearch
from autosearch.engines import ENGINES
from autosearch.runs import FolderLock, RunState
from autosearch.spaces import load_space
from autosearch.trial_store import TrialStore

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_sandbox")]  # every test trains; Ray set up

# Every engine, with the options that make its searches short here; keras-tuner once per algorithm.
CASES = {"optuna": ("optuna", {}), "ray": ("ray", {"concurrency": 2}),
         **{f"keras-tuner-{t}": ("keras-tuner", {"tuner": t}) for t in ("hyperband", "bayesian", "random")}}
ONE_PER_ENGINE = ["optuna", "keras-tuner-random", "ray"]
BASELINES = ["dummy", "linear"]  # the classical candidates these runs fit (--baselines): the engines are the subject
assert {CASES[c][0] for c in ONE_PER_ENGINE} == set(ENGINES), "a registered engine is missing from the suite"
STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "failed": "FAILED"}  # pruned: by name and tag

# Some trials fail (an unknown activation), some barely learn (a learning rate of 1e-6): engines that prune
# have trials to prune.
SPACE = """family: dense
training: {max_epochs: 6, patience: 6}
params:
  layers: 1
  units: {type: int, low: 8, high: 32, per_layer: layers}
  activation: {type: categorical, choices: [relu, no_such_activation]}
  learning_rate: {type: categorical, choices: [0.03, 1.0e-6]}
  batch_size: 16
"""


def stored(out: Path, kind: str = "nn") -> list:
    """The records in the run's TrialStore (empty until the run has begun)."""
    state = RunState.load(out) if (out / "run.json").exists() else None
    if state is None:
        return []
    store = state.trial_store(out)
    try:
        return store.records(kind)
    finally:
        store.close()


def mlflow_children(out: Path) -> tuple[list, list]:
    """(the run's parent runs, their child runs) in MLflow."""
    state = json.loads((out / "run.json").read_text())
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(state["experiment"])
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("autosearch.kind") == "fit"
               and r.data.tags.get("autosearch.output") == str(out.resolve())]
    ids = {p.info.run_id for p in parents}
    return parents, [r for r in runs if r.data.tags.get("mlflow.parentRunId") in ids]


def declared(spec, text: str) -> bool:
    if spec.type == "categorical":
        return any(str(c) == text for c in spec.choices)
    if spec.type == "fixed":
        return str(spec.default) == text
    return spec.low <= float(text) <= spec.high


def wait_for(condition, timeout: float = 240, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "autosearch", *map(str, args)]


def engine_flags(case: str) -> list[str]:
    engine, options = CASES[case]
    return ["--engine", engine, *[x for k, v in options.items() for x in (f"--{k.replace('_', '-')}", str(v))]]


@pytest.mark.parametrize("case", list(CASES))
def test_same_space_same_logged_parameters_layout_and_records(case, iris_csv, tmp_path, capfd):
    engine, options = CASES[case]
    space_file = tmp_path / "space.yaml"
    space_file.write_text(SPACE)
    specs = {s.name: s for s in load_space(space_file).params}
    result = autosearch.fit(iris_csv, target="species", trials=8, space=space_file, output=tmp_path / "run",
                            experiment=f"contract-{case}", seed=1, cv_folds=2, baselines="linear", quiet=True,
                            engine=engine, **options)

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    parents, children = mlflow_children(result.output_dir)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.params["engine"] == engine
    ensembles = ["ensemble"] * int((result.leaderboard.kind == "ensemble").any())
    assert sorted(c.data.tags["autosearch.kind"] for c in children) == ["baseline"] * len(
        BASELINES) + ensembles + ["trial"] * 8
    trials = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    for run in trials:
        state = run.data.tags["autosearch.state"]
        assert run.data.tags["autosearch.family"] == "dense" and run.info.status == STATUS[state]
        params = run.data.params
        assert {k for k in params if not k.startswith("units_")} <= set(specs) and "units_0" in params
        assert all(declared(specs[k.split("_")[0] if k.startswith("units_") else k], v) for k, v in params.items())
        if state == "complete":
            assert run.data.tags["autosearch.device"].startswith("cpu")
            assert 1 <= len(client.get_metric_history(run.info.run_id, "epoch_val_score")) <= 6
        if params["activation"] == "no_such_activation":
            assert state == "failed" and "no_such_activation" in run.data.tags["autosearch.error"]
    states = [t.data.tags["autosearch.state"] for t in trials]
    assert "failed" in states and "complete" in states
    if ENGINES[engine].prunes:
        assert "pruned" in states, states  # the 1e-6 learning rates fall behind and are stopped

    records = stored(result.output_dir)  # the TrialStore: one record per MLflow trial run, the same outcome
    assert len(records) == 8 and len({r.name for r in records}) == 8
    by_run = {t.info.run_id: t for t in trials}
    assert {r.mlflow_run_id for r in records} == set(by_run)
    for record in records:
        run = by_run[record.mlflow_run_id]
        assert run.info.run_name.split()[0] == record.name and run.data.tags["autosearch.state"] == record.state.value
        assert run.info.run_name.endswith(" (pruned)") == (record.state.value == "pruned")  # apart from failed
    assert [r.name for r in stored(result.output_dir, "baseline")] == BASELINES
    board = result.leaderboard
    assert sorted(board[board.kind == "nn"].name) == sorted(r.name for r in records)
    assert 1 <= board.test_score.notna().sum() <= 3 and sum(result.summary.trials.values()) == 8
    assert result.test_score > 0.6  # iris: a third by chance
    assert "Traceback" not in capfd.readouterr().err  # a failed trial is a record, not a stack trace on the console


@pytest.mark.parametrize("case", ONE_PER_ENGINE)
def test_killed_resumed_budgeted_and_interrupted(case, breast_cancer_csv, tmp_path):
    """SIGKILL mid-trial, then `resume` under a time budget, then `resume` and Ctrl-C: nothing done is lost or
    repeated, every sitting writes its results, the budget holds."""
    out, flags = tmp_path / "run", engine_flags(case)
    fit = cli("fit", breast_cancer_csv, "--target", "diagnosis", "--trials", "6", "--max-epochs", "30",
              "--cv-folds", "2", "--baselines", "linear", "--output", out, "--experiment", f"killed-{case}", *flags)
    first = subprocess.Popen(fit, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def two_done_and_one_running() -> bool:
        if len(stored(out)) < 2:
            return False
        running = [c for c in mlflow_children(out)[1] if c.info.status == "RUNNING"]
        return any(c.data.tags["autosearch.kind"] == "trial" for c in running)

    wait_for(two_done_and_one_running, what="2 trials stored and a third running")
    first.send_signal(signal.SIGKILL)
    first.wait()
    before = {r.name: r for r in stored(out)}

    budget = 30  # start-up alone takes 11-15 s on 2 busy cores (imports, TensorFlow, MLflow, Ray): 20 s left ~5
    began = time.monotonic()
    budgeted = subprocess.run(cli("resume", out, "--trials", "1000", "--time-budget", f"{budget}s"),
                              capture_output=True, text=True, timeout=budget * 4)
    wall = time.monotonic() - began
    assert budgeted.returncode == 0, budgeted.stderr[-3000:]
    assert "resuming the run" in budgeted.stderr and "time budget reached" in budgeted.stderr
    assert wall <= budget + 1.0, wall  # the whole process, start-up included (docs/guide/overnight.md)
    assert json.loads((out / "run.json").read_text())["status"] == "cut_short"
    assert json.loads((out / "summary.json").read_text())["cut_short"] == "time budget reached"

    again = subprocess.Popen(cli("resume", out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shown = []
    for line in again.stdout:
        shown.append(line)
        if line.startswith("  trial "):
            again.send_signal(signal.SIGINT)
            break
    shown.append(again.communicate(timeout=180)[0])
    printed = "".join(shown)
    assert again.returncode == 0, printed[-3000:]
    assert "cut short (SIGINT received)" in printed and f"autosearch resume {out}" in printed
    assert "Traceback" not in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cut_short"] == "SIGINT received"

    records = stored(out)
    assert all(before[r.name] == r for r in records if r.name in before)  # nothing done before was redone
    assert set(before) <= {r.name for r in records} and len({r.name for r in records}) == len(records)
    assert sum(summary["trials"].values()) == len(records) > len(before)
    parents, children = mlflow_children(out)
    assert len(parents) == 1  # one parent run, reopened by every sitting
    assert sorted(c.info.run_name for c in children
                  if c.data.tags["autosearch.kind"] == "baseline") == BASELINES  # as the fit asked
    nets = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    lost = [c for c in nets if c.data.tags.get("autosearch.error", "").startswith("lost:")]
    assert lost and all(c.info.status == "FAILED" for c in lost)  # the trial SIGKILL interrupted
    assert not [c for c in nets if c.info.status == "RUNNING"]
    kept = {c.info.run_id for c in nets} - {c.info.run_id for c in lost}
    assert {r.mlflow_run_id for r in records} <= kept  # each record is one MLflow run
    board = pd.read_csv(out / "leaderboard.csv")
    assert sorted(board[board.kind == "nn"].name) == sorted(r.name for r in records)
    predicted = autosearch_here("predict", out / "model", breast_cancer_csv)
    assert predicted.returncode == 0 and predicted.stdout.startswith("prediction,")


@pytest.mark.parametrize("case, sharing", [  # engines that share a search, both ways of sharing it
    (case, sharing) for case in ONE_PER_ENGINE if ENGINES[CASES[case][0]].shares_search
    for sharing in ("one output folder", "one --storage, two folders")])
def test_two_processes_share_one_search(case, sharing, breast_cancer_csv, tmp_path):
    outs = [tmp_path / "shared", tmp_path / "shared"]
    extra: tuple = ()
    if sharing.startswith("one --storage"):
        outs = [tmp_path / "first", tmp_path / "second"]
        extra = ("--storage", f"sqlite:///{tmp_path / 'shared.db'}", "--study", "shared-study")
    fit = ("fit", breast_cancer_csv, "--target", "diagnosis", "--trials", "6", "--max-epochs", "6", "--cv-folds", "2",
           "--baselines", "linear", "--experiment", f"shared-{case}", *engine_flags(case), *extra)
    chief = subprocess.Popen(cli(*fit, "--output", outs[0]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    wait_for(lambda: (outs[0] / "run.json").exists(), what="the chief's run.json")
    second = autosearch_here(*fit, "--output", outs[1])  # here; the chief in a process of its own
    chief_out, _ = chief.communicate(timeout=300)
    assert chief.returncode == 0, chief_out[-3000:]
    assert second.returncode == 0 and "as a worker" in second.stderr, second.stderr[-3000:]
    records = stored(outs[0])
    assert len(records) == 6  # the total asked for, across both processes
    assert len({r.worker for r in records}) == 2  # both processes ran trials
    assert len({json.dumps(dict(r.params), sort_keys=True) for r in records}) == 6  # workers sample their own
    _, children = mlflow_children(outs[0])
    nets = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert len(nets) == 6 and len({c.info.run_name for c in nets}) == 6  # no trial run twice
    assert (pd.read_csv(outs[0] / "leaderboard.csv").kind == "nn").sum() == 6


@pytest.mark.parametrize("case", [c for c in ONE_PER_ENGINE if not ENGINES[CASES[c][0]].shares_search])
def test_a_second_process_is_refused_where_the_engine_searches_in_one(case, breast_cancer_csv, tmp_path):
    fit = ("fit", breast_cancer_csv, "--target", "diagnosis", *engine_flags(case))
    lock = FolderLock(tmp_path / "run")  # the real lock a running search holds on its folder
    assert lock.acquire()
    try:
        same_folder = autosearch_here(*fit, "--output", tmp_path / "run")
    finally:
        lock.release()
    shared = f"sqlite:///{tmp_path / 'shared.db'}"  # a run another process started in a shared database
    assert TrialStore(shared, "shared-study").claim()
    same_study = autosearch_here(*fit, "--output", tmp_path / "other", "--storage", shared, "--study", "shared-study")
    for refused, fragment in ((same_folder, "is running the search in"), (same_study, "pass another --study")):
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 2 and "searches in one process" in lines[-1] and fragment in lines[-1]
        assert "Traceback" not in refused.stderr and [x for x in lines if x.startswith("error")] == lines[-1:]
    assert not (tmp_path / "run" / "run.json").exists() and not (tmp_path / "other" / "run.json").exists()


@pytest.mark.parametrize("case", [c for c in ONE_PER_ENGINE if c != "optuna"])  # optuna's: test_forecast.py
def test_a_forecast_searches_resumes_and_serves_the_next_steps_on_every_engine(case, tmp_path):
    """Windows, backtests and the forecast families go through the engine like any candidate's: a fit, a
    resumed sitting with more trials, then `predict` of the next H steps after each series."""
    from test_forecast import daily

    engine, options = CASES[case]
    data, out = tmp_path / "series.csv", tmp_path / "run"
    frame = daily(n=90)
    frame.to_csv(data, index=False)
    settings = dict(horizon=4, series="shop", max_epochs=1, baselines=["linear"], output=out, quiet=True,
                    experiment=f"forecast-{case}", engine=engine, **options)
    autosearch.fit(data, target="sales", trials=1, **settings)
    autosearch.resume(out, trials=3)
    nets = stored(out)
    assert len(nets) == 3 and {r.family for r in nets} <= {"nbeats", "dense", "rnn", "conv1d"}
    assert json.loads((out / "summary.json").read_text())["metric"] == "mase"
    forecast = autosearch.predict(out / "model", data)
    assert list(forecast.columns) == ["shop", "day", "forecast"] and len(forecast) == 2 * 4
    last = pd.to_datetime(frame.groupby("shop").day.max())
    firsts = forecast.assign(day=pd.to_datetime(forecast.day)).groupby("shop").day.min()
    assert (firsts == last + pd.Timedelta(days=1)).all()  # the step after each series ends
