"""Search-space files: a YAML map of parameter specs, read once into typed records.

A space file looks like::

    family: dense                 # the model builder it feeds
    training: {max_epochs: 60, patience: 8}   # and min_steps, epoch_steps: see SearchSpace
    params:
      layers: {type: int, low: 1, high: 4, default: 2}
      units: {type: int, low: 16, high: 512, log: true, per_layer: layers}
      optimizer: {type: categorical, choices: [adam, rmsprop, sgd]}
      momentum: {type: float, low: 0.0, high: 0.99, when: {optimizer: sgd}}
      batch_size: 64              # a plain value is fixed, not searched

- ``type``: ``int``, ``float`` or ``categorical``; ``low``/``high`` (inclusive), ``log``, ``step``; ``choices``.
- ``default``: the value of the first trial, so a tiny budget still tries a sensible model
  (absent: the middle of the range, or the first choice).
- ``when``: the parameter exists only if each named earlier parameter (or data fact: ``task``,
  ``imbalanced``, ``high_cardinality``: a table with a categorical column of more than 20 values,
  ``numeric_columns``: a table with numeric columns) has the given value or one of the listed values.
- ``per_layer: layers``: one value per layer, named ``units_0``, ``units_1``, … up to the sampled ``layers``.

The walk over a space is define-by-run, so it maps straight onto Optuna's ``trial.suggest_*``; the same
specs become keras-tuner ``HyperParameters`` (conditions as conditional scopes) for the keras-tuner engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from autosearch.data.kinds import KINDS, DataKind
from autosearch.errors import AutosearchError
from autosearch.models import FAMILIES, FAMILY_PARAMS
from autosearch.yamlfile import read_yaml

PARAM_TYPES = ("int", "float", "categorical")
SPEC_KEYS = {"type", "low", "high", "log", "step", "choices", "default", "when", "per_layer"}
CONTEXT_FACTS = ("task", "imbalanced", "high_cardinality", "numeric_columns")
TRAINING_KEYS = {"max_epochs": 60, "patience": 8, "min_steps": 0, "epoch_steps": 0}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # one of PARAM_TYPES, or "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()
    default: Any = None
    when: tuple[tuple[str, tuple], ...] = ()
    per_layer: str | None = None

    def start(self) -> Any:
        """The value of the first trial."""
        if self.default is not None or self.type == "fixed":
            return self.default
        if self.type == "categorical":
            return self.choices[0]
        mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return int(round(mid)) if self.type == "int" else mid


@dataclass(frozen=True)
class SearchSpace:
    family: str
    params: tuple[ParamSpec, ...]
    max_epochs: int = TRAINING_KEYS["max_epochs"]
    patience: int = TRAINING_KEYS["patience"]
    source: str = field(default="", compare=False)
    min_steps: int = TRAINING_KEYS["min_steps"]
    epoch_steps: int = TRAINING_KEYS["epoch_steps"]  # 0: no limit

    def as_dict(self) -> dict:
        return {"family": self.family, "max_epochs": self.max_epochs, "patience": self.patience,
                "min_steps": self.min_steps, "epoch_steps": self.epoch_steps, "params": [p.name for p in self.params],
                "source": self.source}

    def batch_size(self, params: Mapping[str, Any], rows: int) -> int:
        """The batch a trial trains on: its `batch_size`, grown where needed so that an epoch of `rows` takes at
        most `epoch_steps` optimizer steps. On a large table a small batch makes each epoch thousands of steps
        whose fixed cost dominates (dense, 80,000 rows, batch 32: 3.5 s an epoch on 2 CPU cores); TabM and
        RealMLP train large tables on batches of 512-1024. The growth is by rows, not by powers of two, so a
        refit on train+validation (~25 % more rows than a fold) takes as many steps an epoch as its trial did.

        >>> space = SearchSpace("dense", (), epoch_steps=100)
        >>> space.batch_size({"batch_size": 32}, 800), space.batch_size({"batch_size": 32}, 80_000)
        (32, 800)
        >>> SearchSpace("dense", ()).batch_size({"batch_size": 32}, 80_000)
        32
        """
        size = int(params.get("batch_size", 32))
        return max(size, math.ceil(rows / self.epoch_steps)) if self.epoch_steps else size

    def warmup_epochs(self, batches_per_epoch: int) -> int:
        """Epochs before early stopping or pruning may end a trial: enough for `min_steps` optimizer steps,
        at most half the epoch cap. On a few dozen samples an epoch is 2-4 steps, and a network can need
        ~100 steps before its validation score means anything (FCN on GunPoint: 0.52 after 40 steps, 0.99
        after 100).

        >>> SearchSpace("fcn", (), max_epochs=80, min_steps=100).warmup_epochs(3)
        34
        >>> SearchSpace("fcn", (), max_epochs=80, min_steps=100).warmup_epochs(500)
        1
        >>> SearchSpace("dense", ()).warmup_epochs(3)
        0
        """
        return min(math.ceil(self.min_steps / max(batches_per_epoch, 1)), self.max_epochs // 2)


def default_space_path(family: str = "dense") -> Path:
    return Path(str(resources.files("autosearch.search_spaces") / f"{family}.yaml"))


def load_space(path: str | Path | None = None, family: str = "dense") -> SearchSpace:
    """Read a space file (the packaged default for `family` when `path` is None)."""
    path = Path(path) if path else default_space_path(family)
    return parse_space(read_yaml(path, "space file"), source=str(path.resolve()))


def parse_space(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate a parsed space file and turn it into typed specs."""
    def fail(problem: str) -> AutosearchError:
        return AutosearchError(f"space file '{source}': {problem}")

    if not isinstance(data, Mapping) or not isinstance(data.get("params"), Mapping) or not data["params"]:
        raise fail("needs a 'params:' map of parameter specs (see search_spaces/dense.yaml)")
    family = data.get("family", "dense")
    if family not in FAMILY_PARAMS:
        raise fail(f"family '{family}' is unknown; use one of {', '.join(FAMILY_PARAMS)}")
    training = dict(TRAINING_KEYS, **(data.get("training") or {}))
    if set(training) - set(TRAINING_KEYS) or not all(
            type(v) is int and v >= (key not in ("min_steps", "epoch_steps")) for key, v in training.items()):
        raise fail("'training:' takes positive integers for max_epochs and patience, and non-negative ones for "
                   "min_steps and epoch_steps")
    specs: list[ParamSpec] = []
    for name, raw in data["params"].items():
        known = FAMILY_PARAMS[family]
        if name not in known:
            raise fail(f"parameter '{name}' is not one the {family} family uses; known: {', '.join(sorted(known))}")
        specs.append(_parse_param(str(name), raw, specs, fail))
    return SearchSpace(family, tuple(specs), training["max_epochs"], training["patience"], source,
                       training["min_steps"], training["epoch_steps"])


def _parse_param(name: str, raw: Any, earlier: list[ParamSpec], fail) -> ParamSpec:
    if not isinstance(raw, Mapping):
        return ParamSpec(name, "fixed", default=raw)
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise fail(f"parameter '{name}' has unknown key '{sorted(unknown)[0]}'; "
                   f"keys are {', '.join(sorted(SPEC_KEYS))}")
    kind = raw.get("type")
    if kind not in PARAM_TYPES:
        raise fail(f"parameter '{name}' has unknown type '{kind}'; use one of {', '.join(PARAM_TYPES)}")
    spec = ParamSpec(
        name, kind, low=raw.get("low"), high=raw.get("high"), log=bool(raw.get("log", False)),
        step=raw.get("step"), choices=tuple(raw.get("choices") or ()), default=raw.get("default"),
        when=_parse_when(name, raw.get("when"), earlier, fail), per_layer=raw.get("per_layer"),
    )
    _check_spec(spec, earlier, fail)
    return spec


def _parse_when(name: str, raw: Any, earlier: list[ParamSpec], fail) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise fail(f"parameter '{name}': 'when' must map parameter names to values")
    names = {p.name for p in earlier}
    for key in raw:
        if key not in names and key not in CONTEXT_FACTS:
            raise fail(f"parameter '{name}': 'when' names '{key}', which is neither an earlier parameter "
                       f"nor a data fact ({', '.join(CONTEXT_FACTS)})")
    return tuple((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in raw.items())


def _check_spec(spec: ParamSpec, earlier: list[ParamSpec], fail) -> None:
    if spec.type == "categorical":
        if not spec.choices:
            raise fail(f"parameter '{spec.name}' needs a non-empty 'choices' list")
        if spec.default is not None and spec.default not in spec.choices:
            raise fail(f"parameter '{spec.name}': default {spec.default!r} is not among its choices")
    else:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (spec.low, spec.high)):
            raise fail(f"parameter '{spec.name}' needs numeric 'low' and 'high'")
        if spec.type == "int" and not all(float(v).is_integer() for v in (spec.low, spec.high)):
            raise fail(f"parameter '{spec.name}' is an int; give integer 'low' and 'high'")
        if spec.low > spec.high:
            raise fail(f"parameter '{spec.name}': low {spec.low} is above high {spec.high}")
        if spec.log and spec.low <= 0:
            raise fail(f"parameter '{spec.name}': a log scale needs low > 0")
        if spec.default is not None and not spec.low <= spec.default <= spec.high:
            raise fail(f"parameter '{spec.name}': default {spec.default} is outside [{spec.low}, {spec.high}]")
    if spec.per_layer is not None:
        counter = next((p for p in earlier if p.name == spec.per_layer), None)
        if counter is None or counter.type not in ("int", "fixed"):
            raise fail(f"parameter '{spec.name}': per_layer must name an earlier int parameter such as 'layers'")


Pick = Callable[[ParamSpec, str], Any]


def _active(spec: ParamSpec, values: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    for key, allowed in spec.when:
        value = values.get(key, context.get(key))
        if value not in allowed:
            return False
    return True


def walk(space: SearchSpace, context: Mapping[str, Any], pick: Pick) -> dict[str, Any]:
    """Choose a value for every active parameter, in file order; `pick` decides each one."""
    values: dict[str, Any] = {}
    for spec in space.params:
        if not _active(spec, values, context):
            continue
        if spec.per_layer:
            for i in range(int(values.get(spec.per_layer, 0))):
                values[f"{spec.name}_{i}"] = pick(spec, f"{spec.name}_{i}")
        else:
            values[spec.name] = pick(spec, spec.name)
    return values


def suggest(trial, space: SearchSpace, context: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The parameters of one Optuna trial (define-by-run).

    Optuna knows each parameter as `prefix + name` (so that families sharing a study keep their
    parameters apart); the returned values use the plain names.
    """
    def pick(spec: ParamSpec, name: str) -> Any:
        key = prefix + name
        if spec.type == "int":
            return trial.suggest_int(key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log)
        if spec.type == "float":
            return trial.suggest_float(key, float(spec.low), float(spec.high), step=spec.step, log=spec.log)
        if spec.type == "categorical":
            return trial.suggest_categorical(key, list(spec.choices))
        return spec.default
    return walk(space, context, pick)


def suggest_family(trial, spaces: tuple[SearchSpace, ...], context: Mapping[str, Any]) -> tuple[SearchSpace, dict]:
    """A trial's space and parameters: with several spaces the family is itself a searched parameter and
    each family's parameters are known to Optuna as `<family>.<name>`."""
    several = len(spaces) > 1
    family = trial.suggest_categorical("family", [s.family for s in spaces]) if several else spaces[0].family
    space = next(s for s in spaces if s.family == family)
    return space, suggest(trial, space, context, prefix=family_prefix(space, several))


def starting_point(space: SearchSpace, context: Mapping[str, Any], several: bool = False) -> dict[str, Any]:
    """The parameters of the space's first trial, every default, keyed as Optuna knows them."""
    return keyed(space, walk(space, context, lambda spec, name: spec.start()), context, several)


def keyed(space: SearchSpace, params: Mapping[str, Any], context: Mapping[str, Any], several: bool) -> dict[str, Any]:
    """Plain-named `params` of `space` as the engines know a trial's values (`enqueue_trial`, keras-tuner's
    values): the searched ones, named `<family>.<name>` beside the family where several spaces share a search."""
    prefix = family_prefix(space, several)
    searched: dict[str, Any] = {"family": space.family} if several else {}

    def pick(spec: ParamSpec, name: str) -> Any:
        if spec.type == "fixed":
            return spec.default
        searched[prefix + name] = params[name]
        return params[name]
    walk(space, context, pick)
    return searched


def is_starting_point(space: SearchSpace, params: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether plain-named `params` are the space's first trial's (every parameter at its default)."""
    return dict(params) == walk(space, context, lambda spec, name: spec.start())


def family_prefix(space: SearchSpace, several: bool) -> str:
    """What a parameter's name starts with where several families share one search: `family.`."""
    return f"{space.family}." if several else ""


def from_values(values: Mapping[str, Any], spaces: tuple[SearchSpace, ...],
                context: Mapping[str, Any]) -> tuple[SearchSpace, dict[str, Any]]:
    """The space and plain-named parameters of a trial whose values are keyed as Optuna, Ray Tune and the
    keras-tuner engine (`hyperparameters`) name them: the same walk as `suggest`, so every engine hands the
    model builders the same dict."""
    several = len(spaces) > 1
    space = next(s for s in spaces if s.family == values["family"]) if several else spaces[0]
    prefix = family_prefix(space, several)

    def pick(spec: ParamSpec, name: str) -> Any:
        if spec.type == "fixed":
            return spec.default
        value = values[prefix + name]
        if spec.type == "categorical":  # keras-tuner keeps booleans as 0/1: give back the declared choice
            return next((c for c in spec.choices if c == value), value)
        return int(value) if spec.type == "int" else float(value)
    return space, walk(space, context, pick)


def spaces_for(kind: str, user: tuple[SearchSpace, ...] = ()) -> tuple[SearchSpace, ...]:
    """The spaces to search for a kind of data: the user's, else the packaged ones for the kind
    (`data/kinds.py`, first choice first). Refuses a family that cannot read this kind of data."""
    spec = KINDS[DataKind(kind)]
    families = spec.families
    spaces = user or tuple(load_space(family=f) for f in families)
    for space in spaces:
        if FAMILIES[space.family].view not in spec.views:  # a dense net reads flattened images, a convnet no table
            suited = " or ".join(families)
            raise AutosearchError(f"space file '{space.source}' searches {space.family} networks, which cannot "
                                  f"read {kind} data; use a {suited} space")
    if len({s.family for s in spaces}) < len(spaces):
        raise AutosearchError("two --space files search the same family; give one file per family")
    return spaces
