"""`autosearch ui`: MLflow's dashboard on the store a run used, bound to 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from autosearch.errors import AutosearchError
from autosearch.redact import redact


def store_of(folder: Path | None) -> tuple[str, str | None]:
    """The tracking URI (and experiment) of a run folder, else of this environment (MLFLOW_TRACKING_URI or
    the local default store in the current folder)."""
    if folder is not None:
        for name in ("run.json", "summary.json"):  # run.json keeps the URI with its credentials
            path = folder / name
            if path.exists():
                data = json.loads(path.read_text())
                if data.get("tracking_uri"):
                    return data["tracking_uri"], data.get("mlflow_experiment") or data.get("experiment")
        raise AutosearchError(f"'{folder}' is not a run folder (no run.json); pass the --output folder of a fit")
    import mlflow

    return mlflow.get_tracking_uri(), None


def command(uri: str, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]


def runs_page(base: str, uri: str, experiment: str | None) -> str:
    """Where a browser shows the runs: the experiment's runs table when the store has it, else `base`."""
    from autosearch.tracking import check_reachable, experiment_id, experiment_runs_url

    try:
        check_reachable(uri)  # a server that does not answer: MLflow would retry for minutes
    except AutosearchError:
        return base
    found = experiment_id(uri, experiment)
    return experiment_runs_url(base, found) if found else base


def serve(uri: str, host: str, port: int, announce, experiment: str | None = None) -> int:
    """Run the MLflow UI in the foreground until Ctrl-C or SIGTERM; returns its exit code. It announces the
    experiment's runs table when given one."""
    if uri.startswith(("http://", "https://")):
        announce(f"the runs are on a tracking server: open {redact(runs_page(uri, uri, experiment))}")
        return 0
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            raise AutosearchError(f"cannot serve on {host}:{port} ({e.strerror}); pass another --port") from None
    server = subprocess.Popen(command(uri, host, port))
    announce(f"MLflow UI on {redact(uri)}: {runs_page(f'http://{host}:{port}', uri, experiment)} (Ctrl-C stops it)")

    asked = []

    def stop(number, frame):
        asked.append(number)
        server.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = server.wait()
        return 0 if asked else code  # stopped as asked: a clean exit whatever the server's own code
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
