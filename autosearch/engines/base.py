"""The engine contract: what a search engine does, and the registry engines put themselves in.

An engine only *proposes* parameters and maps its own trial states. Everything else about a trial —
its name, its training, a cut-short or failed outcome, its MLflow run, its stored record — is the
`TrialRunner`'s (trial_runner.py), the same for every engine. The contract is small, in the way
Optuna's `BaseSampler` is small:

    open()                        open the engine's own state for the run, new or resumed
    search(runner, trials, stop, lead)  propose trials and hand each to the runner, until the run's store
                                  holds `trials` network trials or `stop` says so
    recover(runner)               optional: trials whose process died, told to the runner
    in_flight()                   optional: MLflow run ids of trials running now in other processes

Each engine has its own frozen options object (a dataclass of `option(...)` fields, one CLI flag each),
declares what it can do (`shares_search`, `prunes`) and registers itself with `@register`. Engine modules
import their heavy libraries inside methods, so the registry is cheap to read (`autosearch --help`).
`tests/test_engine_contract.py` is the suite a new engine must pass.
"""

from __future__ import annotations

import dataclasses
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from autosearch.errors import AutosearchError

if typing.TYPE_CHECKING:
    from autosearch.problem import Folds, Problem
    from autosearch.records import WarmConfig
    from autosearch.spaces import SearchSpace
    from autosearch.stopping import Stop
    from autosearch.trial_runner import TrialRunner


def option(default: Any = None, help: str = "", choices: tuple = (), positive: bool = False) -> Any:
    """A field of an engine's options: a CLI flag `--<name-with-dashes>` whose help and checks are these."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "positive": positive})


@dataclass(frozen=True)
class EngineOptions:
    """An engine's own settings. Subclasses add `option(...)` fields; None means "the engine's default"."""

    resumable: ClassVar[frozenset[str]] = frozenset()  # options a resumed run may change (where trials run)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, flag = getattr(self, f.name), flag_of(f.name)
            if value is None:
                continue
            if f.metadata.get("choices") and value not in f.metadata["choices"]:
                raise AutosearchError(f"{flag} '{value}' is unknown; use one of {', '.join(f.metadata['choices'])}")
            if f.metadata.get("positive") and value <= 0:
                raise AutosearchError(f"{flag} must be positive, got {value}")

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True, eq=False)
class SearchSetup:
    """What an engine searches: the run folder, the run's database and study name, the spaces and data."""

    folder: Path
    storage: str  # the run's database URL (the TrialStore and, for Optuna-based engines, the study)
    study_name: str
    spaces: tuple[SearchSpace, ...]
    folds: Folds  # the samples candidates train and are scored on (folds.first: task, metric, data facts)
    seed: int  # this process's sampling seed (workers sample with their own)
    warm: tuple[WarmConfig, ...] = ()  # configurations to run first, before the spaces' defaults (--warm-start)
    portfolio: tuple[WarmConfig, ...] = ()  # configurations to run after the defaults (autosearch.portfolio)

    @property
    def problem(self) -> Problem:
        return self.folds.first


class SearchEngine(ABC):
    """Proposes trials; the `TrialRunner` runs them."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""  # what it is, in a few words (`autosearch fit --help`)
    Options: ClassVar[type[EngineOptions]] = EngineOptions
    shares_search: ClassVar[bool] = False  # several processes can run the trials of one search
    prunes: ClassVar[bool] = False  # stops unpromising trials on their per-epoch score
    wind_down_seconds: ClassVar[float] = 0.0  # from a stop request to its `search` returning, beyond a batch

    def __init__(self, options: EngineOptions, setup: SearchSetup):
        self.options, self.setup = options, setup

    def describe(self) -> str:
        """How it searches, in a few words, for the line that starts the search."""
        return self.name

    def params(self) -> dict[str, Any]:
        """Its settings as MLflow parameters of the run (beside `engine`)."""
        return {}

    @abstractmethod
    def open(self) -> None:
        """Open the engine's state for the run: new, or as an earlier sitting or another process left it."""

    @abstractmethod
    def search(self, runner: TrialRunner, trials: int, stop: Stop, lead: bool) -> None:
        """Propose trials and run each with `runner.run` (or `start`/`finish` when they train elsewhere) until
        the run's store holds `trials` network trials or `stop.requested`. `lead`: this process owns the run
        and waits for other processes' trials to end."""

    def recover(self, runner: TrialRunner) -> None:
        """Trials an earlier process left running when it died: mark them and tell `runner.lost`."""

    def in_flight(self) -> set[str]:
        """MLflow run ids of trials other processes are running now (their runs are not orphans)."""
        return set()


ENGINES: dict[str, type[SearchEngine]] = {}
DEFAULT_ENGINE = "optuna"


def register(engine: type[SearchEngine]) -> type[SearchEngine]:
    """Class decorator: make `engine` available as `--engine <engine.name>`."""
    ENGINES[engine.name] = engine
    return engine


def engine_class(name: str) -> type[SearchEngine]:
    if name not in ENGINES:
        raise AutosearchError(f"--engine '{name}' is unknown; use one of {', '.join(ENGINES)}")
    return ENGINES[name]


def option_fields() -> dict[str, tuple[type[SearchEngine], dataclasses.Field]]:
    """Every engine option by name: the engine that owns it and its field (CLI flags and sweep keys)."""
    return {f.name: (engine, f) for engine in ENGINES.values() for f in dataclasses.fields(engine.Options)}


def make_options(engine: str, given: dict[str, Any]) -> EngineOptions:
    """The options of `engine` from flags, refusing another engine's flags with the engine to add."""
    owners = option_fields()
    chosen = engine_class(engine)
    for name, value in given.items():
        if value is None:
            continue
        if name not in owners:
            raise AutosearchError(f"{flag_of(name)} is not an option of any engine")
        owner = owners[name][0]
        if owner is not chosen:
            raise AutosearchError(f"{flag_of(name)} is an option of the {owner.name} engine; add --engine "
                                  f"{owner.name}, or drop {flag_of(name)}")
    mine = {f.name for f in dataclasses.fields(chosen.Options)}
    return chosen.Options(**{k: v for k, v in given.items() if k in mine and v is not None})
