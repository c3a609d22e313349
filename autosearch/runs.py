"""A run folder (`--output`) as the record of one search, so that it can be resumed and shared.

    run.json     what was asked (the config), of which data (its SHA-256), where the run's database and
                 the MLflow parent run live, and the status
    study.db     the run's database (SQLite, unless --storage names another): the TrialStore's records of
                 every candidate, and the Optuna study of the engines that sample with Optuna
    .lock        held (flock) by the process that owns the folder — the *chief*, which fits the baselines
                 and writes the results; other processes on the same folder join the run as workers

Re-running the same command, or `autosearch resume DIR`, continues the run.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch import restart
from autosearch.config import RunConfig
from autosearch.engines import DEFAULT_ENGINE
from autosearch.errors import AutosearchError
from autosearch.files import write_atomic
from autosearch.processes import worker_id

RUN_FILE = "run.json"
STUDY_FILE = "study.db"
LOCK_FILE = ".lock"
# 4: piecewise embeddings in tabm's space, periodic ones on numeric columns only, spaces fingerprinted;
# 3: cross-validated candidates with stored out-of-fold predictions; 2: one holdout; 1: baselines
FORMAT = 4
#             kept here and trials in the engine's study
DEFAULT_STUDY = "autosearch"
# Settings a resumed run may change: how many trials in all, this sitting's budget, how chatty (and the
# engine's own `resumable` options: where and on what the trials run).
# A warm start acts when a run begins (its configurations are then kept in the run's database): a later sitting
# neither reads nor changes it.
RESUMABLE = frozenset({"trials", "time_budget", "quiet", "output", "register", "system_metrics", "warm_start"})


def resumable(config: RunConfig) -> frozenset[str]:
    return RESUMABLE | config.engine_options.resumable


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
    storage: str | None  # the run's database; None: study.db in the run folder, wherever the folder is
    study_name: str
    tracking_uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None
    status: str = "running"  # running | finished | cut_short | interrupted (a storage fault stopped it)
    format: int = FORMAT
    updated: str = ""
    spaces_sha256: str | None = None  # the search spaces it began with (`spaces_fingerprint`)
    folder: str | None = None  # where the run last sat (absolute): a copy elsewhere is told from a move
    trials_done: int | None = None  # trials in the run's database when its last sitting ended
    folds: int | None = None  # the folds that score its candidates (1: a holdout), kept by every later sitting

    def save(self, folder: Path) -> None:
        self.updated = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_atomic(folder / RUN_FILE, json.dumps(dataclasses.asdict(self), indent=2, default=str))

    def storage_url(self, folder: Path) -> str:
        return self.storage or default_storage(folder)

    def trial_store(self, folder: Path):
        """The run's TrialStore (its records of every candidate)."""
        from autosearch.trial_store import TrialStore

        return TrialStore(self.storage_url(folder), self.study_name)

    @classmethod
    def load(cls, folder: Path) -> RunState | None:
        path = folder / RUN_FILE
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            state = cls(**{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}})
        except (json.JSONDecodeError, TypeError) as e:
            raise AutosearchError(f"'{path}' is damaged ({e}); move the folder aside and start a new "
                                  "--output") from None
        return state

    def check_place(self, folder: Path) -> str | None:
        """Refuse a copy of a run folder, which would continue the original's MLflow parent run (and add its
        trials there); say so when the folder has moved (the caller records the new place). A copy is told
        from a move by the original: still there, holding the same run."""
        here = str(folder.resolve())
        if self.folder in (None, here):
            return None
        original = Path(self.folder)
        if original.exists() and os.path.samefile(original, folder):  # one folder by two paths (a mount, a case)
            return None
        try:
            other = RunState.load(original)
        except (AutosearchError, OSError):
            other = None
        if other is not None and other.parent_run_id == self.parent_run_id:
            raise AutosearchError(f"'{folder}' is a copy of the run in '{original}' (both continue one MLflow run); "
                                  f"resume '{original}', move the folder instead of copying it, or pass a new "
                                  "--output to search again")
        return f"the run moved here from {original}"

    def check_trials(self, found: int, folder: Path) -> None:
        """Refuse to resume a run whose database holds fewer trials than its last sitting left: its
        write-ahead log (study.db-wal) was lost, or an older copy replaced it; going on would run and log
        the lost trials again."""
        if self.trials_done is not None and found < self.trials_done:
            raise AutosearchError(f"the database of the run in '{folder}' holds {found} of the {self.trials_done} "
                                  "trials its last sitting left (study.db-wal lost, or an older study.db copied in); "
                                  "copy the run folder again with all its files, or pass a new --output to search "
                                  "again")

    def check_same_search(self, config: RunConfig, sha256: str, folder: Path, spaces_sha256: str) -> None:
        """Refuse to continue a run with a different search: only RESUMABLE settings may change, and the
        search spaces must be the ones it began with (Optuna refuses new choices for a parameter it has seen;
        a trial would be refitted with another network than the one scored)."""
        if self.format != FORMAT:  # its results, report and model stay readable
            raise AutosearchError(f"'{folder}' holds a run of an earlier autosearch (run format {self.format}, "
                                  f"this one continues format {FORMAT}); pass a new --output to search again")
        if self.spaces_sha256 not in (None, spaces_sha256):
            raise AutosearchError(f"the search spaces of the run in '{folder}' have changed since it began (a space "
                                  "file edited, or autosearch upgraded); pass a new --output to search again")
        if sha256 != self.data_sha256:
            raise AutosearchError(f"'{folder}' holds a run on other data (its SHA-256 differs); pass a new "
                                  "--output, or the same data to resume")
        defaults = RunConfig(engine=self.config.get("engine", DEFAULT_ENGINE)).as_dict()  # settings added since
        asked, before = config.as_dict(), {**defaults, **self.config}
        changed = sorted(k for k in asked if k not in resumable(config) and asked[k] != before.get(k))
        if changed:
            shown = ", ".join(f"{k} {before.get(k)!r} → {asked[k]!r}" for k in changed)
            raise AutosearchError(f"'{folder}' holds a run with other settings ({shown}); pass a new --output, "
                                  f"or `autosearch resume {folder}` to continue it as it was")


def spaces_fingerprint(spaces) -> str:
    """A digest of the search spaces (`spaces.SearchSpace`) as a run searches them."""
    # what is searched, not where the file lies (a run folder may move to another machine)
    text = json.dumps([{k: v for k, v in dataclasses.asdict(s).items() if k != "source"} for s in spaces],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def default_storage(folder: Path) -> str:
    return f"sqlite:///{(folder / STUDY_FILE).resolve()}"


class FolderLock:
    """An exclusive, non-blocking flock on the run folder, held while this process owns it."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE
        self._handle = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        inherited = restart.inherited_lock(self.path)
        if inherited is not None:  # held all along by the process this one replaced
            handle = os.fdopen(inherited, "a+")
        else:
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

    def hand_over(self):
        """The open file that holds the lock, for a fresh process to keep (`autosearch.restart`); None if not
        held. Closing it releases the lock."""
        handle, self._handle = self._handle, None
        return handle

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"
