"""Warm start: an earlier search's best configurations are a new search's first trials, on every engine, named
by a run folder, an MLflow experiment or a sweep's previous run; configurations are fitted to the spaces. The
portfolio learnt offline runs right after each family's defaults, and holds only valid configurations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

import autosearch
from autosearch.api import leaderboard
from autosearch.errors import AutosearchError
from autosearch.portfolio import portfolio_path
from autosearch.records import State
from autosearch.spaces import load_space, parse_space
from autosearch.sweep import load_sweep
from autosearch.warm_start import fit_to_space

EXPERIMENT = "warm-start-earlier"


@pytest.fixture(scope="module")
def earlier(iris_csv, sandbox, tmp_path_factory) -> Path:
    """A finished search of four trials, its best first in the store's ranking."""
    out = tmp_path_factory.mktemp("warm") / "earlier"
    autosearch.fit(iris_csv, target="species", trials=4, max_epochs=2, cv_folds=2, baselines="linear", quiet=True,
                   output=out, tracking_uri=f"sqlite:///{sandbox / 'mlflow.db'}", experiment=EXPERIMENT, seed=5)
    return out


def best_first(folder: Path) -> list[tuple[str, dict]]:
    board = json.loads(leaderboard(folder)[0].to_json(orient="records"))
    return [(row["family"], json.loads(row["params"])) for row in board
            if row["kind"] == "nn" and row["state"] == State.COMPLETE.value]


def trials_in_order(folder: Path) -> list:
    from autosearch.runs import RunState

    store = RunState.load(folder).trial_store(folder)
    try:
        return sorted(store.records("nn"), key=lambda r: r.number)
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["optuna", "keras-tuner", "ray"])
def test_the_earlier_searchs_best_configurations_are_the_first_trials(earlier, iris_csv, tmp_path, engine, request):
    if engine == "ray":
        request.getfixturevalue("ray_sandbox")
    ranked = best_first(earlier)
    assert len({json.dumps(p, sort_keys=True) for _, p in ranked}) >= 2  # two distinct configurations to replay
    out = tmp_path / "again"
    autosearch.fit(iris_csv, target="species", trials=2, max_epochs=2, cv_folds=2, baselines="linear", quiet=True,
                   output=out, warm_start=str(earlier), engine=engine, seed=11)
    names = _names_of(earlier, [p for _, p in ranked[:2]])
    assert names != [r.name for r in trials_in_order(earlier)[:2]]  # not what the spaces' defaults would run first
    first = trials_in_order(out)[:2]
    replayed, expected = [(r.family, dict(r.params)) for r in first], ranked[:2]
    sources, named = [r.warm_start for r in first], [f"{earlier}: {name}" for name in names]
    if engine == "ray":  # its first two trials start together, numbered in the order Tune reports them
        replayed, expected, sources, named = (sorted(x, key=lambda v: json.dumps(v, sort_keys=True))
                                               for x in (replayed, expected, sources, named))
    assert replayed == expected and sources == named
    board = leaderboard(out)[0]
    assert board.warm_start.notna().sum() == 2
    tags = MlflowClient().get_run(first[0].mlflow_run_id).data.tags
    assert tags["autosearch.warm_start"] == first[0].warm_start


def _names_of(folder: Path, params: list[dict]) -> list[str]:
    by_params = {json.dumps(dict(r.params), sort_keys=True): r.name for r in trials_in_order(folder)}
    return [by_params[json.dumps(p, sort_keys=True)] for p in params]


@pytest.mark.slow
def test_an_mlflow_experiment_and_a_resumed_run_keep_the_warm_start(earlier, iris_csv, sandbox, tmp_path):
    out = tmp_path / "from-experiment"
    options = dict(target="species", max_epochs=2, cv_folds=2, baselines="linear", quiet=True, output=out, seed=2,
                   warm_start=EXPERIMENT, tracking_uri=f"sqlite:///{sandbox / 'mlflow.db'}", experiment="warm-next")
    with pytest.raises(AutosearchError, match="no MLflow experiment of that name"):  # a typo: nothing begun …
        autosearch.fit(iris_csv, trials=1, **{**options, "warm_start": EXPERIMENT + "-typo"})
    autosearch.fit(iris_csv, trials=1, **options)  # … so the same folder starts the run as asked
    assert [(r.family, dict(r.params)) for r in trials_in_order(out)] == best_first(earlier)[:1]
    autosearch.fit(iris_csv, trials=3, **options)  # resumed: the second configuration next, still marked
    second = trials_in_order(out)[1]
    assert (second.family, dict(second.params)) == best_first(earlier)[1]
    assert second.warm_start and second.warm_start.startswith(f"experiment {EXPERIMENT}: ")


def test_a_configuration_is_fitted_to_the_spaces_searched_now():
    dense = load_space(family="dense")
    learning_rate = next(p for p in dense.params if p.name == "learning_rate")
    given = {"layers": 1, "units_0": 10**6, "learning_rate": str(learning_rate.high), "not_a_parameter": 3}
    params, changes = fit_to_space(dense, given, {"task": "binary"})
    units = next(p for p in dense.params if p.name == "units")
    assert params["layers"] == 1 and params["units_0"] == units.start()  # out of range: the default
    assert params["learning_rate"] == learning_rate.high  # MLflow's text read back as a number
    assert "not_a_parameter" not in params
    assert any(c.startswith("units_0 1000000 is outside") for c in changes)
    assert any(c.startswith("not_a_parameter is not in this space") for c in changes)
    missing = [p.name for p in dense.params if p.name in params and p.name not in given and p.type != "fixed"]
    assert all(any(c.startswith(f"{name} was not searched then") for c in changes) for name in missing)
    choice = parse_space({"family": "dense", "params": {"optimizer": {"type": "categorical", "choices": ["adam"]}}})
    assert fit_to_space(choice, {"optimizer": "lion"}, {}) == ({"optimizer": "adam"},
                                                              ["optimizer lion is outside this space: the default, "
                                                               "'adam'"])


def test_a_missing_source_is_one_clear_error(iris_csv, tmp_path):
    from commands import autosearch_here

    done = autosearch_here("fit", iris_csv, "--target", "species", "--warm-start", tmp_path / "nowhere",
                           "--output", tmp_path / "out", "--quiet")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no such run folder" in done.stderr and "--warm-start" in done.stderr
    assert not any((tmp_path / "out" / name).exists() for name in ("run.json", "study.db"))  # nothing begun


def test_a_sweep_chains_its_runs(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("runs:\n  - {data: a.csv}\n  - {data: b.csv, warm_start: previous}\n")
    _, _, runs = load_sweep(sweep)
    assert runs[1].options["warm_start"] == "previous" and "warm_start" not in runs[0].options
    sweep.write_text("runs:\n  - {data: a.csv, warm_start: previous}\n")
    with pytest.raises(AutosearchError, match="first run has no previous run"):
        load_sweep(sweep)


def test_a_warm_start_names_a_search_and_a_run_folder_is_kept_absolute(tmp_path, monkeypatch):
    from autosearch.config import make_config

    with pytest.raises(AutosearchError, match="not True or False"):  # scikit-learn's warm_start is a flag; not ours
        make_config(warm_start=True)
    with pytest.raises(AutosearchError, match="needs an earlier search"):
        make_config(warm_start=" ")
    (tmp_path / "last-night").mkdir()
    monkeypatch.chdir(tmp_path)
    assert make_config(warm_start="last-night").warm_start == str(tmp_path / "last-night")  # resumes from anywhere
    assert make_config(warm_start="penguins").warm_start == "penguins"  # an experiment's name, as given


def test_every_portfolio_entry_is_a_configuration_of_the_packaged_spaces():
    """A space file changed after the portfolio was built must not leave it naming parameters or values the
    space no longer has (rebuild it: scripts/build_portfolio.py)."""
    from autosearch.portfolio import entries, invalid
    from autosearch.spaces import spaces_for

    files = sorted(portfolio_path("tabular").parent.glob("*.yaml"))
    assert files
    for path in files:
        spaces = {space.family: space for space in spaces_for(path.stem)}
        found = entries(path)
        assert len(found) >= 5
        for entry in found:
            assert entry["family"] in spaces, (path.name, entry["family"])
            assert invalid(spaces[entry["family"]], entry["params"]) == [], (path.name, entry)


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("engine", [{}, {"engine": "keras-tuner", "tuner": "random"}], ids=["optuna", "keras-tuner"])
def test_the_portfolio_runs_right_after_each_familys_defaults(iris_csv, tmp_path, engine):
    """Each family's defaults first (the recipe most likely to be the pick), then the portfolio's configurations
    in order, marked as such, where TPE would have drawn at random."""
    from autosearch.config import make_config
    from autosearch.portfolio import portfolio
    from autosearch.prepare import prepare
    from autosearch.progress import Progress
    from autosearch.spaces import is_starting_point

    options = dict(target="species", trials=5, max_epochs=1, holdout=True, baselines="linear", **engine)
    autosearch.fit(iris_csv, output=tmp_path / "run", quiet=True, **options)
    prep = prepare(iris_csv, make_config(output=tmp_path / "context", **options), Progress(quiet=True))
    context, spaces = prep.folds.first.context, prep.spaces
    trials = trials_in_order(tmp_path / "run")
    assert len(trials) == 5 and [t.family for t in trials[:len(spaces)]] == [s.family for s in spaces]
    assert all(is_starting_point(s, t.params, context) and t.warm_start is None for s, t in zip(spaces, trials))
    expected = portfolio("tabular", spaces, context)[:len(trials) - len(spaces)]
    assert len(expected) == len(trials) - len(spaces)
    assert [(t.family, dict(t.params), t.warm_start) for t in trials[len(spaces):]] == [
        (c.family, dict(c.params), c.source) for c in expected]
