"""The frozen settings of one `fit`, validated once."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from autosearch.data.kinds import KIND_CHOICES
from autosearch.engines.base import DEFAULT_ENGINE, EngineOptions, engine_class, make_options, option_fields
from autosearch.errors import AutosearchError
from autosearch.quantiles import levels_of

TASK_CHOICES = ("auto", "binary", "multiclass", "multilabel", "regression", "forecast")
DEFAULT_TRIALS = 20
UNCAPPED = 10**9  # "no trial cap": the budget ends the search
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
    trials: int | None = None  # None: DEFAULT_TRIALS, or with a time budget as many as it allows
    time_budget: float | None = None
    spaces: tuple[Path, ...] = ()
    metric: str | None = None
    output: Path | None = None
    experiment: str | None = None
    tracking_uri: str | None = None
    seed: int = 0
    max_epochs: int | None = None
    cv_folds: int | None = None  # folds that score the candidates (default: by the data's size)
    holdout: bool = False  # score candidates on the validation split only, as without cross-validation
    time: str | None = None  # --time: the column that orders the rows in time (default: inferred; data/time_order)
    no_time: bool = False  # split at random even where a column orders the rows in time
    groups: str | None = None  # --groups: the column whose rows stay on one side of every split (not a feature)
    horizon: int | None = None  # --task forecast: steps ahead (given alone, it asks for a forecast)
    series: str | None = None  # --id: the column naming each row's series (a forecast of several)
    backtests: int | None = None  # a forecast's validation windows (default: data/forecast.DEFAULT_BACKTESTS)
    known: tuple[str, ...] = ()  # --known: a forecast's covariates known ahead (given for the steps it forecasts)
    quantiles: tuple[float, ...] = ()  # --quantiles: a forecast's quantile levels (as given: sorted floats here)
    storage: str | None = None  # the run's database, shared by several processes (default: in the run folder)
    study: str | None = None  # the search's name in that database (default: "autosearch")
    engine: str = DEFAULT_ENGINE
    engine_options: EngineOptions | None = None  # the engine's own settings (default: its defaults)
    mixed_precision: bool = False  # float16 compute, float32 weights and outputs (for GPUs)
    register: str | None = None  # register the pick in MLflow's model registry under this name
    baselines: tuple[str, ...] = ()  # the classical candidates to fit (default: the kind's); the dummy always is
    warm_start: str | None = None  # an earlier search whose best configurations run first (autosearch.warm_start)
    system_metrics: bool = False  # log CPU, memory and GPU use on each trial's MLflow run
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASK_CHOICES:
            raise AutosearchError(f"--task '{self.task}' is unknown; use one of {', '.join(TASK_CHOICES)}")
        if self.kind not in KIND_CHOICES:
            raise AutosearchError(f"--kind '{self.kind}' is unknown; use one of {', '.join(KIND_CHOICES)}")
        if self.trials is not None and self.trials < 1:
            raise AutosearchError(f"--trials must be at least 1, got {self.trials}")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise AutosearchError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        if self.cv_folds is not None and self.cv_folds < 2:
            raise AutosearchError(f"--cv-folds must be at least 2, got {self.cv_folds}; or pass --holdout")
        if self.cv_folds is not None and self.holdout:
            raise AutosearchError("--cv-folds and --holdout contradict each other; give one of them")
        if self.time is not None and self.no_time:
            raise AutosearchError("--time and --no-time contradict each other; give one of them")
        if self.groups is not None and self.time is not None:
            raise AutosearchError("--groups and --time split the rows two ways (by group, in time order); give one "
                                  "of them")
        object.__setattr__(self, "quantiles", levels_of(self.quantiles))  # "0.9,0.1" or [0.9, 0.1]: sorted
        if self.horizon is not None and self.task == "auto":
            object.__setattr__(self, "task", "forecast")
        if self.task == "forecast":
            self._check_forecast()
        elif self.horizon is not None:
            raise AutosearchError(f"--horizon asks for a forecast, not --task {self.task}; leave --task out or pass "
                                  "--task forecast")
        elif self.series is not None or self.backtests is not None or self.known or self.quantiles:
            flag = ("id" if self.series is not None else "backtests" if self.backtests is not None else
                    "known" if self.known else "quantiles")
            raise AutosearchError(f"--{flag} belongs to a forecast; pass --horizon H (steps ahead) with it")
        if self.register is not None and not self.register.strip():
            raise AutosearchError("--register needs a model name, e.g. --register penguins-species")
        if self.warm_start is not None and not self.warm_start.strip():
            raise AutosearchError("--warm-start needs an earlier search: its run folder, an MLflow experiment name, "
                                  "or models:/NAME")
        if self.seed < 0:
            raise AutosearchError(f"--seed must be a non-negative integer, got {self.seed}")
        engine = engine_class(self.engine)
        if self.engine_options is None:
            object.__setattr__(self, "engine_options", engine.Options())
        elif type(self.engine_options) is not engine.Options:
            raise AutosearchError(f"the options given are not the {self.engine} engine's; pass them as flags")

    def _check_forecast(self) -> None:
        if self.horizon is None:
            raise AutosearchError("--task forecast needs --horizon H: how many steps ahead to forecast")
        if self.horizon < 1:
            raise AutosearchError(f"--horizon must be at least 1, got {self.horizon}")
        if self.backtests is not None and self.backtests < 1:
            raise AutosearchError(f"--backtests must be at least 1, got {self.backtests}")
        if self.cv_folds is not None:
            raise AutosearchError("a forecast is validated by backtests, not folds; pass --backtests K instead of "
                                  "--cv-folds")
        if self.test is not None:
            raise AutosearchError("a forecast is tested on the last --horizon steps of each series; leave --test "
                                  "out (give the whole history)")
        if self.no_time or self.kind != "auto" or self.groups is not None:
            flag = "no-time" if self.no_time else "kind" if self.kind != "auto" else "groups"
            raise AutosearchError(f"--{flag} does not apply to a forecast (its series, --id, are split in time); "
                                  "leave it out")

    @property
    def capped(self) -> bool:
        """Whether a trial count ends the search: --trials, or the default one when there is no budget."""
        return self.trials is not None or self.time_budget is None

    @property
    def trial_cap(self) -> int:
        return self.trials if self.trials is not None else DEFAULT_TRIALS if self.capped else UNCAPPED

    def as_dict(self) -> dict:
        """Flat and JSON-ready, as run.json keeps it: the engine's options beside the run's settings."""
        data = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "engine_options"}
        data = {k: ([str(p) for p in v] if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
                for k, v in data.items()}
        return {**data, **self.engine_options.as_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        """The inverse of `as_dict`."""
        own = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "engine_options"}
        own.update(test=Path(own["test"]) if own.get("test") else None,
                   output=Path(own["output"]) if own.get("output") else None,
                   targets=tuple(own.get("targets", ())), spaces=tuple(Path(p) for p in own.get("spaces", ())),
                   baselines=tuple(own.get("baselines", ())), known=tuple(own.get("known", ())))
        options = engine_class(own.get("engine", DEFAULT_ENGINE)).Options
        mine = {f.name: data[f.name] for f in dataclasses.fields(options) if data.get(f.name) is not None}
        return cls(**own, engine_options=options(**mine))


def make_config(
    target: str | list[str] | tuple[str, ...] | None = None,
    time_budget: str | float | None = None,
    test: str | Path | None = None,
    space: str | Path | list | tuple | None = None,
    output: str | Path | None = None,
    baselines: str | list | tuple | None = None,
    known: str | list | tuple | None = None,
    **options,
) -> RunConfig:
    """Build a RunConfig from loosely typed arguments (CLI strings or Python values).

    `space` is one space file or several (the family is then searched among them); `baselines` names the
    classical candidates, as a list or comma-separated ("linear,svm"), `known` a forecast's covariates known
    ahead and `quantiles` a forecast's quantile levels ("0.1,0.5,0.9") the same way (RunConfig sorts them).
    Engine options (such as
    ``scheduler`` for Ray) are given by name beside the others; an option of another engine is refused.
    """
    targets = (target,) if isinstance(target, str) else tuple(target or ())
    spaces = (space,) if isinstance(space, (str, Path)) else tuple(space or ())
    chosen, known = _names(baselines), _names(known)
    engine_flags = {k: options.pop(k) for k in list(options) if k in option_fields()}
    unknown = sorted(set(options) - set(RunConfig.__dataclass_fields__) - {"engine_options"})
    if unknown:
        raise AutosearchError(f"'{unknown[0]}' is not an option of fit; see `autosearch fit --help`")
    warm = options.get("warm_start")
    if isinstance(warm, bool):
        raise AutosearchError("warm_start names an earlier search (its run folder, an MLflow experiment or "
                              "models:/NAME), not True or False")
    if warm is not None:  # a run folder as a path: found again from wherever the run resumes
        folder = Path(str(warm)).expanduser()
        options["warm_start"] = str(folder.resolve()) if folder.is_dir() else str(warm)
    return RunConfig(
        targets=targets,
        time_budget=parse_duration(time_budget),
        test=Path(test) if test else None,
        spaces=tuple(Path(p) for p in spaces),
        output=Path(output) if output else None,
        baselines=chosen,
        known=known,
        engine_options=make_options(options.get("engine", DEFAULT_ENGINE), engine_flags),
        **options,
    )


def _names(names: str | list | tuple | None) -> tuple[str, ...]:
    """Names given as a list or comma-separated, once each, in order.

    >>> _names("linear, svm,linear"), _names(None)
    (('linear', 'svm'), ())
    """
    if isinstance(names, str):
        names = names.split(",")
    return tuple(dict.fromkeys(str(n).strip() for n in names or () if str(n).strip()))
