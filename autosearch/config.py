"""The frozen settings of one `fit`, validated once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autosearch.errors import AutosearchError

TASK_CHOICES = ("auto", "binary", "multiclass", "multilabel", "regression")
KIND_CHOICES = ("auto", "tabular", "image", "sequence", "text")
ENGINE_CHOICES = ("optuna", "keras-tuner", "ray")
TUNER_CHOICES = ("hyperband", "bayesian", "random")
SCHEDULER_CHOICES = ("asha", "hyperband", "median", "fifo")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(text: str | float | int | None) -> float | None:
    """Seconds in a duration such as ``90s``, ``20m``, ``8h``, ``1h30m`` or a bare number of seconds.

    >>> parse_duration("1h30m")
    5400.0
    """
    if text is None or isinstance(text, (int, float)):
        seconds = None if text is None else float(text)
    else:
        s = text.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", s):
            seconds = float(s)
        elif s and _DURATION.sub("", s) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(s))
        else:
            raise AutosearchError(
                f"--time-budget '{text}' is not a duration; write it like 90s, 20m, 8h or 1h30m"
            )
    if seconds is not None and seconds <= 0:
        raise AutosearchError(f"--time-budget must be positive, got '{text}'; write it like 90s or 20m")
    return seconds


@dataclass(frozen=True)
class RunConfig:
    """Everything `fit` needs to know besides the data itself."""

    targets: tuple[str, ...] = ()
    test: Path | None = None
    task: str = "auto"
    kind: str = "auto"
    trials: int = 20
    time_budget: float | None = None
    spaces: tuple[Path, ...] = ()
    metric: str | None = None
    output: Path | None = None
    experiment: str | None = None
    tracking_uri: str | None = None
    seed: int = 0
    max_epochs: int | None = None
    storage: str | None = None  # Optuna storage URL shared by several processes (default: in the run folder)
    study: str | None = None  # the study's name in that storage (default: "autosearch")
    engine: str = "optuna"
    tuner: str | None = None  # keras-tuner's algorithm (default: hyperband)
    scheduler: str | None = None  # Ray Tune's trial scheduler (default: asha)
    ray_address: str | None = None  # an existing Ray cluster (default: a local one for the run)
    concurrency: int | None = None  # trials at once on Ray (default: one per GPU, else one per core)
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    mixed_precision: bool = False  # float16 compute, float32 weights and outputs (for GPUs)
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASK_CHOICES:
            raise AutosearchError(f"--task '{self.task}' is unknown; use one of {', '.join(TASK_CHOICES)}")
        if self.kind not in KIND_CHOICES:
            raise AutosearchError(f"--kind '{self.kind}' is unknown; use one of {', '.join(KIND_CHOICES)}")
        if self.trials < 1:
            raise AutosearchError(f"--trials must be at least 1, got {self.trials}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise AutosearchError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        if self.seed < 0:
            raise AutosearchError(f"--seed must be a non-negative integer, got {self.seed}")
        if self.engine not in ENGINE_CHOICES:
            raise AutosearchError(f"--engine '{self.engine}' is unknown; use one of {', '.join(ENGINE_CHOICES)}")
        if self.tuner is not None and self.engine != "keras-tuner":
            raise AutosearchError("--tuner chooses keras-tuner's algorithm; add --engine keras-tuner, or drop --tuner")
        if self.tuner is not None and self.tuner not in TUNER_CHOICES:
            raise AutosearchError(f"--tuner '{self.tuner}' is unknown; use one of {', '.join(TUNER_CHOICES)}")
        ray_only = {"--scheduler": self.scheduler, "--ray-address": self.ray_address, "--concurrency": self.concurrency,
                    "--cpus-per-trial": self.cpus_per_trial, "--gpus-per-trial": self.gpus_per_trial}
        given = [flag for flag, value in ray_only.items() if value is not None]
        if given and self.engine != "ray":
            raise AutosearchError(f"{given[0]} applies to Ray trials; add --engine ray, or drop {given[0]}")
        if self.scheduler is not None and self.scheduler not in SCHEDULER_CHOICES:
            raise AutosearchError(f"--scheduler '{self.scheduler}' is unknown; use one of "
                                  f"{', '.join(SCHEDULER_CHOICES)}")
        for flag, value in list(ray_only.items())[2:]:
            if value is not None and value <= 0:
                raise AutosearchError(f"{flag} must be positive, got {value}")
        if self.engine == "keras-tuner" and (self.storage or self.study):
            raise AutosearchError("--storage and --study share an Optuna study between processes; the keras-tuner "
                                  "engine searches in one process: drop them, or use --engine optuna")


def make_config(
    target: str | list[str] | tuple[str, ...] | None = None,
    time_budget: str | float | None = None,
    test: str | Path | None = None,
    space: str | Path | list | tuple | None = None,
    output: str | Path | None = None,
    **options,
) -> RunConfig:
    """Build a RunConfig from loosely typed arguments (CLI strings or Python values).

    `space` is one space file or several (the family is then searched among them).
    """
    targets = (target,) if isinstance(target, str) else tuple(target or ())
    spaces = (space,) if isinstance(space, (str, Path)) else tuple(space or ())
    return RunConfig(
        targets=targets,
        time_budget=parse_duration(time_budget),
        test=Path(test) if test else None,
        spaces=tuple(Path(p) for p in spaces),
        output=Path(output) if output else None,
        **options,
    )
