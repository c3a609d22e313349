"""The pick as an MLflow Model: logged on the parent run, registered with aliases, read back by URI, served by a
real `mlflow models serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from commands import autosearch_here
from mlflow import MlflowClient
from servers import local_server

import autosearch
from autosearch.serving.mlflow_model import CHALLENGER, CHAMPION, choose_alias

NAME = "flowers"
pytestmark = pytest.mark.xdist_group("mlflow_model")  # one registry fit per module, not one per test process


def _fit(data: Path, out: Path, uri: str, **options):
    return autosearch.fit(data, target="species", trials=1, max_epochs=1, cv_folds=2, baselines="linear", quiet=True,
                          output=out, tracking_uri=uri, experiment="mlflow-models", register=NAME, **options)


@pytest.fixture(scope="module")
def registered(iris_csv, sandbox, tmp_path_factory):
    """A fit registered as the first version of NAME, in a store of its own (the registry is per store)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    data = tmp_path_factory.mktemp("parquet") / "iris.parquet"  # a dictionary-encoded column: pandas' categorical
    frame = pd.read_csv(iris_csv)
    frame.astype({"field_site": "category"}).to_parquet(data, index=False)  # MLflow's schema has no such type
    return uri, _fit(data, tmp_path_factory.mktemp("first") / "out", uri)


@pytest.mark.slow
def test_the_pick_is_an_mlflow_model_that_predicts_as_autosearch_does(registered, iris_csv, monkeypatch):
    uri, result = registered
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    logged = result.summary.mlflow_model
    assert logged["uri"] == f"runs:/{result.mlflow_run_id}/model"
    client = MlflowClient(uri)
    model = client.get_logged_model(logged["model_id"])
    assert model.source_run_id == result.mlflow_run_id and model.name == "model"
    assert model.experiment_id == client.get_run(result.mlflow_run_id).info.experiment_id
    assert model.tags["autosearch.winner"] == result.winner.name
    linked = {m.key: m.value for m in model.metrics or []}
    assert linked[f"test_{result.metric}"] == pytest.approx(result.test_score)  # the model's page shows them
    assert {"test_accuracy", "test_log_loss", "test_f1_macro"} <= set(linked)

    rows = pd.read_csv(iris_csv).drop(columns=["species"]).iloc[::7]
    expected = autosearch.predict(result.bundle_path, rows)
    served = mlflow.pyfunc.load_model(logged["uri"])
    pd.testing.assert_frame_equal(served.predict(rows), expected)
    signature = served.metadata.signature
    assert [c.name for c in signature.inputs.inputs] == list(rows.columns)
    assert [c.name for c in signature.outputs.inputs] == list(expected.columns)
    assert served.metadata.saved_input_example_info is not None  # the dashboard shows an example request


@pytest.mark.slow
def test_register_sets_champion_then_challenger_by_validation_score(registered, iris_csv, tmp_path):
    uri, first = registered
    client = MlflowClient(uri)
    v1 = client.get_model_version_by_alias(NAME, CHAMPION)
    assert str(v1.version) == "1" and v1.run_id == first.mlflow_run_id
    assert v1.tags["autosearch.metric"] == first.metric
    assert float(v1.tags["autosearch.val_score"]) == pytest.approx(first.winner.val_score)
    assert float(v1.tags["autosearch.test_score"]) == pytest.approx(first.test_score)
    assert len(v1.tags["autosearch.data_sha256"]) == 64 and v1.tags["autosearch.validation"] == "2-fold seed 0"
    assert "autosearch.best_baseline_val_score" in v1.tags
    assert first.summary.mlflow_model["registered"]["uri"] == f"models:/{NAME}@champion"

    second = _fit(iris_csv, tmp_path / "second", uri, seed=0)  # same data scored the same way: comparable
    alias = second.summary.mlflow_model["registered"]["alias"]
    better = first.winner.val_score < second.winner.val_score  # balanced accuracy: greater is better
    assert alias == (CHAMPION if better else CHALLENGER)
    assert str(client.get_model_version_by_alias(NAME, alias).version) == "2"
    assert str(client.get_model_version_by_alias(NAME, CHAMPION).version) == ("2" if better else "1")

    third = _fit(iris_csv, tmp_path / "third", uri, seed=1)  # another split: not comparable, never promoted
    registered = third.summary.mlflow_model["registered"]
    assert registered["alias"] == CHALLENGER and "other data" in registered["why"]
    assert str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "3"


def test_predict_reads_model_uris_from_the_cli_and_python(registered, iris_csv, tmp_path, monkeypatch):
    uri, result = registered
    rows = pd.read_csv(iris_csv)
    expected = autosearch.predict(result.bundle_path, iris_csv)
    with monkeypatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        answers = [autosearch_here("predict", model, iris_csv, "-o", tmp_path / f"p{i}.csv")
                   for i, model in enumerate((f"runs:/{result.mlflow_run_id}/model", f"models:/{NAME}/1"))]
    for i, done in enumerate(answers):
        assert done.returncode == 0, done.stderr[-2000:]
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / f"p{i}.csv"), pd.read_csv(_csv(expected, tmp_path)))
    estimator = autosearch.load(f"models:/{NAME}/1", tracking_uri=uri)
    assert (estimator.predict(rows.drop(columns=["species"])) == expected.prediction.to_numpy()).all()

    done = autosearch_here("predict", f"models:/{NAME}@nobody", iris_csv, "--tracking-uri", uri)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: cannot load models:/{NAME}@nobody") and len(done.stderr.splitlines()) == 1


def _csv(frame: pd.DataFrame, folder: Path) -> Path:
    frame.to_csv(folder / "expected.csv", index=False)
    return folder / "expected.csv"


@pytest.mark.slow
def test_mlflow_models_serve_answers_with_the_same_predictions(registered, iris_csv, tmp_path):
    uri, result = registered
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # it starts uvicorn by name
    with local_server([sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}@champion",
                       "--env-manager", "local"], "/ping", tmp_path / "serve.log", 150, env) as url:
        rows = pd.read_csv(iris_csv).drop(columns=["species"]).iloc[::10]
        rows.iloc[0, 0] = np.nan  # a missing value is served as autosearch predicts it
        body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            served = pd.DataFrame(json.loads(answer.read())["predictions"])
        champion = MlflowClient(uri).get_model_version_by_alias(NAME, CHAMPION)
        expected = autosearch.predict(f"models:/{NAME}/{champion.version}", rows, tracking_uri=uri)
        pd.testing.assert_frame_equal(served, expected.reset_index(drop=True))


def test_choose_alias_compares_only_the_same_search():
    facts = {"autosearch.metric": "accuracy", "autosearch.data_sha256": "a" * 64,
             "autosearch.validation": "5-fold seed 0", "autosearch.val_score": "0.91"}
    assert choose_alias(facts, {**facts, "autosearch.val_score": "0.90"}, True, "4")[0] == CHAMPION
    assert choose_alias(facts, {**facts, "autosearch.val_score": "0.92"}, True, "4")[0] == CHALLENGER
    assert choose_alias(facts, {**facts, "autosearch.validation": "holdout seed 0"}, True, "4")[0] == CHALLENGER
    assert choose_alias(facts, {**facts, "autosearch.metric": "roc_auc", "autosearch.val_score": "0.5"}, True,
                        "4")[0] == CHALLENGER


@pytest.mark.slow
def test_system_metrics_are_logged_on_trial_runs(iris_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")  # MLflow's setting: samples in a short trial
    result = autosearch.fit(iris_csv, target="species", trials=1, max_epochs=3, cv_folds=2, baselines="linear",
                            quiet=True, output=tmp_path / "out", system_metrics=True)
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    trial = client.search_runs([client.get_run(result.mlflow_run_id).info.experiment_id],
                               filter_string=f"tags.`mlflow.parentRunId` = '{result.mlflow_run_id}' "
                                             "and tags.`autosearch.kind` = 'trial'")[0]
    assert trial.data.metrics["system/cpu_utilization_percentage"] >= 0
    assert trial.data.metrics["system/system_memory_usage_megabytes"] > 0
    assert client.get_run(result.mlflow_run_id).data.params["system_metrics"] == "True"


def test_a_store_used_for_the_model_leaves_the_process_tracking_uri_as_it_was(tmp_path):
    from autosearch.serving.mlflow_model import _tracking

    before = os.environ["MLFLOW_TRACKING_URI"]
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    with _tracking(elsewhere):
        assert mlflow.get_tracking_uri() == elsewhere
    assert os.environ["MLFLOW_TRACKING_URI"] == before and mlflow.get_tracking_uri() == before


@pytest.mark.slow
def test_resume_registers_a_run_fitted_without_register(iris_csv, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "out"
    first = autosearch.fit(iris_csv, target="species", trials=1, max_epochs=1, cv_folds=2, baselines="linear",
                           quiet=True, output=out, tracking_uri=uri)
    assert "registered" not in first.summary.mlflow_model
    done = autosearch_here("resume", out, "--register", "irises", "-q")
    assert done.returncode == 0, done.stderr[-2000:]
    version = MlflowClient(uri).get_model_version_by_alias("irises", CHAMPION)
    assert version.run_id == first.mlflow_run_id  # the same run, finished again and registered
