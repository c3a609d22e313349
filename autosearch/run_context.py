"""What the steps at the end of a run take, as one typed record instead of a dozen parameters each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from autosearch.config import RunConfig
from autosearch.prepare import Prepared
from autosearch.progress import Progress
from autosearch.stopping import Stop
from autosearch.trial_store import TrialStore

if TYPE_CHECKING:  # tracking imports MLflow, which only a run's own steps need
    from autosearch.tracking import Tracker


@dataclass(frozen=True, eq=False)
class RunContext:
    """A run as its steps see it: what was asked (`config`), the data ready to train on (`prep`), the MLflow
    parent run (`tracker`), what the user is told (`progress`), when to stop (`stop`), the run's database of
    candidates (`store`), when the command began (`started`, `time.monotonic()`) and the data file's digest."""

    config: RunConfig
    prep: Prepared
    tracker: Tracker
    progress: Progress
    stop: Stop
    store: TrialStore
    started: float
    data_sha256: str = ""
