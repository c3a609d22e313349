"""The second layer (stacking.py): a stacker scored on out-of-fold outputs only, kept only beyond the noise, and
served by a bundle from its members' outputs."""

from __future__ import annotations

import numpy as np
import pytest

from autosearch import stacking
from autosearch.baselines import fit_baseline
from autosearch.config import make_config
from autosearch.ensemble import ensemble_of
from autosearch.prepare import prepare
from autosearch.progress import Progress
from autosearch.records import State, TrialRecord
from autosearch.serving.bundle import Bundle, BundleMeta, Member, save_bundle
from autosearch.summary import Candidate
from autosearch.tasks import Task


def prepared(csv, target, tmp_path):
    return prepare(csv, make_config(target=target, output=tmp_path / "out", cv_folds=5), Progress(quiet=True))


def member(name: str, output: np.ndarray, folds) -> TrialRecord:
    return TrialRecord(name, "baseline", "linear", {}, State.COMPLETE, folds.score(output.astype(np.float32)), 0.1,
                       folds=folds.k)


def test_no_stacked_output_comes_from_a_stacker_that_saw_its_label():
    """Changing the labels of one inner fold's samples leaves their stacked outputs as they were (and changes the
    others': the stacker does learn from labels)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.normal(size=200)
    before, blocks = stacking.out_of_fold(X, y, Task.REGRESSION, 1)
    changed = y.copy()
    changed[blocks[0]] += 100.0
    after, again = stacking.out_of_fold(X, changed, Task.REGRESSION, 1)
    assert all(np.array_equal(a, b) for a, b in zip(blocks, again))
    np.testing.assert_array_equal(after[blocks[0]], before[blocks[0]])
    others = np.setdiff1d(np.arange(200), blocks[0])
    assert not np.allclose(after[others], before[others])


def test_a_stacker_that_rescales_its_members_is_kept_where_the_blend_cannot_follow(diabetes_csv, tmp_path):
    """A member that predicts half of every value: a blend (weights summing to one) cannot undo it, ridge
    regression can."""
    folds = prepared(diabetes_csv, "progression", tmp_path).folds
    rng = np.random.default_rng(0)
    y = folds.y.astype(np.float64)
    predictions = {"half": 0.5 * y + rng.normal(0, 0.05, y.shape), "noisy": y + rng.normal(0, 1.0, y.shape)}
    records = [member(name, p, folds) for name, p in predictions.items()]
    ensemble = ensemble_of(records, predictions, folds)
    rival = min([*records, *([ensemble] if ensemble else [])], key=lambda r: r.val_score)
    record, outputs, said = stacking.stack_of(records + ([ensemble] if ensemble else []), predictions, folds)
    assert record is not None and "a candidate" in said, said
    assert record.family == "stack" and set(record.params) == {"half", "noisy"}
    assert record.val_score < 0.5 * rival.val_score  # RMSE
    assert record.val_score == pytest.approx(folds.score(outputs))


def test_a_stacker_that_only_echoes_its_members_is_left_out(breast_cancer_csv, tmp_path):
    """Two copies of one model's out-of-fold probabilities: all a stacker can add is a recalibration, within the
    noise between inner folds, so it is left out. (Over members no better than chance it is kept, rightly: its
    intercept alone predicts the majority class.)"""
    from autosearch.budget import fit_classical

    folds = prepared(breast_cancer_csv, "diagnosis", tmp_path).folds
    (record, oof, _), = fit_classical(["linear"], folds, None, lambda: None)
    predictions = {"linear": oof, "again": oof.copy()}
    records = [record, member("again", oof, folds)]
    stacked, outputs, said = stacking.stack_of(records, predictions, folds)
    assert stacked is None and outputs is None and "left out" in said, said


def test_a_bundle_serves_the_stacker_from_its_members_outputs(diabetes_csv, tmp_path):
    prep = prepared(diabetes_csv, "progression", tmp_path)
    problem = prep.folds.against(prep.split.test, prep.preprocessor)
    members, outputs = [], {}
    for name in ("linear", "random_forest"):
        record, model, output = fit_baseline(name, problem)
        members.append(Member(name, "baseline", record.family, record.params, 0.5, model))
        outputs[name] = output
    names = ["linear", "random_forest"]
    stacker = stacking.fit_stacker(stacking.inputs(outputs, names, Task.REGRESSION), problem.y_score, Task.REGRESSION)
    members.append(Member("stack", "ensemble", "stack", {"inputs": names}, 0.0, stacker))
    meta = BundleMeta(prep.profile.as_dict(), Candidate("stack", "ensemble", "stack", 1.0, {n: 0.5 for n in names}),
                      prep.profile.task.value, prep.profile.kind.value, tuple(prep.profile.targets), (),
                      prep.metric.name)
    folder = save_bundle(tmp_path / "model", preprocessor=prep.preprocessor, codec=prep.codec, members=members,
                         meta=meta)
    served = Bundle.load(folder).scores(prep.split.test.features)
    expected = prep.codec.scores(stacking.output(stacker, outputs, names, Task.REGRESSION, 1))
    np.testing.assert_allclose(served, expected, rtol=1e-5)
    blended = prep.codec.scores(0.5 * outputs["linear"] + 0.5 * outputs["random_forest"])
    assert not np.allclose(served, blended)


def test_a_rare_class_gets_as_many_inner_folds_as_it_has_samples_and_a_single_one_gets_no_stacker():
    """Stratified inner folds, each with a sample of every class (a fold without one would leave ROC AUC
    undefined and a fit with one class); a class seen once cannot be both fitted and scored."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.r_[np.zeros(57, int), np.ones(3, int)]
    _, blocks = stacking.out_of_fold(X, y, Task.BINARY, 2)
    assert len(blocks) == 3 and all(y[b].sum() == 1 for b in blocks)
    assert stacking.out_of_fold(X, np.r_[np.zeros(59, int), 1], Task.BINARY, 2) is None


def test_a_stacker_an_earlier_sitting_made_is_dropped_with_its_predictions(tmp_path):
    """A resumed run that keeps no stacker must not list the earlier sitting's."""
    from autosearch.trial_store import TrialStore

    store = TrialStore(f"sqlite:///{tmp_path / 'run.db'}", "autosearch")
    try:
        record = TrialRecord("stack", "ensemble", "stack", {"a": 0.5, "b": 0.5}, State.COMPLETE, 1.0, 0.1)
        store.save(record, np.zeros((4, 1), dtype=np.float32))
        assert [r.name for r in store.records()] == ["stack"] and "stack" in store.predictions()
        store.drop("stack")
        assert store.records() == [] and store.predictions() == {}
    finally:
        store.close()
