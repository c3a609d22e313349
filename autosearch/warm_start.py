"""Warm start (`--warm-start`): the best network configurations of earlier searches become the first trials
of a new one, before each family's defaults and before the sampler takes over.

An earlier search is named by its run folder (the `--output` of a fit: its database holds every trial), by
an MLflow experiment (every network trial logged in it, from any run and any data: how a search on new data
starts from what searches on other data found), or by a registered model (`models:/NAME`, `models:/NAME/3`,
`models:/NAME@champion`: the trials of the run that produced it). Its configurations are fitted to this
search's spaces (`fit_to_space`): a family not searched here is left out, a parameter these spaces lack is
dropped, a value outside them is replaced by the default, and a parameter the earlier trial lacked gets the
default, each said once. Optuna's `enqueue_trial` (the Optuna and Ray engines) and the keras-tuner engine's
oracle run them first; the trial runner marks the trials they became (`TrialRecord.warm_start`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from autosearch.errors import AutosearchError
from autosearch.leaderboard import ranked_by
from autosearch.records import CandidateKind, State, TrialRecord, WarmConfig
from autosearch.redact import redact
from autosearch.spaces import ParamSpec, SearchSpace, walk

TOP = 5  # configurations taken from the earlier search: its best, a few runners-up in case the best was luck
NOTES_SHOWN = 8  # lines of changes printed when the configurations are fitted to this search's spaces
SEED_OFFSET = 7919  # added to a warm-started run's seed, so that its sampler does not replay its source's draws
FACT = "warm_start"  # the run database's fact that keeps a run's configurations (TrialStore.set)
MLFLOW_ROWS = 200  # trials read from an MLflow experiment, best first (most runs there are worse than these)


def kept(store) -> tuple[WarmConfig, ...]:
    """The configurations a run's database keeps (none for a run without a warm start)."""
    text = store.get(FACT)
    return tuple(WarmConfig(**c) for c in json.loads(text)) if text else ()


def keep(store, configs: Sequence[WarmConfig]) -> None:
    store.set(FACT, json.dumps([dataclasses.asdict(c) for c in configs], default=str))


def warm_configs(source: str, spaces: Sequence[SearchSpace], context: Mapping[str, Any], greater_is_better: bool,
                 tracking_uri: str | None = None, top: int = TOP) -> tuple[tuple[WarmConfig, ...], list[str]]:
    """The `top` best distinct configurations of the search `source` names that fit `spaces`, best first,
    and what was changed or left out to make them fit (one line each)."""
    trials, label, greater_is_better = _earlier(source, tracking_uri, greater_is_better)
    trials = ranked_by([t for t in trials if math.isfinite(t.val_score)], greater_is_better)  # as the leaderboard
    by_family = {space.family: space for space in spaces}
    configs: list[WarmConfig] = []
    notes: list[str] = []
    for trial in trials:
        if len(configs) >= top:
            break
        space = by_family.get(trial.family)
        if space is None:
            notes.append(f"{trial.name}: the {trial.family} family is not searched here; left out")
            continue
        params, changes = fit_to_space(space, trial.params, context)
        config = WarmConfig(trial.family, params, f"{label}: {trial.name}")
        if any(c.matches(config.family, config.params) for c in configs):
            continue
        configs.append(config)
        notes += [f"{trial.name}: {change}" for change in changes]
    if not configs:
        raise AutosearchError(f"--warm-start {source} holds no completed network trial of a family searched here "
                              f"({', '.join(by_family)}); name an earlier search of the same kind of data")
    return tuple(configs), notes


def fit_to_space(space: SearchSpace, given: Mapping[str, Any], context: Mapping[str, Any]) -> tuple[dict, list[str]]:
    """`given` (plain names; values as Python or as MLflow's text) as a configuration of `space`, and the changes
    that made it one: a value outside the space or of the wrong type replaced by the default, a parameter the
    space has and `given` lacks given the default, one `given` has and the space lacks dropped.

    >>> from autosearch.spaces import parse_space
    >>> space = parse_space({"family": "dense", "params": {
    ...     "layers": {"type": "int", "low": 1, "high": 3, "default": 2},
    ...     "units": {"type": "int", "low": 8, "high": 64, "per_layer": "layers", "default": 32},
    ...     "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    ...     "batch_norm": {"type": "categorical", "choices": [True, False]}}})
    >>> fit_to_space(space, {"layers": "1", "units_0": "512", "optimizer": "sgd", "batch_norm": "False",
    ...                      "momentum": 0.9}, {})
    ({'layers': 1, 'units_0': 32, 'optimizer': 'sgd', 'batch_norm': False}, \
['units_0 512 is outside this space: the default, 32', 'momentum is not in this space: dropped'])
    """
    changes: list[str] = []

    def pick(spec: ParamSpec, name: str) -> Any:
        if spec.type == "fixed":
            return spec.default
        if name not in given:
            changes.append(f"{name} was not searched then: the default, {spec.start()!r}")
            return spec.start()
        value = within(spec, given[name])
        if value is None:
            changes.append(f"{name} {given[name]} is outside this space: the default, {spec.start()!r}")
            return spec.start()
        return value

    params = walk(space, context, pick)
    changes += [f"{name} is not in this space: dropped" for name in given if name not in params]
    return params, changes


def within(spec: ParamSpec, value: Any) -> Any:
    """`value` as `spec` takes it (text read back to its type), or None where the space does not hold it."""
    if spec.type == "categorical":
        return next((c for c in spec.choices if c == value or str(c) == str(value)), None)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not spec.low <= number <= spec.high:
        return None
    steps = (number - spec.low) / spec.step if spec.step else 0.0
    if not math.isclose(steps, round(steps), abs_tol=1e-9):
        return None  # off the space's grid
    if spec.type == "int":
        return int(number) if number.is_integer() else None
    return number


def _earlier(source: str, tracking_uri: str | None, greater_is_better: bool
             ) -> tuple[list[TrialRecord], str, bool]:
    """The earlier search's network trials that completed, a short name for it, and whether its scores are
    better greater (its own metric's direction where its summary says, else this search's)."""
    if source.startswith("models:/"):
        return _registered(source, tracking_uri, greater_is_better), source, greater_is_better
    folder = Path(source).expanduser()
    if folder.is_dir():
        summary = folder / "summary.json"
        if summary.exists():
            greater_is_better = bool(json.loads(summary.read_text()).get("greater_is_better", greater_is_better))
        return _run_folder(folder), str(source), greater_is_better
    return _experiment(source, tracking_uri, greater_is_better), f"experiment {source}", greater_is_better


def _run_folder(folder: Path) -> list[TrialRecord]:
    from autosearch.runs import RunState

    state = RunState.load(folder)
    if state is None:
        raise AutosearchError(f"--warm-start {folder} is not a run folder (it has no run.json); pass the --output "
                              "folder of an earlier fit, an MLflow experiment name, or models:/NAME")
    store = state.trial_store(folder)
    try:
        records = store.records(CandidateKind.NETWORK)
    finally:
        store.close()
    return [r for r in records if r.state is State.COMPLETE and r.val_score is not None]


def _experiment(name: str, tracking_uri: str | None, greater_is_better: bool) -> list[TrialRecord]:
    from autosearch.tracking import COMPLETE_TRIALS

    client, uri = _client(tracking_uri)
    experiment = _asking(uri, lambda: client.get_experiment_by_name(name))
    if experiment is None:
        raise AutosearchError(f"--warm-start {name}: no such run folder, and no MLflow experiment of that name in "
                              f"{redact(uri)}; pass the --output folder of an earlier fit, an experiment name, or "
                              "models:/NAME")
    order = "DESC" if greater_is_better else "ASC"
    return _from_runs(_asking(uri, lambda: client.search_runs(
        [experiment.experiment_id], filter_string=COMPLETE_TRIALS, order_by=[f"metrics.val_score {order}"],
        max_results=MLFLOW_ROWS)))


def _registered(uri: str, tracking_uri: str | None, greater_is_better: bool) -> list[TrialRecord]:
    """The trials of the run whose pick was registered as `uri` (models:/NAME, models:/NAME/VERSION or
    models:/NAME@ALIAS; the latest version where none is named)."""
    from mlflow.exceptions import MlflowException

    from autosearch.tracking import COMPLETE_TRIALS, PARENT_ID_TAG

    client, where = _client(tracking_uri)
    name = uri.removeprefix("models:/")
    try:
        if "@" in name:
            version = client.get_model_version_by_alias(*name.split("@", 1))
        elif "/" in name:
            version = client.get_model_version(*name.split("/", 1))
        else:
            versions = client.search_model_versions(f"name = '{name}'", order_by=["version_number DESC"],
                                                    max_results=1)
            version = versions[0] if versions else None
    except MlflowException:
        version = None
    if version is None or not version.run_id:
        raise AutosearchError(f"--warm-start {uri}: no such registered model version in {where}; check the name "
                              "(`autosearch fit --register NAME` registers one)")
    experiment = _asking(where, lambda: client.get_run(version.run_id).info.experiment_id)
    order = "DESC" if greater_is_better else "ASC"
    return _from_runs(_asking(where, lambda: client.search_runs(
        [experiment], max_results=MLFLOW_ROWS, order_by=[f"metrics.val_score {order}"],
        filter_string=f"tags.`{PARENT_ID_TAG}` = '{version.run_id}' and {COMPLETE_TRIALS}")))


def _client(tracking_uri: str | None):
    import mlflow
    from mlflow.tracking import MlflowClient

    from autosearch.tracking import check_reachable

    uri = tracking_uri or mlflow.get_tracking_uri()
    check_reachable(uri)
    return MlflowClient(tracking_uri=uri), uri


def _asking(uri: str, question):
    """MLflow's answer to `question`, or a one-line error naming the store that refused it."""
    from mlflow.exceptions import MlflowException

    from autosearch.errors import describe

    try:
        return question()
    except MlflowException as error:
        raise AutosearchError(f"--warm-start: MLflow at {redact(uri)} refused the question ({describe(error, 200)}); "
                              "check --tracking-uri") from None


def _from_runs(runs) -> list[TrialRecord]:
    """The network trials among MLflow `runs`, their parameters as MLflow keeps them (text)."""
    trials = []
    for run in runs:
        score = run.data.metrics.get("val_score")
        family = run.data.tags.get("autosearch.family")
        if score is None or family is None:
            continue
        name = (run.info.run_name or run.info.run_id).split(" ", 1)[0]
        trials.append(TrialRecord(name, CandidateKind.NETWORK, family, dict(run.data.params), State.COMPLETE,
                                  float(score), 0.0, folds=int(run.data.metrics.get("folds", 1))))
    return trials
