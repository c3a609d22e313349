"""The scikit-learn estimators (autosearch.estimator): real runs with one short trial, checked with
scikit-learn's own utilities (clone, Pipeline, cross_val_score and the applicable estimator checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_estimators_unfitted,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import autosearch
from autosearch import AutoSearchClassifier, AutoSearchRegressor

FAST = {"trials": 1, "max_epochs": 2, "holdout": True, "baselines": "linear"}


@pytest.mark.parametrize("Estimator", [AutoSearchClassifier, AutoSearchRegressor])
def test_the_checks_that_need_no_fit(Estimator):
    """scikit-learn's checks of the estimator contract that do not fit. The others fit dozens of times on
    tiny arrays (10–30 rows, often constant or random targets), which a search with held-out folds refuses
    by design, and each fit here is a real search: the tests below fit through scikit-learn's own utilities
    instead."""
    name = Estimator.__name__
    for check in (check_parameters_default_constructible, check_no_attributes_set_in_init,
                  check_get_params_invariance, check_set_params, check_estimators_unfitted):
        check(name, Estimator())


@pytest.mark.slow
def test_a_classifier_fits_arrays_predicts_labels_and_probabilities_and_loads_back(tmp_path):
    iris = load_iris()
    X, y = iris.data, iris.target_names[iris.target]  # string labels
    model = AutoSearchClassifier(**FAST, output=tmp_path / "run").fit(X[::2], y[::2])
    assert list(model.classes_) == sorted(set(y)) and model.n_features_in_ == 4
    assert not hasattr(model, "feature_names_in_")  # arrays have no column names
    labels, proba = model.predict(X[1::2]), model.predict_proba(X[1::2])
    assert labels.shape == (75,) and set(labels) <= set(y)
    assert proba.shape == (75, 3) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(model.classes_[proba.argmax(axis=1)], labels)
    assert model.score(X[1::2], y[1::2]) > 0.8  # accuracy; 0.33 by chance
    scores = model.evaluate(X[1::2], y[1::2])
    assert list(scores)[0] == "accuracy" and scores["accuracy"] == pytest.approx(model.score(X[1::2], y[1::2]))
    assert {"balanced_accuracy", "f1_macro", "log_loss", "roc_auc"} <= set(scores)
    board = model.leaderboard(X[1::2], y[1::2])  # the pick, the best network and baseline on new data
    assert board["pick"].sum() == 1 and board.loc[board["pick"], "accuracy"].iloc[0] == pytest.approx(
        scores["accuracy"])
    assert set(board.columns) >= {"name", "kind", "family", "val_score", "accuracy"}
    members = {m["name"] for m in model.best_model_.meta.members}
    lb = model.leaderboard_[model.leaderboard_.state == "complete"]
    for kind in ("nn", "baseline"):  # the best of each is in the pick, or scored beside it
        best = lb[lb.kind == kind].iloc[0]["name"]
        assert best in members or best in set(board.name), (best, board)
    assert model.leaderboard() is model.leaderboard_
    importance = model.feature_importance(X[1::2], y[1::2], n_repeats=3)
    assert importance.index[0] in ("x2", "x3")  # a petal's length or width: sepals barely separate the species
    assert importance["importance"].iloc[0] > 0.1
    assert {"baseline", "nn"} <= set(model.leaderboard_.kind) and (model.run_dir_ / "model").is_dir()

    loaded = autosearch.load(model.run_dir_)
    assert type(loaded) is AutoSearchClassifier and loaded.get_params()["trials"] == 1
    assert np.array_equal(loaded.predict(X[1::2]), labels)
    with pytest.raises(ValueError, match="3 features"):
        model.predict(X[:5, :3])


@pytest.mark.slow
def test_a_regressor_keeps_column_names_and_goes_into_a_pipeline_and_cross_val_score(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs without an output folder go under ./autosearch-runs
    data = load_diabetes(as_frame=True)
    X, y = data.data.iloc[:240], data.target.iloc[:240]
    X.index = X.index + 1000  # an index that is not 0..n: predictions are by position
    pipeline = make_pipeline(StandardScaler().set_output(transform="pandas"), AutoSearchRegressor(**FAST))
    scores = cross_val_score(pipeline, X, y, cv=KFold(2), scoring="r2")
    assert scores.shape == (2,) and np.all(scores > 0.0)  # R² 0: the mean's prediction
    assert len(list((tmp_path / "autosearch-runs").iterdir())) == 2  # one run per fold: clones, not one estimator

    model = clone(pipeline[-1]).fit(X, y)
    assert list(model.feature_names_in_) == list(X.columns)
    predicted = model.predict(X)
    assert predicted.shape == (240,) and np.corrcoef(predicted, y)[0, 1] > 0.5
    assert np.allclose(model.predict(X[list(reversed(X.columns))]), predicted)  # columns matched by name
    assert np.allclose(model.predict(X.to_numpy()), predicted)  # an array: the fitted columns' order
    assert autosearch.load(model.run_dir_).feature_names_in_.tolist() == list(X.columns)


@pytest.mark.slow
def test_bundle_predictions_keep_the_index_of_the_frame_they_were_given(tmp_path):
    iris = load_iris(as_frame=True)
    frame = iris.frame.sample(frac=1.0, random_state=0)
    model = AutoSearchClassifier(**FAST, output=tmp_path / "run").fit(frame.drop(columns="target"), frame.target)
    new = frame.drop(columns="target").iloc[:20]
    predictions = model.best_model_.predict(new)
    assert predictions.index.equals(new.index)
    joined = new.join(predictions)  # joins back to the rows it was asked about
    assert joined["prediction"].tolist() == list(model.predict(new))
    assert isinstance(pd.Series(model.predict(new)).iloc[0], (int, np.integer))  # labels keep their type


@pytest.mark.slow
def test_an_array_of_many_columns_is_a_table_not_a_series(tmp_path):
    """x0…x29 look like the steps of one series per row (data/kinds.py); an estimator's array is vectors."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    model = AutoSearchClassifier(**FAST, output=tmp_path / "run").fit(X[:300], y[:300])
    assert model.best_model_.profile.kind.value == "tabular"
    assert set(model.leaderboard_[model.leaderboard_.kind == "nn"].family) <= {"dense", "tabm"}
    assert model.score(X[300:], y[300:]) > 0.85
