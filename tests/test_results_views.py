"""What a person looks at after a fit: the HTML report (rendered in a real headless Chromium), the
terminal leaderboard, the MLflow dashboard served by `autosearch ui`, and readable MLflow run names."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from commands import autosearch_here
from mlflow import MlflowClient
from servers import free_port

from autosearch import fit
from autosearch.data.kinds import KINDS, DataKind

# Written into a copy of the report: once the page has loaded, every figure's image records the size
# Chromium decoded (naturalWidth/Height) and laid out (its box) as attributes that --dump-dom prints.
MEASURE = """<script>
window.addEventListener("load", () => {
  for (const figure of document.querySelectorAll("figure")) {
    const img = figure.querySelector("img");
    const box = img ? img.getBoundingClientRect() : {width: 0, height: 0};
    figure.setAttribute("data-measured", [img ? img.naturalWidth : 0, img ? img.naturalHeight : 0,
                                          Math.round(box.width), Math.round(box.height)].join(","));
  }
});
</script></body>"""


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
SYSTEM_BIN = ("/usr/bin", "/bin", "/usr/local/bin", "/snap/bin")  # where packages put them, on PATH or not


def _find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name) or next((f"{d}/{name}" for d in SYSTEM_BIN if Path(d, name).is_file()), None)
        if found:
            return found
    return None


def chromium() -> str:
    """A headless Chromium: on PATH, where Debian installs it, or installed here with apt-get (as root, or
    with sudo), so that README's test command needs nothing set up by hand."""
    found = _find_browser()
    if found is None:
        apt = shutil.which("apt-get") or next((f"{d}/apt-get" for d in SYSTEM_BIN if Path(d, "apt-get").is_file()),
                                              None)
        if apt is not None:
            sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run([*sudo, apt, "update", "-qq"], env=env, capture_output=True, timeout=600)
            subprocess.run([*sudo, apt, "install", "-y", "-qq", "chromium"], env=env, capture_output=True, timeout=900)
            found = _find_browser()
    if found is None:
        raise AssertionError("headless Chromium is needed and could not be installed: apt-get install chromium")
    return found


pytestmark = pytest.mark.xdist_group("views")  # one worker fits the module's run once


@pytest.fixture(scope="module")
def iris_run(iris_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("views") / "iris-run"
    fit(iris_csv, target="species", trials=5, max_epochs=3, cv_folds=2, output=out, experiment="views", seed=3,
        quiet=True)
    return out


@pytest.mark.slow
def test_report_renders_its_plots_in_headless_chromium(iris_run, tmp_path):
    page = (iris_run / "report.html").read_text()
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # opens offline
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", MEASURE))
    done = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--virtual-time-budget=10000", "--window-size=1280,4000", "--dump-dom",
                           probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = dict(re.findall(r'<figure id="([a-z_]+)" data-measured="([\d,]+)"', done.stdout))
    expected = {"families", "optimization_history", "param_importances", "parallel_coordinates",
                "learning_curves", "confusion_matrix", "roc", "precision_recall"}
    assert expected <= set(measured), f"figures found: {sorted(measured)}"
    for name in expected:
        natural_w, natural_h, shown_w, shown_h = map(int, measured[name].split(","))
        assert natural_w > 100 and natural_h > 100, f"{name}: image not decoded ({measured[name]})"
        assert shown_w > 100 and shown_h > 50, f"{name}: image not laid out ({measured[name]})"
    summary = json.loads((iris_run / "summary.json").read_text())
    assert f'<tr class="winner"><td>1</td><td>{summary["winner"]["name"]}</td>' in done.stdout  # winner marked
    assert done.stdout.count('<tr class="baseline">') + (summary["winner"]["kind"] == "baseline") == len(
        KINDS[DataKind.TABULAR].baselines)
    client = MlflowClient(summary["tracking_uri"])
    logged = {a.path for a in client.list_artifacts(summary["mlflow_run_id"], "report")}
    assert {f"report/{name}.png" for name in expected} <= logged  # the MLflow UI shows the same plots
    assert "report.html" in {a.path for a in client.list_artifacts(summary["mlflow_run_id"])}


def test_the_report_shows_the_winner_the_columns_per_class_scores_and_the_model_as_served(iris_run):
    summary = json.loads((iris_run / "summary.json").read_text())
    page = (iris_run / "report.html").read_text()
    heading = "members" if summary["winner"]["kind"] == "ensemble" else "hyperparameters"
    assert f"<h2>The winner's {heading}" in page
    assert all(f"<td>{html.escape(str(k))}</td>" in page for k in summary["winner"]["params"])
    assert "<td>sepal length (cm)</td><td>numeric</td><td>10</td>" in page  # taken as; missing values
    assert "<td>field_site</td><td>categorical</td>" in page
    assert "<h2>Per class, on the test split</h2>" in page and "<td>virginica</td>" in page
    model = summary["model"]
    assert model["size_mb"] > 0 and model["predict_seconds_per_1000"] > 0
    importance = model["feature_importance"]  # iris: the petals separate the species, the sepals barely
    assert len(importance) == 5 and importance[0]["feature"].startswith("petal")
    assert "Feature importance (permutation, test split)" in page


@pytest.mark.slow
def test_report_command_rewrites_the_report(iris_run):
    (iris_run / "report.html").unlink()
    shutil.rmtree(iris_run / "report")
    done = autosearch_here("report", iris_run)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (iris_run / "report.html").stat().st_size > 50_000 and len(list((iris_run / "report").glob("*.png"))) >= 8


def test_leaderboard_prints_a_table_and_json(iris_run):
    board = pd.read_csv(iris_run / "leaderboard.csv")
    text = autosearch_here("leaderboard", iris_run)
    assert text.returncode == 0, text.stderr
    assert all(name in text.stdout for name in board.name)
    as_json = autosearch_here("leaderboard", iris_run, "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)["leaderboard"]
    assert [r["name"] for r in rows] == list(board.name)
    scored = {r["name"] for r in rows if r["test_score"] is not None}  # the pick, best network, best baseline
    assert 1 <= len(scored) <= 3 and rows[0]["name"] in scored
    assert [r["rank"] for r in rows if r["state"] == "complete"] == list(range(1, 1 + sum(board.state == "complete")))
    assert all(isinstance(r["params"], dict) for r in rows)  # objects, not the CSV's JSON text
    assert any(r["params"].get("model") for r in rows if r["kind"] == "baseline")

    missing = autosearch_here("leaderboard", iris_run.parent)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and "--output folder" in missing.stderr


def test_a_candidate_cross_validated_on_fewer_folds_says_so_where_it_ranks_last(capsys):
    """A trial the budget cut short after 4 of 5 folds ranks after every fully scored one, even with a better
    score: the table says why, or its rank reads as a mistake."""
    from autosearch.progress import print_leaderboard

    rows = [("linear", "baseline", 33.26, 5), ("dense-000", "nn", 33.18, 5), ("tabm-002", "nn", 32.97, 4)]
    board = pd.DataFrame([{"rank": i, "name": n, "kind": k, "family": n.split("-")[0], "state": "complete",
                           "val_score": v, "folds": f, "test_score": None, "fit_seconds": 1.0, "epochs": None}
                          for i, (n, k, v, f) in enumerate(rows, start=1)])
    print_leaderboard(board, "rmse", "dense-000")
    lines = {name: line for line in capsys.readouterr().out.splitlines() for name, *_ in rows if name in line}
    assert "4 of 5 folds" in lines["tabm-002"]
    assert "folds" not in lines["linear"] and "folds" not in lines["dense-000"]


def test_trial_runs_are_named_after_their_family_and_key_params(iris_run):
    summary = json.loads((iris_run / "summary.json").read_text())
    client = MlflowClient(summary["tracking_uri"])
    children = client.search_runs([client.get_run(summary["mlflow_run_id"]).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'")
    trials = [r for r in children if r.data.tags["autosearch.kind"] == "trial"]
    assert len(trials) == 5
    for run in trials:
        params = run.data.params
        name = run.info.run_name
        assert name.startswith(("dense-", "tabm-")) and params["optimizer"] in name and params["activation"] in name
        assert f"lr={float(params['learning_rate']):.2g}" in name
        assert params["units_0"] in name if name.startswith("dense-") else f"{params['ensemble_size']} members" in name
    assert client.get_run(summary["mlflow_run_id"]).data.tags["mlflow.note.content"]  # the run's description


@pytest.mark.slow
def test_ui_serves_the_runs_over_http_and_stops_cleanly(iris_run):
    summary = json.loads((iris_run / "summary.json").read_text())
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "autosearch", "ui", str(iris_run), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline, found = time.monotonic() + 90, None
        while time.monotonic() < deadline and found is None:
            assert server.poll() is None, server.stderr.read()[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/get-by-name?experiment_name="
                                            f"{summary['mlflow_experiment']}", timeout=5) as answer:
                    experiment_id = json.load(answer)["experiment"]["experiment_id"]
                request = urllib.request.Request(
                    f"{url}/api/2.0/mlflow/runs/search", method="POST", headers={"Content-Type": "application/json"},
                    data=json.dumps({"experiment_ids": [experiment_id], "max_results": 1000}).encode())
                with urllib.request.urlopen(request, timeout=5) as answer:
                    found = json.load(answer)["runs"]
            except OSError:
                time.sleep(0.5)
        assert found is not None, "the MLflow UI did not answer within 90 s"
        run_ids = {r["info"]["run_id"] for r in found}
        board = pd.read_csv(iris_run / "leaderboard.csv")
        assert {summary["mlflow_run_id"], *board.mlflow_run_id} <= run_ids
        with urllib.request.urlopen(url, timeout=5) as answer:  # the dashboard page itself
            assert answer.status == 200 and b"<html" in answer.read(2000).lower()
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, server.stderr.read()[-2000:]
    assert f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs" in server.stderr.read()  # the runs table
    with socket.socket() as s:  # nothing left listening
        assert s.connect_ex(("127.0.0.1", port)) != 0
