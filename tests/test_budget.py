"""The budget plan, on real data: the classical candidates inside their share (a slow one stopped and recorded as
cut short, never used as complete), the networks' time on images, a network cut short by the budget compared on
its own samples, and trials raced out after their first fold."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn import datasets

import autosearch
from autosearch.baselines import Collector, Fitting, fold_outputs
from autosearch.budget import (
    NETWORK_TRIALS,
    Estimate,
    fit_classical,
    planned_folds,
    probe,
    rows_within,
    trial_seconds,
)
from autosearch.config import make_config
from autosearch.ensemble import ahead_on_their_samples, ensemble_of
from autosearch.isolation import run_limited
from autosearch.leaderboard import ranked, winner
from autosearch.prepare import prepare
from autosearch.progress import Progress
from autosearch.records import State, TrialRecord
from autosearch.runs import RunState
from autosearch.spaces import is_starting_point, walk
from autosearch.trial_runner import race, train_trial


@pytest.fixture(scope="module")
def wide_csv(tmp_path_factory):
    """6,000 rows of 40 informative-and-noise features, 3 classes: slow enough for an RBF SVM to take seconds."""
    x, y = datasets.make_classification(6000, 40, n_informative=12, n_classes=3, random_state=0)
    frame = pd.DataFrame(x, columns=[f"{'abcd'[i % 4]}{i}" for i in range(40)])  # no series' numbered names
    frame["label"] = np.array(["a", "b", "c"])[y]
    path = tmp_path_factory.mktemp("wide") / "wide.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_fit_that_runs_past_its_limit_is_stopped_there_and_keeps_the_folds_it_finished(wide_csv, tmp_path):
    prep = prepare(wide_csv, make_config(target="label", cv_folds=5, output=tmp_path / "run"), Progress(quiet=True))
    folds = prep.folds
    fitting = Fitting.of("svm", folds.first)
    collector = Collector(fitting, folds, None)
    began = time.monotonic()  # 4,800 rows a fold: each fold's calibrated RBF SVM takes seconds
    outcome = run_limited(fold_outputs, (fitting, folds.views["vector"], folds.y, folds.splits, None), 2.0,
                          collector.add)
    assert time.monotonic() - began < 2.0 + 1.5  # stopped at its limit, not at the end of its fit
    assert not outcome.finished and "limit" in outcome.cut and collector.done < folds.k
    record, predictions = collector.record(cut=outcome.cut)
    assert record.state is State.PRUNED and predictions is None and record.val_score is None
    assert record.note.startswith(f"cut short after {collector.done} of 5 folds")


def test_a_budget_too_short_for_five_folds_of_network_trials_scores_on_fewer_and_a_resumed_run_keeps_them(
        digits_npz, tmp_path):
    def folds(output, **options):
        return prepare(digits_npz, make_config(output=tmp_path / output, **options), Progress(quiet=True)).folds.k

    assert folds("none") == 5  # without a budget: 5 folds up to 10,000 samples
    assert folds("long", time_budget="10m") == 5  # 1,437 8×8 images: a 5-fold resnet2d trial is ~52 s of ~430
    assert folds("short", time_budget="1m") == 1  # of ~26 s: not even 3 folds' trials fit, a holdout
    assert folds("asked", time_budget="1m", cv_folds=5) == 5  # as asked
    shared = f"sqlite:///{tmp_path / 'shared.db'}"  # processes in other folders, with budgets of their own: by rows
    assert folds("shared", time_budget="1m", storage=shared, study="s") == 5
    state = RunState({}, str(digits_npz), "", None, "study", folds=3)
    (tmp_path / "began").mkdir()
    state.save(tmp_path / "began")
    assert folds("began", time_budget="1m") == folds("began", time_budget="10m") == 3  # as the run began
    old = RunState({}, str(digits_npz), "", None, "study")  # run.json of an autosearch that chose by rows only
    (tmp_path / "old").mkdir()
    old.save(tmp_path / "old")
    assert folds("old", time_budget="1m") == 5


@pytest.mark.slow
def test_a_timing_sample_grows_until_every_row_is_known_to_fit_or_it_holds_half_of_them(wide_csv, tmp_path):
    prep = prepare(wide_csv, make_config(target="label", holdout=True, output=tmp_path / "run"), Progress(quiet=True))
    fitting = Fitting.of("gradient_boosting", prep.problem)
    x, labels = datasets.make_classification(40_000, 10, n_informative=6, n_classes=3, random_state=0)
    y = labels.reshape(-1, *prep.folds.y.shape[1:]).astype(prep.folds.y.dtype)
    fit, score = np.arange(36_000), np.arange(36_000, 40_000)
    assert probe(fitting, x, y, fit, score, enough=lambda estimate, spent: True).probe_rows == 2000  # 500, 2,000
    grown = probe(fitting, x, y, fit, score, enough=lambda estimate, spent: False)
    assert grown.probe_rows == 8000  # then 4× while within half the rows: 32,000 would not be
    assert probe(fitting, x, y, fit, score, too_slow=1e-9) is None  # the first sample alone too slow
    views = prep.folds.views["vector"]  # 4,800 rows × 40 features × 3 classes: boosting fits them whole, untimed
    whole = list(planned_folds(fitting, views, prep.folds.y, prep.folds.splits, part=1e-3, keep=False))
    assert whole[0][:3] == ("plan", len(prep.folds.splits[0][0]), None) and len(whole) == 2
    forest = Fitting.of("random_forest", prep.problem)  # a forest is timed first: 1 ms fits no sample
    assert next(planned_folds(forest, views, prep.folds.y, prep.folds.splits, part=1e-3, keep=False))[0] == "skip"
    documents = Fitting("linear", fitting.task, False, 0, True, fitting.n_outputs)  # text: a sparse view
    never = probe(documents, sparse.csr_matrix(x), y, fit, score, enough=lambda estimate, spent: False)
    assert never.probe_rows == 8000


@pytest.mark.slow
def test_a_cut_short_baseline_is_never_the_pick_nor_an_ensemble_member(diabetes_csv, tmp_path):
    prep = prepare(diabetes_csv, make_config(cv_folds=3, output=tmp_path / "run"), Progress(quiet=True))
    found = {line.name: (record, predictions) for record, predictions, line in
             fit_classical(["dummy", "linear", "gradient_boosting"], prep.folds, None, lambda: None)}
    (linear, linear_oof), (boosting, boosting_oof) = found["linear"], found["gradient_boosting"]
    assert linear.state is boosting.state is State.COMPLETE
    cut = Collector(Fitting.of("random_forest", prep.problem), prep.folds, None)
    cut.add((0, prep.folds.y[prep.folds.splits[0][1]], 1.0))  # its first fold predicted perfectly
    stopped, none = cut.record(cut="the share is spent")
    assert stopped.state is State.PRUNED and none is None
    records = [linear, boosting, stopped]
    assert winner(records, prep.metric).name != "random_forest" and ranked(records, prep.metric)[-1] is stopped
    ensemble = ensemble_of(records, {"linear": linear_oof, "gradient_boosting": boosting_oof}, prep.folds)
    assert ensemble is None or "random_forest" not in ensemble.params


@pytest.mark.slow
def test_the_classical_candidates_stay_inside_their_share_and_the_plan_says_how(wide_csv, tmp_path, capfd):
    began = time.monotonic()
    result = autosearch.fit(wide_csv, target="label", time_budget="35s", max_epochs=2, output=tmp_path / "run")
    wall = time.monotonic() - began
    err = capfd.readouterr().err
    summary = result.summary
    plan = summary.plan
    assert wall <= 35 + 10  # the whole run inside the budget (+10 s under 2 minutes)
    assert plan["budget"] == 35 and 0 < plan["classical"] < 35 * 0.25 and plan["networks"] > plan["classical"]
    assert "budget plan: 35s in all" in err
    lines = {line["name"]: line for line in plan["lines"]}
    assert set(lines) == {"dummy", "linear", "gradient_boosting", "random_forest", "extra_trees", "svm",
                          "gradient_boosting_deep", "gradient_boosting_regularised"}
    assert summary.seconds["baselines"] <= plan["classical"] + 1.5  # stopped at the share, whatever the estimates
    assert all(line["outcome"] in ("complete", "cut short", "failed", "skipped") for line in lines.values())
    for line in lines.values():
        if line["limit"] is not None and line["seconds"] is not None:
            assert line["seconds"] <= line["limit"] + 1.0
    # a kernel SVM on 4,000 rows a fold does not fit a share of a few seconds: sampled, skipped or stopped
    assert lines["svm"]["action"] in ("sample", "skip") or lines["svm"]["outcome"] == "cut short"
    board = result.leaderboard
    assert sum(board.kind == "nn") >= 1  # the networks got their time
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["plan"] == plan
    assert summary.peak_rss_mb["process"] > 0
    assert "Budget plan" in (tmp_path / "run" / "report.html").read_text()


@pytest.mark.slow
def test_on_images_the_first_network_starts_within_the_first_quarter_of_the_budget(digits_npz, tmp_path):
    result = autosearch.fit(digits_npz, time_budget="60s", max_epochs=1, output=tmp_path / "run", quiet=True)
    seconds, plan = result.summary.seconds, result.summary.plan
    assert seconds["prepare"] + seconds["baselines"] <= 60 / 4 + 1.0
    assert plan["classical"] <= 60 / 4
    assert sum(result.summary.trials.values()) >= 1  # networks trained: the plan never leaves them out
    store = RunState.load(tmp_path / "run").trial_store(tmp_path / "run")
    assert any(r.state is State.COMPLETE for r in store.records("nn"))
    store.close()


def test_rows_within_a_share_grow_with_it_and_never_pass_the_cap():
    estimate = Estimate(fixed=0.05, per_row=1e-7, growth=2.0, predict=1e-6, probe_rows=1000, predict_grows=True)
    few, more = rows_within(estimate, 5.0, 50_000, 10_000, 5), rows_within(estimate, 20.0, 50_000, 10_000, 5)
    assert few < more <= 50_000
    assert estimate.seconds(few, 10_000, 5) <= 5.0 < estimate.seconds(few + 50, 10_000, 5)
    assert rows_within(estimate, 1e6, 50_000, 10_000, 5, cap=5000) == 5000


def _oof(values: list[float], rows: int, covered: slice | None = None) -> np.ndarray:
    out = np.full((rows, 1), np.nan, dtype=np.float32)
    out[covered or slice(None)] = np.asarray(values, dtype=np.float32).reshape(-1, 1)[covered or slice(None)]
    return out


def test_a_candidate_cut_short_leads_only_where_it_beats_every_full_one_on_its_own_samples(diabetes_csv, tmp_path):
    prep = prepare(diabetes_csv, make_config(cv_folds=3, output=tmp_path / "run"), Progress(quiet=True))
    folds = prep.folds
    truth = folds.y[:, 0]
    first = folds.splits[0][1]
    noisy = truth + np.random.default_rng(0).normal(0, 1.0, truth.shape)
    full = np.full((folds.rows, 1), np.nan, dtype=np.float32)
    full[:, 0] = noisy
    good, bad = np.full_like(full, np.nan), np.full_like(full, np.nan)
    good[first, 0], bad[first, 0] = truth[first], truth[first] + 3.0  # exact on its fold; far off on it

    def record(name, kind, predictions, folds_done):
        return TrialRecord(name, kind, name, {}, State.COMPLETE, folds.score(predictions), 1.0, folds=folds_done)

    records = [record("linear", "baseline", full, 3), record("good-001", "nn", good, 1),
               record("bad-002", "nn", bad, 1)]
    ahead = ahead_on_their_samples(records, {"linear": full, "good-001": good, "bad-002": bad}, folds)
    assert ahead == {"good-001"}
    assert winner(records, prep.metric, ahead).name == "good-001"
    assert winner(records, prep.metric).name == "linear"  # without the paired comparison: after the full ones


def test_a_trial_behind_after_its_first_fold_is_raced_out_and_one_ahead_goes_on():
    field = [0.91, 0.88, 0.86, 0.84, 0.80]
    assert race(0.70, field, greater_is_better=True).startswith("raced out after its first fold")
    assert race(0.90, field, greater_is_better=True) is None
    assert race(0.70, field[:2], greater_is_better=True).startswith("raced out")  # the third trial races
    assert race(0.70, field[:1], greater_is_better=True) is None  # too few first folds to judge yet
    assert race(10.0, [5.0, 6.0, 7.0, 8.0], greater_is_better=False).startswith("raced out")  # an error: lower wins


RACED_SPACE = """
family: dense
training: {max_epochs: 3, patience: 3}
params:
  layers: 1
  units: 16
  learning_rate: {type: categorical, choices: [1.0e-6, 3.0e-2]}   # a trial learns, or stays at chance
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["optuna", "ray"])
def test_racing_stops_trials_behind_after_their_first_fold_in_a_real_search(engine, iris_csv, tmp_path):
    (tmp_path / "space.yaml").write_text(RACED_SPACE)
    on = {"engine": "ray", "concurrency": 2, "scheduler": "fifo"} if engine == "ray" else {}  # no ASHA: racing alone
    result = autosearch.fit(iris_csv, target="species", trials=10, space=tmp_path / "space.yaml", cv_folds=3,
                            output=tmp_path / "run", baselines="linear", quiet=True, **on)
    store = RunState.load(tmp_path / "run").trial_store(tmp_path / "run")
    records = store.records("nn")
    predictions = store.predictions()
    store.close()
    raced = [r for r in records if r.note and r.note.startswith("raced out")]
    assert raced  # 10 trials, about half at chance on their first fold: those behind the best third stop
    assert all(r.first_fold_score is not None for r in records if r.state is not State.FAILED)
    for r in raced:  # stopped after one fold: pruned, no out-of-fold predictions, never a member or the pick
        assert r.state is State.PRUNED and r.folds == 1 and r.name not in predictions
        assert r.name != result.winner.name
    full = [r for r in records if r.state is State.COMPLETE]
    assert all(r.folds == 3 for r in full)


@pytest.mark.slow
def test_a_network_trial_past_the_defaults_starts_no_epoch_after_its_share_of_the_budget(iris_csv, tmp_path):
    prep = prepare(iris_csv, make_config(target="species", max_epochs=6, cv_folds=2, output=tmp_path / "run"),
                   Progress(quiet=True))
    params = {"layers": 1, "units_0": 16, "learning_rate": 0.03}
    free = train_trial(prep.space("dense"), params, prep.folds, seed=0)
    capped = train_trial(prep.space("dense"), params, prep.folds, seed=0, seconds=1e-3)  # every epoch is past it
    assert free.record.epochs == 6 and free.record.note is None  # 6 epochs: no early stopping, no cap
    record = capped.record
    assert record.state is State.COMPLETE and record.epochs == 1 and record.folds == 2  # one epoch, on every fold
    assert record.note == "stopped at its time cap (0s) after 1 epoch" and record.val_score is not None
    assert capped.predictions is not None and np.isfinite(capped.predictions).all()
    defaults = walk(prep.space("dense"), prep.folds.first.context, lambda spec, name: spec.start())
    assert is_starting_point(prep.space("dense"), defaults, prep.folds.first.context)
    first = train_trial(prep.space("dense"), defaults, prep.folds, seed=0, seconds=1e-3).record
    assert first.epochs > 1 and not (first.note or "").startswith("stopped at its time cap")  # the defaults: no cap
    assert trial_seconds(None) is None  # no budget, no cap
    assert trial_seconds(time.monotonic() + 100) == pytest.approx(100 / NETWORK_TRIALS, abs=0.1)
