"""How the pick is chosen, on real data: every candidate scored on out-of-fold predictions, an ensemble
selected over them, the bundle serving that ensemble, and a time budget without --trials used to its end."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_predict

import autosearch
from autosearch.config import make_config
from autosearch.ensemble import ROUNDS, blend, ensemble_of
from autosearch.prepare import prepare
from autosearch.progress import Progress
from autosearch.runs import RunState
from autosearch.serving.bundle import Bundle
from autosearch.trial_runner import train_bag

pytestmark = pytest.mark.xdist_group("selection")  # one worker computes the module's run once


@pytest.fixture(scope="module")
def diabetes_run(diabetes_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("selection") / "run"
    result = autosearch.fit(diabetes_csv, trials=3, max_epochs=5, cv_folds=3, output=out, quiet=True)
    store = RunState.load(out).trial_store(out)
    records, predictions = {r.name: r for r in store.records()}, store.predictions()
    store.close()
    prep = prepare(diabetes_csv, make_config(cv_folds=3, max_epochs=5, output=tmp_path_factory.mktemp("again")),
                   Progress(quiet=True))  # the same seed: the same folds
    return result, records, predictions, prep.folds, prep


@pytest.mark.slow
def test_every_candidate_is_scored_on_predictions_of_samples_it_did_not_train_on(diabetes_run):
    result, records, predictions, folds, _ = diabetes_run
    assert folds.k == 3 and sorted(np.concatenate([rows for _, rows in folds.splits])) == list(range(folds.rows))
    # the linear baseline's out-of-fold predictions are scikit-learn's, on the same folds
    ridge = cross_val_predict(Ridge(alpha=1.0), folds.views["vector"], folds.y, cv=list(folds.splits))
    assert np.allclose(predictions["linear"].ravel(), ridge.ravel(), atol=1e-4)
    scored = [r for r in records.values() if r.kind != "ensemble" and r.folds == 3]
    assert {r.kind for r in scored} == {"baseline", "nn"}
    for record in scored:  # one prediction per development sample; the score is the metric on them
        assert not np.isnan(predictions[record.name]).any()
        assert folds.score(predictions[record.name]) == pytest.approx(record.val_score)
    board = result.leaderboard
    assert set(board[board.kind != "ensemble"].folds[board.state == "complete"]) == {3}


def test_the_ensemble_is_the_weighted_blend_of_its_members_and_the_bundle_serves_it(diabetes_run, diabetes_csv):
    result, records, predictions, folds, _ = diabetes_run
    ensemble = records["ensemble"]  # on diabetes a blend beats every candidate alone (rmse)
    weights = dict(ensemble.params)
    assert len(weights) >= 2 and sum(weights.values()) == pytest.approx(1.0)
    # weights are selection counts over the rounds kept: whole numbers of 1/r for some r ≤ ROUNDS
    assert any(all(abs(w * r - round(w * r)) < 1e-9 for w in weights.values()) for r in range(1, ROUNDS + 1))
    blended = blend({name: predictions[name] for name in weights}, weights)
    assert folds.score(blended) == pytest.approx(ensemble.val_score)
    assert all(ensemble.val_score < records[name].val_score for name in weights)  # better than each member
    assert result.winner.name == "ensemble" and result.leaderboard.iloc[0]["name"] == "ensemble"

    bundle = Bundle.load(result.bundle_path)
    assert {m.name: m.weight for m in bundle.members} == weights
    test = prepare(diabetes_csv, make_config(cv_folds=3), Progress(quiet=True)).split.test
    predicted = bundle.predict(test.features).prediction.to_numpy()
    rmse = float(np.sqrt(np.mean((predicted - test.target.iloc[:, 0].to_numpy()) ** 2)))
    assert rmse == pytest.approx(result.test_score, rel=1e-4)  # the test score is the bundle's own
    compared = result.summary.best_nn, result.summary.best_baseline
    assert all(c.test_score is not None for c in compared)  # the pick's test score beside theirs
    board = result.leaderboard
    assert set(board.name[board.test_score.notna()]) == {"ensemble", *(c.name for c in compared)}


def test_the_dummy_is_never_a_member_even_where_blending_it_would_score_better(diabetes_run):
    """A candidate that overshoots (twice the linear model's predictions) scores best blended half and half
    with the dummy's mean; the dummy is the yardstick, so the ensemble must do without it."""
    _, records, predictions, folds, _ = diabetes_run
    overshooting = replace(records["linear"], name="overshooting")
    outputs = {**predictions, "overshooting": 2 * predictions["linear"] - predictions["dummy"]}
    shrunk = blend({"overshooting": outputs["overshooting"], "dummy": predictions["dummy"]},
                   {"overshooting": 0.5, "dummy": 0.5})
    assert folds.score(shrunk) == pytest.approx(records["linear"].val_score)  # what the dummy would buy
    chosen = ensemble_of([records["dummy"], overshooting], outputs, folds)
    assert chosen is None  # the overshooting candidate alone: nothing to blend it with
    chosen = ensemble_of([records["dummy"], overshooting, records["svm"]], outputs, folds)
    assert chosen is not None and "dummy" not in chosen.params


@pytest.mark.slow
def test_a_network_is_served_as_the_fold_models_its_out_of_fold_score_measured(diabetes_run):
    from autosearch.problem import make_problem
    from autosearch.tasks import network_scores
    from autosearch.training import predict_rows

    result, records, predictions, folds, prep = diabetes_run
    net = next(r for r in records.values() if r.kind == "nn" and r.folds == 3)
    assert net.bagged
    split = prep.split
    problem, _ = make_problem(split.train + split.val, split.test, prep.profile, prep.codec, prep.metric, 0)
    bag, seconds, error = train_bag(prep.space(net.family), net.params, problem, folds.splits,
                                    seed=net.number, epochs=net.best_epoch + 1)  # as fit refits it (seed 0)
    assert error is None and seconds > 0
    view = problem.fit_views["vector"]
    fold_outputs = []
    for i, (_, own) in enumerate(folds.splits):  # each fold model again predicts its own samples as it did
        fold_model = bag.get_layer(f"fold_{i}")
        assert np.allclose(network_scores(problem.task, predict_rows(fold_model, view[own])),
                           predictions[net.name][own], atol=1e-3)
        fold_outputs.append(predict_rows(fold_model, problem.score_views["vector"]))
    assert np.allclose(predict_rows(bag, problem.score_views["vector"]), np.mean(fold_outputs, axis=0), atol=1e-5)


@pytest.mark.slow
def test_the_best_networks_fold_models_are_kept_and_served_without_training(diabetes_run, diabetes_csv):
    """The fold models a trial trained are the ones its out-of-fold score measured; the search keeps the best
    networks' (`TrialStore.keep_fold_models`) and `fit` serves them as they are."""
    from autosearch.problem import make_problem
    from autosearch.tasks import network_scores
    from autosearch.training import predict_rows
    from autosearch.trial_runner import kept_bag

    result, records, predictions, folds, prep = diabetes_run
    store = RunState.load(result.output_dir).trial_store(result.output_dir)
    try:
        nets = {n for n, r in records.items() if r.kind == "nn" and r.bagged}
        assert nets and store.kept() == nets  # 3 trials: all among the best 8
        net = records[min(nets)]
        weights = store.fold_models(net.name)
    finally:
        store.close()
    assert len(weights) == net.folds == 3
    assert net.kept_seconds > 0  # what serving them takes, as its trial measured it, stored with its record
    split = prep.split
    problem, _ = make_problem(split.train + split.val, split.test, prep.profile, prep.codec, prep.metric, 0)
    bag, error = kept_bag(prep.space(net.family), net.params, problem, weights, seed=net.number)
    assert error is None
    view = problem.fit_views["vector"]
    for i, (_, own) in enumerate(folds.splits):  # the very models: each predicts its fold as the search scored it
        assert np.allclose(network_scores(problem.task, predict_rows(bag.get_layer(f"fold_{i}"), view[own])),
                           predictions[net.name][own], atol=1e-5)
    served = autosearch.test_candidate(result.output_dir, net.name)
    assert served == pytest.approx(problem.score(predict_rows(bag, problem.score_views["vector"])), rel=1e-5)


@pytest.mark.slow
def test_a_holdout_network_is_served_as_the_search_trained_it(iris_csv, tmp_path):
    """On a holdout the search keeps the best networks' models too; one is served as it was scored
    (preprocessing fitted on the same samples as the refit's), with no training, with or without a budget."""
    from autosearch.problem import make_problem
    from autosearch.refit_plan import served_as
    from autosearch.results import refit
    from autosearch.stopping import Stop
    from autosearch.tasks import network_scores
    from autosearch.training import predict_rows

    out = tmp_path / "run"
    autosearch.fit(iris_csv, target="species", trials=2, max_epochs=3, holdout=True, baselines="linear", output=out,
                   quiet=True)
    store = RunState.load(out).trial_store(out)
    try:
        nets = [r for r in store.records("nn") if r.state.value == "complete"]
        assert nets and store.kept() == {r.name for r in nets} and not any(r.bagged for r in nets)
        net, predictions = nets[0], store.predictions()[nets[0].name]
        prep = prepare(iris_csv, make_config(target="species", max_epochs=3, holdout=True, output=tmp_path / "again"),
                       Progress(quiet=True))
        assert served_as([net], Stop(), {net.name}) == (set(), {net.name})  # no budget: served all the same
        spent = Stop(budget_end=time.monotonic() + 1)
        assert served_as([net], spent, {net.name}) == (set(), {net.name})
        assert served_as([net], Stop(), set()) == (set(), set())  # not kept: refitted
        served = refit([net], prep, 0, fold_models=store.fold_models, serve_kept={net.name})
    finally:
        store.close()
    again = refit([net], prep, 0)  # not kept (a Ray trial's, or one ranked lower): trained again as it was trained
    assert served.fit_seconds == 0 and not served.failed and again.fit_seconds > 0 and not again.failed
    split = prep.split
    problem, _ = make_problem(split.train + split.val, split.test, prep.profile, prep.codec, prep.metric, 0)
    validation = np.arange(len(split.train), len(split.train) + len(split.val))
    for refitted, atol in ((served, 1e-5), (again, 1e-4)):
        model = refitted.models[net.name]
        scored = network_scores(problem.task, predict_rows(model, problem.fit_views["vector"][validation]))
        assert np.allclose(scored, predictions[validation], atol=atol)  # the very model the holdout scored


def test_fold_models_are_kept_for_the_candidates_named_and_dropped_for_the_others(tmp_path):
    from autosearch.trial_store import TrialStore

    store = TrialStore(f"sqlite:///{tmp_path / 'store.db'}", "study")
    w = [[np.full((2, 2), float(i))] for i in range(3)]
    store.keep_fold_models("a", w)
    store.keep_fold_models("b", w)
    assert store.kept() == {"a", "b"}
    store.keep_fold_models("c", w, drop=["a"])  # c pushed a out
    assert store.kept() == {"b", "c"} and store.fold_models("a") is None
    assert [fold[0][0, 0] for fold in store.fold_models("c")] == [0.0, 1.0, 2.0]
    store.close()


@pytest.mark.slow
def test_a_time_budget_without_trials_searches_until_it_is_spent(iris_csv, tmp_path, capfd):
    assert make_config(time_budget="2m").trial_cap >= 10**9 and make_config().trial_cap == 20  # no budget: 20
    assert make_config(trials=5, time_budget="2m").trial_cap == 5  # both given: whichever comes first
    began = time.monotonic()
    result = autosearch.fit(iris_csv, target="species", time_budget="30s", max_epochs=1, holdout=True,
                            output=tmp_path / "run")
    wall = time.monotonic() - began
    assert "trials until the budget is spent" in capfd.readouterr().err
    assert wall <= 30 + 1.0 and sum(result.summary.trials.values()) >= 1
    assert result.summary.cut_short is None  # the budget ended it as asked: not "cut short"


def test_a_refit_is_expected_to_take_one_fold_at_the_best_epoch_count_or_each_fold_for_a_bag():
    from autosearch.records import State, TrialRecord

    # 5 folds: the first trained 30 epochs, the other four 10 each (its best epoch count): 70 epochs in 7 s
    net = TrialRecord("dense-001", "nn", "dense", {}, State.COMPLETE, 0.9, fit_seconds=7.0, epochs=30,
                      best_epoch=9, folds=5)
    assert net.bagged and net.refit_seconds == pytest.approx(5.0)  # its 5 fold models: 10 epochs of 0.1 s each
    held = TrialRecord("dense-001", "nn", "dense", {}, State.COMPLETE, 0.9, fit_seconds=3.0, epochs=30,
                       best_epoch=9, folds=1)
    assert not held.bagged and held.refit_seconds == pytest.approx(1.0)  # a holdout's: one model, 10 of 30 epochs
    assert TrialRecord("svm", "baseline", "svm", {}, State.COMPLETE, 0.9, fit_seconds=5.0,
                       folds=5).refit_seconds == pytest.approx(1.0)


def test_the_budget_keeps_back_the_refits_of_the_best_candidates_only():
    from autosearch.records import State, TrialRecord
    from autosearch.stopping import FINISH_SECONDS, KEPT_SECONDS, REFIT_FACTOR, Stop

    def candidate(name, score, seconds, state=State.COMPLETE):
        return TrialRecord(name, "baseline", "svm", {}, state, score, fit_seconds=seconds)

    in_flight = KEPT_SECONDS  # the trial the deadline cuts short may join them, built from its kept models
    stop = Stop(budget_end=time.monotonic() + 100)
    assert stop.reserve == pytest.approx(FINISH_SECONDS + REFIT_FACTOR * in_flight)
    stop.expect_refit(candidate("slow-but-first", 0.9, 20.0), greater_is_better=True)
    assert stop.reserve == pytest.approx(FINISH_SECONDS + REFIT_FACTOR * (in_flight + 20.0))
    for i in range(5):  # five better candidates: the first falls out of the 5 best, and its refit with it
        stop.expect_refit(candidate(f"good-{i}", 0.95 + i / 100, 1.0 + i), greater_is_better=True)
    stop.expect_refit(candidate("far-behind", 0.5, 60.0), greater_is_better=True)  # never refitted
    stop.expect_refit(candidate("failed", None, 90.0, State.FAILED), greater_is_better=True)
    assert stop.reserve == pytest.approx(FINISH_SECONDS + REFIT_FACTOR * (in_flight + 5.0 + 4.0 + 3.0))  # of the 5 best

    errors = Stop(budget_end=time.monotonic() + 100)  # rmse: lower is better
    errors.expect_refit(candidate("worse", 30.0, 50.0), greater_is_better=False)
    for i in range(5):
        errors.expect_refit(candidate(f"better-{i}", 10.0, 1.0), greater_is_better=False)
    assert errors.reserve == pytest.approx(FINISH_SECONDS + REFIT_FACTOR * (in_flight + 3.0))

    kept = Stop(budget_end=time.monotonic() + 100)  # a network whose fold models are kept is built, not trained
    kept.expect_refit(candidate("kept", 0.9, 30.0), greater_is_better=True, kept=True)
    assert kept.reserve == pytest.approx(FINISH_SECONDS + REFIT_FACTOR * (in_flight + KEPT_SECONDS))


def test_a_log1p_target_encodes_values_the_choice_never_saw():
    import pandas as pd

    from autosearch.targets import TargetCodec
    from autosearch.tasks import Task

    codec = TargetCodec(Task.REGRESSION, ("price",), "log1p").fit(pd.DataFrame({"price": [0.0, 10.0, 1000.0]}))
    encoded = codec.encode(pd.DataFrame({"price": [-1.0, -5.0, 10.0]}))  # below -1: a test split's oddity
    assert np.isfinite(encoded).all()
    np.testing.assert_allclose(codec.scores(codec.encode(pd.DataFrame({"price": [10.0]}))), [[10.0]], rtol=1e-5)
