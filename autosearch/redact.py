"""Credentials out of what is printed or logged: `scheme://user:password@host` becomes `scheme://user:***@host`.

Tracking and storage URIs may carry a password (`http://user:pw@host`, `postgresql://user:pw@host/db`);
the run keeps the real one in `run.json` to reconnect, and every message, report, summary and MLflow tag
shows it redacted. (MLflow's own MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD keep it out of URIs
altogether.)
"""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^@/\s]+)@")


def redact(text: str | None) -> str | None:
    """
    >>> redact("http://ann:s3cret@mlflow.example:5000")
    'http://ann:***@mlflow.example:5000'
    >>> redact("autosearch fit d.csv --storage postgresql://bob:p%40ss@db/runs --seed 1")
    'autosearch fit d.csv --storage postgresql://bob:***@db/runs --seed 1'
    >>> redact("sqlite:////tmp/run/study.db")
    'sqlite:////tmp/run/study.db'
    """
    if text is None:
        return None
    return _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
