"""A run folder (`--output`) as the record of one search, so that it can be resumed and shared.

    run.json     what was asked (the config), of which data (its SHA-256), where the Optuna study and
                 the MLflow parent run live, the fitted baselines, and the status
    study.db     the Optuna study (SQLite, unless --storage names another database)
    .lock        held (flock) by the process that owns the folder — the *chief*, which fits the baselines
                 and writes the results; other processes on the same folder join the study as workers

Re-running the same command, or `autosearch resume DIR`, continues the run.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch.config import RunConfig
from autosearch.errors import AutosearchError

RUN_FILE = "run.json"
STUDY_FILE = "study.db"
LOCK_FILE = ".lock"
FORMAT = 1
# Settings a resumed run may change: how many trials in all, this sitting's budget, how chatty.
# Where and on what the trials run: a resumed run may move to other machines or another cluster
RESOURCES = ("ray_address", "concurrency", "cpus_per_trial", "gpus_per_trial")
RESUMABLE = {"trials", "time_budget", "quiet", "output", *RESOURCES}


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    return {k: ([str(p) for p in v] if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
            for k, v in data.items()}


def config_from_dict(data: dict[str, Any]) -> RunConfig:
    paths = {"test": Path, "output": Path}
    values = {k: (paths[k](v) if k in paths and v is not None else v) for k, v in data.items()}
    values["targets"] = tuple(values.get("targets", ()))
    values["spaces"] = tuple(Path(p) for p in values.get("spaces", ()))
    return RunConfig(**values)


def fingerprint(data: str | Path | pd.DataFrame) -> str:
    """SHA-256 of the data: a file's bytes, a folder's files (names and bytes), or a DataFrame's values."""
    digest = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        digest.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
        digest.update(",".join(map(str, data.columns)).encode())
        return digest.hexdigest()
    path = Path(data)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass
class RunState:
    """The content of run.json."""

    config: dict[str, Any]
    data: str | None  # the data's path (None for a DataFrame)
    data_sha256: str
    storage: str
    study_name: str
    tracking_uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None
    baselines: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"  # running | finished | cut_short
    format: int = FORMAT
    updated: str = ""

    def save(self, folder: Path) -> None:
        self.updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        partial = folder / (RUN_FILE + ".partial")
        partial.write_text(json.dumps(dataclasses.asdict(self), indent=2, default=str))
        os.replace(partial, folder / RUN_FILE)

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        path = folder / RUN_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(**{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}})
        except (json.JSONDecodeError, TypeError) as e:
            raise AutosearchError(f"'{path}' is damaged ({e}); move the folder aside and start a new "
                                  "--output") from None

    def check_same_search(self, config: RunConfig, sha256: str, folder: Path) -> None:
        """Refuse to continue a run with a different search: only RESUMABLE settings may change."""
        if sha256 != self.data_sha256:
            raise AutosearchError(f"'{folder}' holds a run on other data (its SHA-256 differs); pass a new "
                                  "--output, or the same data to resume")
        asked, before = config_to_dict(config), {**config_to_dict(RunConfig()), **self.config}  # older runs: defaults
        changed = sorted(k for k in asked if k not in RESUMABLE and asked[k] != before.get(k))
        if changed:
            shown = ", ".join(f"{k} {before.get(k)!r} → {asked[k]!r}" for k in changed)
            raise AutosearchError(f"'{folder}' holds a run with other settings ({shown}); pass a new --output, "
                                  f"or `autosearch resume {folder}` to continue it as it was")


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / STUDY_FILE).resolve()}"


class FolderLock:
    """An exclusive, non-blocking flock on the run folder, held while this process owns it."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE
        self._handle = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{worker_id()}\n")
        handle.flush()
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid); None where /proc is absent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_id(pid: int | None = None) -> str:
    """host:pid:start — identifies a process across the machines that share a study."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def is_dead_here(worker: str) -> bool:
    """Whether `worker` ran on this machine and is gone. False for other machines (their heartbeat decides)."""
    try:
        host, pid, started = worker.rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return bool(started) and _start_time(int(pid)) != started
