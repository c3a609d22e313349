"""What a finished fit says about itself: `summary.json`, read back as a typed, frozen `RunSummary`.

`results.finish` writes it; the report, sweeps, `autosearch leaderboard --json`, the terminal and scripts
read it (docs/guide/output.md documents the keys).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from autosearch.errors import AutosearchError
from autosearch.files import write_atomic
from autosearch.records import TrialRecord

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Candidate:
    """A candidate in brief: the winner (with its parameters), the best network, the best baseline."""

    name: str
    kind: str
    family: str
    val_score: float | None
    params: Mapping[str, Any] = field(default_factory=dict)
    test_score: float | None = None  # the best network's and baseline's, scored once to compare with the pick

    @classmethod
    def of(cls, record: TrialRecord | None, with_params: bool = False,
           test_scores: Mapping[str, float] | None = None) -> Candidate | None:
        if record is None:
            return None
        return cls(record.name, record.kind, record.family, record.val_score,
                   dict(record.params) if with_params else {}, (test_scores or {}).get(record.name))


@dataclass(frozen=True)
class RunSummary:
    data: str
    target: str | list[str]
    target_reason: str
    task: str
    task_reason: str
    kind: str
    kind_reason: str
    metric: str
    metric_reason: str
    greater_is_better: bool
    class_ratio: float | None
    context: Mapping[str, Any]  # the data facts the spaces' `when:` conditions saw
    class_weight_searched: bool
    winner: Candidate
    test_score: float
    best_nn: Candidate | None
    best_baseline: Candidate | None
    trials: Mapping[str, int]  # network trials by state
    trial_fit_seconds: float
    profile: Mapping[str, Any]
    families: list[str]
    spaces: list[Mapping[str, Any]]
    rows: Mapping[str, int]  # train, validation, test
    mlflow_run_id: str
    mlflow_experiment: str
    tracking_uri: str
    output_dir: str
    bundle: str
    cut_short: str | None = None  # why the search ended early (a signal, the budget), if it did
    warnings: list[str] = field(default_factory=list)  # what the user must not miss (`results.cautions`)
    model: Mapping[str, Any] = field(default_factory=dict)  # the pick as served (`inspection.inspect_model`)
    mlflow_model: Mapping[str, Any] = field(default_factory=dict)  # its MLflow Model: uri, model_id, registered
    seconds: Mapping[str, float] = field(default_factory=dict)  # where the wall time went
    folds: int = 1  # cross-validation folds that scored the candidates (val_score is out-of-fold); 1: holdout
    plan: Mapping[str, Any] = field(default_factory=dict)  # the budget plan (budget.Plan): shares, each classical
                                                           # candidate's estimate, rows, outcome and why
    peak_rss_mb: Mapping[str, float] = field(default_factory=dict)  # this process's and its children's peaks
    set_aside: str | None = None  # why no network could be the pick (`ensemble.networks_set_aside`), if none could
    quantiles: Mapping[str, Any] = field(default_factory=dict)  # a forecast's levels, backtest windows, test scores

    @property
    def targets(self) -> list[str]:
        return self.target if isinstance(self.target, list) else [self.target]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, folder: Path) -> Path:
        return write_atomic(folder / SUMMARY_FILE, json.dumps(self.as_dict(), indent=2, default=str))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSummary:
        kinds = {"winner": None, "best_nn": "nn", "best_baseline": "baseline"}  # older summaries lack `kind`
        briefs = {k: Candidate(**{"kind": kind, **data[k]}) if data.get(k) else None for k, kind in kinds.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, **briefs})

    @classmethod
    def load(cls, folder: Path) -> RunSummary:
        """The summary of a finished run folder; a one-line error for a folder without one."""
        path = Path(folder) / SUMMARY_FILE
        if not path.exists():
            hint = ("it holds a run that has not written results yet: `autosearch resume` finishes it"
                    if (Path(folder) / "run.json").exists() else "pass the --output folder of a fit")
            raise AutosearchError(f"'{folder}' has no summary.json; {hint}")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise AutosearchError(f"'{path}' is damaged ({e}); `autosearch resume {folder}` writes it again") from None
