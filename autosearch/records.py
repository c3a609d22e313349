"""The immutable records that cross module borders."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import Enum, StrEnum
from typing import Any, Mapping


class CandidateKind(StrEnum):
    """What a candidate is: a searched network, a classical baseline, or the ensemble of others (its value is
    what files and MLflow say: `nn`, `baseline`, `ensemble`)."""

    NETWORK = "nn"
    BASELINE = "baseline"
    ENSEMBLE = "ensemble"


class State(str, Enum):
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


@dataclass(frozen=True)
class TrialRecord:
    """One candidate's outcome: a searched network, a classical baseline or the ensemble (`kind`)."""

    name: str
    kind: CandidateKind  # given as its text too ("nn"), as a stored record is read back
    family: str
    params: Mapping[str, Any]
    state: State
    val_score: float | None
    fit_seconds: float
    epochs: int = 0
    best_epoch: int | None = None  # 0-based epoch whose weights were kept
    error: str | None = None
    curves: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # per epoch
    number: int | None = None
    mlflow_run_id: str | None = None
    note: str | None = None  # e.g. "cut short: time budget reached"
    device: str | None = None  # what a network trained on, e.g. "cpu", "gpu:NVIDIA H100" (and where, on Ray)
    worker: str | None = None  # the process that trained it (host:pid:start), when several share a search
    folds: int = 1  # how many folds its val_score covers (1: the first fold, or the holdout)
    first_fold_score: float | None = None  # a network's score on its first fold (what racing compares)
    warm_start: str | None = None  # the earlier trial it repeats (`--warm-start`), e.g. "runs/a: dense-0007"
    repeats: int = 1  # the fold splits its out-of-fold predictions and fold models average (`bagging.py`)
    kept_seconds: float | None = None  # serving a network from its kept fold models, as its trial measured it

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CandidateKind(self.kind))

    @property
    def bagged(self) -> bool:
        """Whether its final model is its fold models averaged (a network scored on 2 or more folds) rather
        than one model refitted on all samples."""
        return self.kind is CandidateKind.NETWORK and self.folds >= 2 and self.best_epoch is not None

    @property
    def refit_seconds(self) -> float:
        """What refitting this candidate would take: its fold models for a bagged network, else one fold's
        training time (a network's up to its best epoch)."""
        return self.one_fit_seconds * (self.folds * self.repeats if self.bagged else 1)

    @property
    def one_fit_seconds(self) -> float:
        """One fold's training time, a network's for `best_epoch + 1` epochs (its first fold trained `epochs`
        epochs and each later fold `best_epoch + 1`): what one refit on all samples takes."""
        folds = max(self.folds, 1)
        if self.kind is CandidateKind.NETWORK and self.epochs and self.best_epoch is not None:
            refit_epochs = self.best_epoch + 1
            later = (folds - 1 + (self.repeats - 1) * folds) * refit_epochs  # every fold after the first's
            return self.fit_seconds * refit_epochs / (self.epochs + later)
        return self.fit_seconds / folds

    def with_run(self, run_id: str) -> TrialRecord:
        return replace(self, mlflow_run_id=run_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the curves (MLflow keeps those)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "curves"}
        return {**data, "state": self.state.value, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialRecord:
        return cls(**{**data, "state": State(data["state"])})


PORTFOLIO_MARK = "portfolio #"  # a WarmConfig's source where the portfolio chose it: "portfolio #3"
STACK_FAMILY = "stack"  # the stacker's family and name (stacking.py): here, so that readers need not import it


@dataclass(frozen=True)
class WarmConfig:
    """A configuration a search runs first (`--warm-start`, `autosearch.warm_start`): plain-named parameters, as
    the model builders take them."""

    family: str
    params: Mapping[str, Any]
    source: str  # where it came from, e.g. "runs/a: dense-0007"

    def matches(self, family: str, params: Mapping[str, Any]) -> bool:
        return family == self.family and dict(params) == dict(self.params)
