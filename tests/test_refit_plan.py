"""The end of a fit, planned without training (`refit_plan.py`): what is the pick, what is refitted beside it,
how each network is served, and what gives way when the time left or a refit fails."""

import time
from dataclasses import replace

import pytest

from autosearch.errors import AutosearchError
from autosearch.metrics import METRICS
from autosearch.records import State, TrialRecord
from autosearch.refit_plan import ensemble_fits, plan, served_as
from autosearch.stopping import FINISH_SECONDS, KEPT_SECONDS, REFIT_FACTOR, Stop

RMSE = METRICS["rmse"]


def baseline(name: str, score: float, seconds: float = 0.3) -> TrialRecord:
    return TrialRecord(name, "baseline", name, {}, State.COMPLETE, score, seconds, folds=3)


def network(name: str, score: float, seconds: float = 3.0, folds: int = 3, kept: float | None = None) -> TrialRecord:
    """A network trained on `folds` folds, 5 epochs (its best the 4th): about `seconds` a fold; serving its kept
    fold models measured at `kept` seconds by its trial."""
    return TrialRecord(name, "nn", "dense", {"units": 64}, State.COMPLETE, score, seconds * folds, epochs=5,
                       best_epoch=3, folds=folds, kept_seconds=kept)


def ensemble(score: float, **weights: float) -> TrialRecord:
    return TrialRecord("ensemble", "ensemble", "ensemble", weights, State.COMPLETE, score, 0.0, folds=3)


def left(seconds: float) -> Stop:
    return Stop(budget_end=time.monotonic() + seconds)


def test_the_ensemble_is_refitted_with_the_best_network_and_baseline_to_compare():
    records = [baseline("linear", 1.2), baseline("gbm", 1.1), network("dense-0001", 1.0),
               network("dense-0002", 1.05), ensemble(0.95, gbm=0.3, **{"dense-0002": 0.7})]
    chosen = plan(records, RMSE, 3, Stop())
    assert chosen.pick.name == "ensemble" and dict(chosen.weights) == {"gbm": 0.3, "dense-0002": 0.7}
    assert chosen.refits == ("dense-0002", "gbm", "dense-0001")  # the members by weight, then the best network
    assert [r.name for r in chosen.compared] == ["dense-0001", "gbm"]
    assert chosen.bag == {"dense-0001", "dense-0002"} and not chosen.serve_kept  # no budget: fold models again
    assert chosen.single.name == "dense-0001"
    assert chosen.notes[0] == ("refitting the winner, an ensemble of gbm (0.30), dense-0002 (0.70) on "
                               "train+validation, and dense-0001 to compare, and scoring them once on test")


def test_with_little_time_left_the_ensemble_gives_way_and_nothing_slow_is_refitted_to_compare():
    records = [baseline("linear", 1.2, 0.03), baseline("forest", 1.1, 30.0), network("dense-0001", 1.0, 2.0),
               ensemble(0.95, forest=0.5, **{"dense-0001": 0.5})]
    chosen = plan(records, RMSE, 3, left(FINISH_SECONDS + 5))
    assert chosen.pick.name == "dense-0001" and dict(chosen.weights) == {"dense-0001": 1.0}
    assert "ensemble" not in [r.name for r in chosen.records]  # off the leaderboard: it was not served
    assert chosen.refits == ("dense-0001",) and chosen.compared == (chosen.pick,)  # the forest would not fit
    assert chosen.bag == set()  # its other fold models would take 4.6 s more: refitted once on all samples
    assert chosen.notes[0].startswith("the ensemble's members cannot all be refitted in the time left")
    assert "no time left to train the fold models of dense-0001 again: refitted on all samples" in chosen.notes
    roomy = plan(records, RMSE, 3, left(FINISH_SECONDS + 120))
    assert roomy.pick.name == "ensemble" and roomy.bag == {"dense-0001"}
    assert roomy.refits == ("forest", "dense-0001")  # members tie at 0.5: their order as given


def test_a_baseline_that_refits_in_about_a_second_is_compared_even_when_the_pick_fills_the_time_left():
    records = [baseline("linear", 1.2, 0.03), baseline("forest", 1.25, 30.0), network("dense-0001", 1.0, 20.0)]
    chosen = plan(records, RMSE, 3, left(FINISH_SECONDS + 1), kept={"dense-0001"})
    assert [r.name for r in chosen.compared] == ["dense-0001", "linear"]  # linear: the best baseline, 0.01 s
    records[1] = baseline("forest", 1.1, 30.0)
    chosen = plan(records, RMSE, 3, left(FINISH_SECONDS + 1), kept={"dense-0001"})
    assert [r.name for r in chosen.compared] == ["dense-0001"]  # the forest, best now, would take 12.5 s


def test_kept_fold_models_are_served_without_training_even_when_no_time_is_left():
    records = [baseline("linear", 1.2), network("dense-0001", 1.0, 20.0)]
    chosen = plan(records, RMSE, 3, left(FINISH_SECONDS + 1), kept={"dense-0001"})
    assert chosen.pick.name == "dense-0001" and chosen.bag == {"dense-0001"}
    assert "dense-0001: served as the fold models the search trained and kept (no training)" in chosen.notes
    assert served_as([records[1]], Stop(), set()) == ({"dense-0001"}, set())  # not kept, no budget: trained again


def test_on_a_holdout_kept_networks_are_served_as_trained_and_the_others_trained_again():
    records = [baseline("linear", 1.2), network("dense-0001", 1.0, folds=1), network("dense-0002", 1.1, folds=1)]
    chosen = plan(records, RMSE, 1, Stop(), kept={"dense-0002"})
    assert chosen.bag == set() and chosen.serve_kept == set()  # the pick was not kept
    assert "dense-0001: trained again on the training split as the search trained it (scored on the holdout)" \
        in chosen.notes
    assert served_as([records[2]], left(1), {"dense-0002"}) == (set(), {"dense-0002"})  # kept: served, no budget


def test_networks_set_aside_are_compared_but_never_the_pick():
    records = [baseline("naive", 1.2), baseline("ridge", 1.1), network("dense-0001", 0.9)]
    chosen = plan(records, RMSE, 3, Stop(), set_aside="networks within noise")
    assert chosen.pick.name == "ridge" and chosen.single.name == "ridge"
    assert [r.name for r in chosen.compared] == ["dense-0001", "ridge"] and chosen.set_aside


def test_a_member_whose_refit_failed_hands_the_pick_to_the_best_single_candidate():
    records = [baseline("linear", 1.2), network("dense-0001", 1.0), network("dense-0002", 1.05),
               ensemble(0.95, linear=0.4, **{"dense-0002": 0.6})]
    chosen = plan(records, RMSE, 3, Stop())
    assert chosen.fallback({}, chosen.refits) is chosen  # every refit ran
    assert chosen.fallback({"dense-0001": "out of memory"}, ["linear", "dense-0002"]) is chosen  # only compared
    fallen = chosen.fallback({"dense-0002": "out of memory"}, ["linear", "dense-0001"])
    assert fallen.pick.name == "dense-0001" and dict(fallen.weights) == {"dense-0001": 1.0}
    assert "ensemble" not in [r.name for r in fallen.records]
    assert fallen.notes == ("the best single candidate, dense-0001, is the pick",)
    with pytest.raises(AutosearchError, match="refitting the pick ensemble on train.validation failed"):
        chosen.fallback({"dense-0002": "nan", "dense-0001": "nan"}, ["linear"])
    alone = plan(records[:2], RMSE, 3, Stop())
    with pytest.raises(AutosearchError, match=r"refitting the pick dense-0001 .* failed \(nan loss\)"):
        alone.fallback({"dense-0001": "nan loss"}, ["linear"])


def test_no_completed_candidate_is_an_error():
    failed = TrialRecord("dense-0001", "nn", "dense", {}, State.FAILED, None, 1.0, error="nan loss")
    with pytest.raises(AutosearchError, match="no candidate completed"):
        plan([failed], RMSE, 3, Stop())


def test_an_ensemble_gives_way_to_the_best_single_candidate_only_where_its_extra_refits_would_not_fit():
    """The best single candidate is refitted anyway; members that refit in about a second never cost the
    ensemble its place, even with less left than writing the results keeps back."""
    nearly_spent = left(FINISH_SECONDS / 2)
    cheap = [baseline("theta", 1.0, 0.6), baseline("linear", 1.0, 0.03), baseline("extra_trees", 1.0, 0.9)]
    assert ensemble_fits(cheap, cheap[1], nearly_spent)
    slow = [baseline("linear", 1.0, 0.03), baseline("random_forest", 1.0, 30.0)]
    assert not ensemble_fits(slow, slow[0], nearly_spent)
    assert ensemble_fits(slow, slow[1], nearly_spent)  # the slow one alone is the fallback: refitted anyway
    assert ensemble_fits(slow, slow[0], left(60))


def test_kept_networks_count_what_their_trials_measured_serving_them_takes():
    """elecdaily at 2 minutes: an ensemble of three kept networks, the seasonal naive and a forest gave way, the
    networks counted at 2 s each where serving them took under 1 s."""
    nets = [network(f"rnn-000{i}", 1.0 + i / 100, 2.0, kept=0.6) for i in range(3)]
    records = [baseline("seasonal_naive", 1.5, 0.01), baseline("forest", 1.1, 0.6), *nets,
               ensemble(0.9, forest=0.2, seasonal_naive=0.1, **{n.name: 0.7 / 3 for n in nets})]
    kept = {n.name for n in nets}
    measured = 3 * REFIT_FACTOR * 0.6  # 2.25 s beyond the forest's refit; with 2 s a network, 7.5 s
    assert plan(records, RMSE, 3, left(FINISH_SECONDS + measured + 1), kept).pick.name == "ensemble"
    flat = [replace(n, kept_seconds=None) for n in nets]  # stored before serving them was measured
    old = plan([*records[:2], *flat, records[-1]], RMSE, 3, left(FINISH_SECONDS + measured + 1), kept)
    assert old.pick.name == "rnn-0000" and 3 * REFIT_FACTOR * KEPT_SECONDS > measured + 1  # the ensemble gave way


def test_a_networks_serving_estimate_counts_its_layers_and_each_recurrent_loop():
    import keras

    from autosearch.training import graph_size
    from autosearch.trial_runner import LAYER_SECONDS, RECURRENT_SECONDS, kept_seconds

    inputs = keras.Input((10, 3))
    hidden = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True))(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.LSTM(4)(hidden))
    assert graph_size(keras.Model(inputs, outputs)) == (4, 3)  # input, bidirectional, LSTM, dense; 2 + 1 loops
    assert graph_size(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])) == (1, 0)
    each = 0.02 + 4 * LAYER_SECONDS + 3 * RECURRENT_SECONDS  # a fold model's prediction, copy and traces
    assert kept_seconds(0.3, 0.02, 4, 3, 5) == pytest.approx(0.3 + 5 * each)
