"""Repeated k-fold bagging (autosearch/bagging.py): with time left once the search is over, the best networks
train again on new fold splits; each bagged network is a candidate whose out-of-fold predictions are averaged
over every split and whose served model averages every split's fold models."""

from __future__ import annotations

import numpy as np
import pytest

import autosearch
from autosearch.bagging import REPEAT_SEED, SUFFIX
from autosearch.config import make_config
from autosearch.data.split import fold_rows
from autosearch.prepare import prepare
from autosearch.progress import Progress
from autosearch.runs import RunState


def test_a_long_budgets_search_that_settled_ends_between_trials_and_says_why_and_a_short_ones_never_does():
    from autosearch.metrics import get_metric
    from autosearch.records import State, TrialRecord
    from autosearch.stopping import Stop, settled
    from autosearch.tasks import Task

    metric = get_metric("accuracy", Task.BINARY)
    trials = [TrialRecord(f"dense-{n:03d}", "nn", "dense", {}, State.COMPLETE, 0.9 if n == 40 else 0.8, 1.0,
                          number=n) for n in range(100)]
    assert settled(trials[:60], metric) is None  # 19 trials since the best (a quarter of them, but fewer than 20)
    assert settled(trials[:80], metric) is None  # 39 since the best, under half of the 80
    assert "no better network in the 41 trials since dense-040" in settled(trials[:82], metric)
    short, long = Stop(), Stop()
    long.settles = True
    for stop in (short, long):
        stop.settle(settled(trials, metric))
    assert not short.requested and short.settled is None  # a short budget searches to its end
    assert long.requested and long.why.startswith("the search settled")


@pytest.mark.slow  # trains
def test_with_time_left_the_best_networks_are_bagged_over_new_splits_whose_predictions_stay_out_of_fold(
        breast_cancer_csv, tmp_path):
    """Each split's fold models, rebuilt from the weights the run keeps, predict the rows of their own fold of
    that split (never rows they trained on), and the bagged candidate's out-of-fold predictions are their
    average over the splits: were a split's models to predict rows they trained on, or a split's predictions
    to be missing from the average, the check would fail."""
    from autosearch.training import Network

    options = dict(target="diagnosis", trials=2, max_epochs=3, cv_folds=2, baselines=["linear"], seed=0)
    result = autosearch.fit(breast_cancer_csv, time_budget="90s", output=tmp_path / "run", quiet=True, **options)
    board = result.leaderboard
    assert board[board.name.str.contains(SUFFIX)].shape[0] >= 1
    assert (board.kind == "nn").sum() >= 3  # 2 trials and their bagged candidates
    assert sum(result.summary.trials.values()) == 2  # trials searched: the bagged networks are no trials

    state = RunState.load(tmp_path / "run")
    store = state.trial_store(tmp_path / "run")
    try:
        bagged = [r for r in store.records() if r.repeats > 1]
        assert bagged and store.count() == 2  # the search's count leaves them out: a resumed search is not misled
        record = bagged[0]
        base = record.name.rsplit(SUFFIX, 1)[0]
        weights, stored = store.fold_models(record.name), store.predictions()
        own = store.fold_models(base)  # the search's split: the network's own fold models, first
        assert own is not None and len(weights) == record.folds * record.repeats
        assert all(np.array_equal(a, b) for x, y in zip(weights, own) for a, b in zip(x, y))
        prep = prepare(breast_cancer_csv, make_config(output=tmp_path / "run", **options), Progress(quiet=True))
        dev, k = prep.split.train + prep.split.val, prep.folds.k
        network = Network(record.params, prep.space(record.family), prep.folds.first, seed=0)
        total = np.zeros_like(stored[record.name], dtype=np.float64)
        for r in range(record.repeats):
            splits = prep.folds.splits if r == 0 else fold_rows(dev, len(prep.split.train), k,
                                                                0 + r * REPEAT_SEED, True)[0]
            folds = prep.folds.resplit(splits)
            predictions = None
            for i, (fit, score) in enumerate(splits):
                assert not set(fit) & set(score)
                network.model.set_weights(weights[r * k + i])
                predictions = folds.place(predictions, i, network.predict(folds.fold(i)))
            if r == 0:  # the search's own split: the network's own out-of-fold predictions
                np.testing.assert_allclose(stored[base], predictions, rtol=1e-4, atol=1e-5)
            total += predictions
        np.testing.assert_allclose(stored[record.name], total / record.repeats, rtol=1e-4, atol=1e-5)
        assert record.val_score == pytest.approx(prep.folds.score(stored[record.name]), rel=1e-6)
    finally:
        store.close()
    assert result.summary.seconds["total"] <= 90 * 1.05 + 10
    again = autosearch.resume(tmp_path / "run", quiet=True)  # every network worth bagging is bagged: none again
    assert sorted(again.leaderboard.name) == sorted(board.name)
    store = RunState.load(tmp_path / "run").trial_store(tmp_path / "run")
    try:
        assert {r.name: r.mlflow_run_id for r in store.records("bag")} == {r.name: r.mlflow_run_id for r in bagged}
    finally:
        store.close()
