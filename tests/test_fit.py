"""End-to-end `fit` and `predict` on real data, with real Keras training, Optuna and an MLflow store.

Trials are tiny (2 epochs) to keep the suite fast; the assertions are on behaviour, not scores,
except where a broken pipeline could not reach the bound.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from commands import autosearch_here
from mlflow import MlflowClient
from typer.testing import CliRunner

import autosearch
from autosearch.baselines import CLASSICAL
from autosearch.cli import app
from autosearch.data.kinds import KINDS, DataKind
from autosearch.spaces import default_space_path

pytestmark = pytest.mark.slow  # every test here trains or starts processes

TINY = {"trials": 2, "max_epochs": 2, "quiet": True, "cv_folds": 2, "baselines": "linear"}  # CV, at its cheapest
LEADERBOARD_COLUMNS = {"name", "kind", "family", "val_score", "test_score", "fit_seconds"}
TABLE_BASELINES = KINDS[DataKind.TABULAR].baselines
SUMMARY_KEYS = {"target", "task", "task_reason", "kind", "metric", "winner", "test_score", "mlflow_run_id"}


def runs_of(parent_id: str, uri: str | None = None) -> tuple:
    client = MlflowClient(uri or os.environ["MLFLOW_TRACKING_URI"])
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'")
    return client, parent, children


def test_cli_fit_then_predict_binary(breast_cancer_csv, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "autosearch", "fit", str(breast_cancer_csv), "--target", "diagnosis",
           "--trials", "3", "--max-epochs", "2", "--output", str(out), "--experiment", "cli-binary"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "task: binary" in done.stderr and "target: diagnosis (given with --target)" in done.stderr
    assert "leaderboard" in done.stdout and "winner:" in done.stdout

    board = pd.read_csv(out / "leaderboard.csv")
    assert LEADERBOARD_COLUMNS <= set(board.columns)
    assert sorted(board[board.kind == "baseline"].name) == sorted(TABLE_BASELINES)
    assert (board.kind == "nn").sum() == 3
    summary = json.loads((out / "summary.json").read_text())
    scored = {summary["winner"]["name"], summary["best_nn"]["name"], summary["best_baseline"]["name"]}
    assert set(board[board.test_score.notna()].name) == scored  # the pick, and what it is compared with
    assert SUMMARY_KEYS <= set(summary)
    assert summary["task"] == "binary" and summary["target"] == "diagnosis"
    assert summary["winner"]["name"] == board.iloc[0]["name"]
    assert summary["test_score"] > 0.85  # every baseline but the dummy does far better on this set
    assert summary["warnings"] == [] and "warning" not in done.stderr + done.stdout  # a sound run warns nothing

    client, parent, children = runs_of(summary["mlflow_run_id"])
    assert parent.data.tags["autosearch.task"] == "binary" and parent.data.params["target"] == "diagnosis"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"leaderboard.csv", "summary.json"}
    assert summary["mlflow_model"]["uri"] == f"runs:/{parent.info.run_id}/model"  # the pick, as an MLflow Model
    kinds = sorted(c.data.tags["autosearch.kind"] for c in children)
    ensembles = ["ensemble"] * int((board.kind == "ensemble").any())  # one, where a blend beat every candidate
    assert kinds == ["baseline"] * len(TABLE_BASELINES) + ensembles + ["trial"] * 3
    for child in children:
        assert child.data.tags["autosearch.family"]
        assert child.info.status in ("FINISHED", "FAILED")
    assert parent.info.run_name.startswith("breast_cancer → diagnosis 20")  # the data, the target, when
    svm = next(c for c in children if c.data.tags["autosearch.family"] == "svm")
    assert svm.data.params["model"] == "CalibratedClassifierCV(SVC)"  # what it is, not get_params' defaults
    assert len(svm.data.params) <= 4 and "estimator__break_ties" not in svm.data.params
    trial = next(c for c in children if c.data.tags["autosearch.kind"] == "trial"
                 and c.data.tags["autosearch.state"] == "complete" and c.data.tags["autosearch.family"] == "dense")
    assert {"layers", "units_0", "activation", "dropout", "l2", "batch_norm", "optimizer", "learning_rate",
            "batch_size"} <= set(trial.data.params)
    curve = client.get_metric_history(trial.info.run_id, "epoch_val_score")  # the first fold's epochs
    assert [m.step for m in curve] == list(range(len(curve))) and 1 <= len(curve) <= 2
    row = board.set_index("name").loc[trial.info.run_name.split()[0]]
    assert trial.data.metrics["val_score"] == pytest.approx(row.val_score)  # on the out-of-fold predictions
    assert trial.data.metrics["folds"] == row.folds == 5

    rows = pd.read_csv(breast_cancer_csv)
    predict = autosearch_here("predict", out / "model", breast_cancer_csv, "--output", tmp_path / "preds.csv")
    assert predict.returncode == 0, predict.stderr
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert list(preds.columns) == ["prediction", "proba_benign", "proba_malignant"]
    assert set(preds.prediction) <= {"benign", "malignant"}
    assert np.allclose(preds.proba_benign + preds.proba_malignant, 1.0)
    assert (preds.prediction == rows.diagnosis).mean() > 0.85


def test_a_guessed_target_and_a_pick_no_better_than_the_dummy_are_warned_about(tmp_path, capsys):
    """No --target, no column named like one: the last column is taken, and said to be a guess, with the
    columns that could have been meant; a target the features do not predict gets a pick no better than the
    dummy, and a warning in the terminal, the summary and the report."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=300), "colour": rng.choice(["red", "blue", "green"], 300),
                          "b": rng.normal(size=300), "noise": rng.normal(size=300)})
    frame.to_csv(tmp_path / "noise.csv", index=False)
    result = autosearch.fit(tmp_path / "noise.csv", **{**TINY, "quiet": False}, output=tmp_path / "run")
    said = capsys.readouterr().err
    assert "warning: target: noise (guessed:" in said and "could be the target too: colour" in said
    warnings = result.summary.warnings
    assert len(warnings) == 2 and warnings[0].startswith("the target 'noise' was guessed")
    assert "dummy baseline, which ignores the features" in warnings[1]  # beaten by no one, or not clearly
    assert all(w in said for w in warnings)
    assert "Warning: the target &#x27;noise&#x27; was guessed" in (tmp_path / "run" / "report.html").read_text()


def test_multiclass_with_categoricals_missing_values_and_a_test_file(iris_csv, tmp_path):
    frame = pd.read_csv(iris_csv)
    train = frame.sample(frac=0.8, random_state=1)
    test = frame.drop(train.index)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)

    result = autosearch.fit(tmp_path / "train.csv", target="species", test=tmp_path / "test.csv",
                            output=tmp_path / "out", **TINY)
    assert result.summary.task == "multiclass"
    assert result.summary.rows["test"] == len(test)  # the file is the test split; none carved
    assert result.summary.rows["train"] + result.summary.rows["validation"] == len(train)
    assert "field_site" in result.summary.profile["categorical"]
    assert 0.0 <= result.test_score <= 1.0

    preds = result.predict(test.drop(columns=["species"]))
    assert set(preds.prediction) <= {"setosa", "versicolor", "virginica"}
    assert [c for c in preds.columns if c.startswith("proba_")] == [
        "proba_setosa", "proba_versicolor", "proba_virginica"]

    # any candidate can be refitted and scored on the same test split afterwards (the benchmark's best network)
    board = result.leaderboard
    assert autosearch.test_candidate(tmp_path / "out", result.winner.name) == pytest.approx(result.test_score,
                                                                                            abs=0.07)
    best_nn = board[(board.kind == "nn") & (board.state == "complete")].iloc[0]["name"]
    assert 0.0 <= autosearch.test_candidate(tmp_path / "out", best_nn) <= 1.0
    with pytest.raises(autosearch.AutosearchError, match="no completed candidate named 'nope'"):
        autosearch.test_candidate(tmp_path / "out", "nope")


def test_baselines_names_the_classical_candidates_and_a_resumed_run_keeps_them(iris_csv, tmp_path):
    result = autosearch.fit(iris_csv, target="species", output=tmp_path / "out",
                            **{**TINY, "trials": 1, "baselines": "svm, linear"})
    board = result.leaderboard
    assert list(board[board.kind == "baseline"].sort_values("name").name) == ["dummy", "linear", "svm"]
    config = json.loads((tmp_path / "out" / "run.json").read_text())["config"]
    assert config["baselines"] == ["svm", "linear"]  # as asked: a resumed run fits the same ones
    again = autosearch.resume(tmp_path / "out", trials=2, quiet=True).leaderboard
    assert sorted(again[again.kind == "baseline"].name) == ["dummy", "linear", "svm"]
    assert (again.kind == "nn").sum() == 2


def test_regression_searches_the_loss_and_predicts_in_target_units(diabetes_csv, tmp_path):
    result = autosearch.fit(diabetes_csv, output=tmp_path / "out", **TINY)
    assert result.summary.task == "regression" and result.metric == "rmse"
    assert result.summary.target == "progression"  # the last column
    _, _, children = runs_of(result.mlflow_run_id)
    trials = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert all(c.data.params.get("loss") in ("mse", "mae", "huber") for c in trials)
    drawn = {p.stem for p in (result.output_dir / "report").glob("*.png")}  # regression's diagnostics, not ROC
    assert {"predicted_vs_actual", "residuals"} <= drawn and "roc" not in drawn

    frame = pd.read_csv(diabetes_csv)
    preds = autosearch.predict(result.bundle_path, frame)
    rmse = float(np.sqrt(np.mean((preds.prediction - frame.progression) ** 2)))
    assert rmse < frame.progression.std()  # beats predicting the mean, in the target's units

    frame.drop(columns=["bmi"]).to_csv(tmp_path / "no_bmi.csv", index=False)
    frame.assign(age=["unknown"] + list(frame.age[1:])).to_csv(tmp_path / "text_age.csv", index=False)
    for name, expected in [("no_bmi.csv", "lacks column(s) the model needs: bmi"),
                           ("text_age.csv", "column 'age' must be numeric but holds 'unknown'")]:
        refused = CliRunner().invoke(app, ["predict", str(result.bundle_path), str(tmp_path / name)])
        assert refused.exit_code == 2 and expected in refused.output and "Traceback" not in refused.output


def test_multi_output_regression_with_mixed_precision(diabetes_csv, tmp_path):
    import keras

    result = autosearch.fit(diabetes_csv, target=["progression", "s5"], output=tmp_path / "out", mixed_precision=True,
                            **TINY)
    assert result.summary.task == "regression" and result.summary.target == ["progression", "s5"]
    preds = result.predict(diabetes_csv)
    assert list(preds.columns) == ["prediction_progression", "prediction_s5"]
    assert preds.notna().all().all()
    _, _, children = runs_of(result.mlflow_run_id)
    trials = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert trials and all(t.data.tags["autosearch.device"] == "cpu (mixed_float16)" for t in trials)
    assert keras.mixed_precision.global_policy().name == "float32"  # only for the fit


def test_multilabel_label_sets(wine_labels_csv, tmp_path):
    result = autosearch.fit(wine_labels_csv, target="tags", output=tmp_path / "out", **TINY)
    assert result.summary.task == "multilabel" and result.metric == "f1_macro"
    preds = result.predict(wine_labels_csv)
    assert {"prediction", "cultivar_0", "strong", "proba_strong"} <= set(preds.columns)
    assert set(preds["strong"]) <= {0, 1}
    truth = pd.read_csv(wine_labels_csv)["tags"].str.contains("strong")
    assert ((preds["strong"] == 1) == truth).mean() > 0.7


def test_skewed_classes_get_an_imbalance_aware_metric_and_searched_class_weights(breast_cancer_csv, tmp_path):
    frame = pd.read_csv(breast_cancer_csv)
    skewed = pd.concat([frame[frame.diagnosis == "benign"], frame[frame.diagnosis == "malignant"].head(40)])
    result = autosearch.fit(skewed, target="diagnosis", output=tmp_path / "out", **TINY)
    assert result.metric == "roc_auc" and "skewed" in result.summary.metric_reason
    assert result.summary.class_weight_searched is True
    nets = result.leaderboard[result.leaderboard.kind == "nn"]
    assert all("class_weight" in json.loads(p) for p in nets.params)


def test_failing_trials_are_recorded_and_the_sweep_goes_on(diabetes_csv, tmp_path):
    space = tmp_path / "broken.yaml"
    space.write_text("params:\n  layers: 1\n  activation: no_such_activation\n")
    result = autosearch.fit(diabetes_csv, space=space, output=tmp_path / "out", **TINY)
    nets = result.leaderboard[result.leaderboard.kind == "nn"]
    assert list(nets.state) == ["failed", "failed"]
    assert result.winner.kind == "baseline" or set(json.loads(result.leaderboard.params[0])) <= set(
        CLASSICAL)  # a baseline, or an ensemble of baselines
    _, _, children = runs_of(result.mlflow_run_id)
    failed = [c for c in children if c.data.tags["autosearch.kind"] == "trial"]
    assert [c.info.status for c in failed] == ["FAILED", "FAILED"]
    assert all("no_such_activation" in c.data.tags["autosearch.error"] for c in failed)


def test_a_high_cardinality_column_is_embedded_by_the_first_tabm_trial(mpg_csv, tmp_path):
    result = autosearch.fit(mpg_csv, target="hwy", space=default_space_path("tabm"), output=tmp_path / "out",
                            **{**TINY, "trials": 1})
    assert result.summary.context["high_cardinality"] is True  # `model`: 38 values
    net = result.leaderboard[result.leaderboard.kind == "nn"].iloc[0]
    assert net.state == "complete" and json.loads(net.params)["categories"] == "embed"
    assert json.loads(net.params)["scaling"] == "quantile"  # TabM's inputs: the quantile_table view
    frame = pd.read_csv(mpg_csv).drop(columns=["hwy"]).head(3).assign(model=["a4", "no such model", None])
    rmse = autosearch.test_candidate(tmp_path / "out", net["name"])  # built, trained and scored again
    served = autosearch.predict(result.bundle_path, frame)  # the bundle read back from its files
    assert np.isfinite(rmse) and np.isfinite(served.prediction).all()


def test_a_date_column_is_read_as_numbers_that_carry_the_weekday(tmp_path):
    """Weekend or weekday, from the date alone: every date is distinct, so read as text it was dropped as an
    ID (and each one-hot value unseen at predict); as numbers its weekday decides."""
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.permutation(900)[:300], unit="D")
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "noise": rng.normal(size=300),
                          "when": np.where(days.day_of_week >= 5, "weekend", "weekday")})
    frame.to_csv(tmp_path / "days.csv", index=False)
    result = autosearch.fit(tmp_path / "days.csv", target="when", output=tmp_path / "out",
                            **{**TINY, "trials": 1, "baselines": "gradient_boosting"})
    assert result.summary.profile["dates"] == ["day"] and "day" not in result.summary.profile["dropped"]
    assert result.summary.best_baseline.val_score > 0.9  # gradient boosting reads the weekday part
    later = pd.Series(pd.date_range("2026-03-02", periods=14, freq="D"))  # never seen: two whole weeks
    served = autosearch.predict(result.bundle_path, pd.DataFrame({"day": later.dt.strftime("%Y-%m-%d"),
                                                                  "noise": 0.0}))
    truth = np.where(later.dt.day_of_week >= 5, "weekend", "weekday")
    assert (served.prediction.to_numpy() == truth).mean() >= 0.8
    with pytest.warns(autosearch.serving.bundle.UnseenCategoryWarning, match="date column 'day' holds 1 value"):
        autosearch.predict(result.bundle_path, pd.DataFrame({"day": ["2026-03-02", "next week"], "noise": 0.0}))
