"""`fit --tracking-uri http://…` against a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from mlflow import MlflowClient
from servers import local_server

import autosearch
from autosearch.data.kinds import KINDS, DataKind

pytestmark = pytest.mark.slow  # every test here trains or starts processes


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow-server")
    with local_server([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                       f"sqlite:///{root / 'server.db'}", "--artifacts-destination", str(root / "art"),
                       "--workers", "1"], "/health", root / "server.log", 90) as url:
        yield url


def test_fit_logs_to_a_tracking_server(mlflow_server, iris_csv, tmp_path):
    with_password = mlflow_server.replace("http://", "http://ann:s3cret@")  # the server ignores them; none prints them
    result = autosearch.fit(iris_csv, target="species", tracking_uri=with_password, experiment="served",
                            trials=1, max_epochs=1, cv_folds=2, quiet=True, output=tmp_path / "out")
    assert result.summary.tracking_uri == mlflow_server.replace("http://", "http://ann:***@")
    out = tmp_path / "out"
    assert "s3cret" not in (out / "summary.json").read_text() + (out / "report.html").read_text()
    assert "s3cret" in (tmp_path / "out" / "run.json").read_text()  # kept where the run reconnects from
    assert autosearch.api.report(tmp_path / "out").exists()  # `autosearch report` reconnects with it
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("served")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_id == result.mlflow_run_id)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.mlflow_run_id]
    assert parent.info.status == "FINISHED"
    assert "s3cret" not in str(parent.data.params) + str(parent.data.tags)
    kinds = sorted(c.data.tags["autosearch.kind"] for c in children if c.data.tags["autosearch.kind"] != "ensemble")
    assert kinds == ["baseline"] * len(KINDS[DataKind.TABULAR].baselines) + ["trial"]
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"leaderboard.csv", "summary.json"} <= artifacts
    model = client.get_logged_model(result.summary.mlflow_model["model_id"])  # the pick, through the server
    assert model.source_run_id == result.mlflow_run_id
    served = autosearch.predict(f"runs:/{result.mlflow_run_id}/model", iris_csv, tracking_uri=mlflow_server)
    pd.testing.assert_frame_equal(served, autosearch.predict(result.bundle_path, iris_csv))
