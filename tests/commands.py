"""`autosearch ARGS` in the test process (Typer's CliRunner), for tests of what a command prints and returns:
a fresh `python -m autosearch` spends ~8 s of CPU importing TensorFlow and MLflow first, and the suite ran
dozens. What only a real process shows (signals, kills, restarts, rlimits, start-up inside a budget, the
console script itself) is still tested with real processes."""

from __future__ import annotations

import subprocess
import traceback

from typer.testing import CliRunner

from autosearch.cli import app


def autosearch_here(*args) -> subprocess.CompletedProcess:
    """As `subprocess.run([python, -m, autosearch, *args], capture_output=True, text=True)` would answer; an
    exception that escaped the command (a traceback in a real process) is appended to its stderr."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "Traceback (in process):\n" + "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, stderr)
