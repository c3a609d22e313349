"""Sweep files: several searches in one scheduled job.

    output: sweeps/nightly          # each run writes to <output>/<run name> (paths: relative to this file)
    tracking_uri: sqlite:///mlflow.db   # optional; default as for `fit`
    defaults: {trials: 40, time_budget: 20m, seed: 0}   # any `fit` option, for every run
    runs:
      - data: ../examples/penguins.csv
        target: species
      - data: ../tests/data/basic_motions.npz
        spaces: [default, ../search_spaces/conv1d.yaml]   # one run per item: the kind's spaces, then conv1d
        time_budget: 10m

      - data: ../examples/penguins.csv   # a second search that starts from the first one's best trials
        target: species
        name: penguins-again
        warm_start: previous            # the run before it in this file (or a run folder, experiment, models:/…)

Each entry runs once per item of `spaces` (a file, a list of files searched together, or `default`)
and of `engines` (default [optuna]; any `--engine`), and takes any option `fit` takes, the engines' own
included (`tuner:`, `scheduler:`, `concurrency:`…: each goes to the engine it belongs to); one MLflow
experiment per dataset. Runs go one after the other;
one that fails does not stop the others. Running the sweep again resumes it: a run folder that holds
a finished run is skipped, an interrupted one continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from autosearch.config import make_config
from autosearch.engines import DEFAULT_ENGINE, ENGINES, engine_class, option_fields
from autosearch.errors import AutosearchError, describe
from autosearch.files import write_atomic
from autosearch.progress import Progress
from autosearch.runs import RunState
from autosearch.summary import RunSummary
from autosearch.yamlfile import read_yaml

RUN_OPTIONS = {"target", "test", "task", "kind", "trials", "time_budget", "metric", "seed", "max_epochs",
               "experiment", "storage", "study", "mixed_precision", "cv_folds", "holdout", "time", "no_time", "groups",
               "horizon", "series", "backtests", "known", "quantiles",
               "register", "system_metrics", "baselines", "warm_start"}
FIT_OPTIONS = RUN_OPTIONS | set(option_fields())  # and every engine's own
ENTRY_KEYS = FIT_OPTIONS | {"data", "spaces", "engines", "name"}
PATH_OPTIONS = ("test",)
PREVIOUS = "previous"  # `warm_start: previous`: the run before this one in the sweep
SUMMARY_COLUMNS = ["run", "data", "status", "kind", "task", "metric", "winner", "val_score", "test_score",
                   "trials", "minutes", "output", "error"]


@dataclass(frozen=True)
class SweepRun:
    name: str
    data: Path
    spaces: tuple[Path, ...]  # empty: the kind's default spaces
    engine: str
    options: dict[str, Any] = field(default_factory=dict)


def load_sweep(path: str | Path) -> tuple[Path, str | None, list[SweepRun]]:
    """The sweep's output folder, tracking URI and runs (entries expanded over spaces and engines)."""
    path = Path(path)
    data = read_yaml(path, "sweep file")
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not data["runs"]:
        raise AutosearchError(f"sweep file '{path}' needs a 'runs:' list of entries, each with 'data:'")
    unknown = set(data) - {"output", "tracking_uri", "defaults", "runs"}
    if unknown:
        raise AutosearchError(f"sweep file '{path}': unknown key '{sorted(unknown)[0]}'; keys are output, "
                              "tracking_uri, defaults, runs")
    here = path.parent
    output = here / data.get("output", path.stem)
    defaults = data.get("defaults") or {}
    _check_keys(defaults, FIT_OPTIONS, f"sweep file '{path}': defaults")
    runs: list[SweepRun] = []
    for i, entry in enumerate(data["runs"], start=1):
        if not isinstance(entry, dict) or "data" not in entry:
            raise AutosearchError(f"sweep file '{path}': run {i} needs 'data:' (a table, .npz or image folder)")
        _check_keys(entry, ENTRY_KEYS, f"sweep file '{path}': run {i}")
        runs += _expand({**defaults, **entry}, here)
    names = [r.name for r in runs]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise AutosearchError(f"sweep file '{path}': two runs are named '{duplicate}'; give them 'name:'")
    if runs[0].options.get("warm_start") == PREVIOUS:
        raise AutosearchError(f"sweep file '{path}': the first run has no previous run to warm-start from; drop its "
                              "warm_start, or name a run folder or experiment")
    return output, data.get("tracking_uri"), runs


def _check_keys(entry: dict, allowed: set[str], where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise AutosearchError(f"{where}: unknown key '{sorted(unknown)[0]}'; use {', '.join(sorted(allowed))}")


def _expand(entry: dict, here: Path) -> list[SweepRun]:
    data = here / entry["data"]
    spaces = entry.get("spaces", ["default"])
    engines = entry.get("engines", [DEFAULT_ENGINE])
    for engine in engines:
        if engine not in ENGINES:
            raise AutosearchError(f"sweep run on '{entry['data']}': engine '{engine}' is unknown; use one of "
                                  f"{', '.join(ENGINES)}")
    options = {k: v for k, v in entry.items() if k in FIT_OPTIONS}
    options.update({k: str(here / options[k]) for k in PATH_OPTIONS if options.get(k)})
    warm = options.get("warm_start")
    if warm and warm != PREVIOUS and (here / str(warm)).is_dir():  # a run folder, relative to the sweep file
        options["warm_start"] = str(here / str(warm))
    options.setdefault("experiment", data.stem)  # one experiment per dataset
    owners = option_fields()  # an engine's own option goes to that engine only (several engines per entry)
    runs = []
    for space in spaces:
        files = () if space == "default" else tuple(here / p for p in ([space] if isinstance(space, str) else space))
        for engine in engines:
            parts = [entry.get("name", data.stem)]
            parts += [] if space == "default" or len(spaces) == 1 else ["+".join(p.stem for p in files)]
            parts += [engine] if len(engines) > 1 else []
            mine = {k: v for k, v in options.items() if k not in owners or owners[k][0] is engine_class(engine)}
            runs.append(SweepRun("-".join(parts), data, files, engine, mine))
    return runs


def run_sweep(path: str | Path, quiet: bool = False, progress: Progress | None = None,
              started: float | None = None) -> pd.DataFrame:
    """Run every search of the sweep file; returns the summary table (also written as sweep-summary.csv).
    `started` (time.monotonic): when the first run it does not skip began, by default when it starts (a
    process that took a sweep over mid-run, `autosearch.restart`, passes the first process's start)."""
    from autosearch.api import run_fit

    output, tracking_uri, runs = load_sweep(path)
    progress = progress or Progress(quiet)
    rows = []
    for i, run in enumerate(runs, start=1):
        folder = output / run.name
        progress.say(f"── sweep run {i}/{len(runs)}: {run.name} ({run.data})")
        row = {"run": run.name, "data": str(run.data), "output": str(folder)}
        try:
            if _finished(folder, run):
                progress.say("   finished in an earlier sitting: skipped")
                rows.append({**row, **_outcome(RunSummary.load(folder), "finished")})
                continue
            options = dict(run.options)
            if options.get("warm_start") == PREVIOUS:
                options["warm_start"] = _previous(output / runs[i - 2].name, progress)
            config = make_config(output=folder, tracking_uri=tracking_uri, space=run.spaces, quiet=quiet,
                                 engine=run.engine, **options)
            result = run_fit(run.data, config, progress=progress, started=started)
            started = None  # the next runs' budgets count from their own start
        except AutosearchError as error:
            rows.append({**row, "status": "failed", "error": str(error)})
            progress.say(f"   failed: {error}")
            continue
        except Exception as error:  # a bug or a library failure in one run must not lose the others
            rows.append({**row, "status": "failed", "error": describe(error)})
            progress.say(f"   failed: {describe(error)}")
            continue
        cut = result.summary.cut_short
        rows.append({**row, **_outcome(result.summary, "cut short" if cut else "finished")})
        if cut and not cut.startswith("time"):  # a signal: stop the sweep, not just this run
            progress.say(f"sweep stopped ({cut}); run it again to resume")
            break
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    output.mkdir(parents=True, exist_ok=True)
    write_atomic(output / "sweep-summary.csv", summary.to_csv(index=False))
    return summary


def _previous(folder: Path, progress: Progress) -> str | None:
    """The previous run's folder to warm-start from, or None (said) where that run did not get to start."""
    if RunState.load(folder) is None:
        progress.say(f"   the previous run ({folder.name}) did not start: no warm start")
        return None
    return str(folder)


def _finished(folder: Path, run: SweepRun) -> bool:
    """Whether `folder` holds this run, finished with the trials asked for (then it is not run again)."""
    state = RunState.load(folder)
    return (state is not None and state.status == "finished" and (folder / "summary.json").exists()
            and state.config.get("trials") == run.options.get("trials", state.config.get("trials")))


def _outcome(summary: RunSummary, status: str) -> dict[str, Any]:
    return {"status": status, "kind": summary.kind, "task": summary.task, "metric": summary.metric,
            "winner": summary.winner.name, "val_score": summary.winner.val_score, "test_score": summary.test_score,
            "trials": sum(summary.trials.values()), "minutes": round(summary.seconds["total"] / 60, 1)}
