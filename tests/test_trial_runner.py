"""The TrialRunner's outcomes for a trial ended from outside its training (what Ray's scheduler, the time
budget or a signal do), against a real MLflow store and a real run database."""

from __future__ import annotations

import os

import pytest
from mlflow import MlflowClient

from autosearch.config import make_config
from autosearch.prepare import prepare
from autosearch.progress import Progress
from autosearch.records import State
from autosearch.stopping import Stop
from autosearch.tracking import Tracker
from autosearch.trial_runner import TrialRunner
from autosearch.trial_store import TrialStore


@pytest.fixture
def runner(iris_csv, tmp_path):
    prep = prepare(iris_csv, make_config(target="species"), Progress(quiet=True))
    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"], "runner")
    tracker.start_parent("runner", {}, {})
    store = TrialStore(f"sqlite:///{tmp_path / 'study.db'}", "autosearch")
    progress = Progress(quiet=True)
    with progress.search(10, None, prep.metric, None):  # as a search runs its trials
        yield TrialRunner(prep.folds, prep.spaces, 0, Stop(), tracker, store, progress)
    store.close()


@pytest.mark.slow
def test_a_trial_stopped_from_outside_is_pruned_or_kept_at_its_best_epoch(runner):
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    pruned = runner.stopped(runner.start("dense", {"layers": 1}, 0), [0.5, 0.6])  # a scheduler stopped it
    assert pruned.state is State.PRUNED and pruned.epochs == 2
    run = client.get_run(pruned.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.info.run_name.endswith(" (pruned)")
    assert run.data.tags["autosearch.state"] == "pruned"  # told apart from a complete trial by name and tag

    runner.stop.signal_name = "SIGINT"  # the run is stopping: the trial keeps its best epoch so far
    kept = runner.stopped(runner.start("dense", {"layers": 1}, 1), [0.5, 0.9, 0.7])
    assert kept.state is State.COMPLETE and kept.val_score == 0.9 and kept.best_epoch == 1
    assert kept.note == "cut short: SIGINT received"
    nan = float("nan")
    diverged = runner.stopped(runner.start("dense", {"layers": 1}, 2), [nan, nan])
    assert diverged.state is State.FAILED and "NaN" in diverged.error
    assert client.get_run(diverged.mlflow_run_id).info.status == "FAILED"
    assert runner.stopped(runner.start("dense", {"layers": 1}, 3), []) is None  # no epoch ended: runs again

    assert [r.name for r in runner.store.records("nn")] == ["dense-000", "dense-001", "dense-002"]
    assert runner.store.numbers() == {0, 1, 2}
