"""The keras-tuner engine: the same space files, trials logged to MLflow like Optuna's, resume."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
from test_fit import runs_of

import autosearch
from autosearch.spaces import ParamSpec, from_values, load_space, suggest_family, to_keras_tuner

CONTEXT = {"task": "binary", "imbalanced": True}


def optuna_view(spaces, draws: int = 300) -> dict[str, tuple]:
    """Every parameter name Optuna is asked for over many random walks of the spaces, with its range."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    found = {}
    for _ in range(draws):
        trial = study.ask()
        suggest_family(trial, spaces, CONTEXT)
        for name, dist in trial.distributions.items():
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                found[name] = ("choice", tuple(dist.choices))
            else:
                found[name] = ("range", dist.low, dist.high, dist.log)
        study.tell(trial, 0.0)
    return found


def keras_tuner_view(spaces) -> dict[str, tuple]:
    hp = to_keras_tuner(spaces, CONTEXT)
    found = {}
    for p in hp.space:
        if type(p).__name__ == "Choice":
            found[p.name] = ("choice", tuple(p.values))
        else:
            found[p.name] = ("range", p.min_value, p.max_value, p.sampling == "log")
    return found


@pytest.mark.parametrize("families", [["dense"], ["conv2d"], ["rnn", "conv1d"], ["text"]])
def test_one_space_file_gives_the_same_parameters_and_ranges_in_both_engines(families):
    spaces = tuple(load_space(family=f) for f in families)
    optuna_side, tuner_side = optuna_view(spaces), keras_tuner_view(spaces)
    assert set(optuna_side) == set(tuner_side)
    for name in optuna_side:
        assert optuna_side[name][0] == tuner_side[name][0], name
        if optuna_side[name][0] == "choice":  # keras-tuner keeps booleans as 0/1
            assert [int(v) if isinstance(v, bool) else v for v in optuna_side[name][1]] == list(tuner_side[name][1])
        else:
            assert optuna_side[name][1:] == pytest.approx(tuner_side[name][1:]), name


def test_conditions_hold_in_keras_tuner_samples():
    """keras-tuner's own sampling of the translated space respects `when` and per-layer counts."""
    import keras_tuner as kt

    space = load_space(family="dense")
    hp = to_keras_tuner((space,), {"task": "regression", "imbalanced": False})
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("x", "max"), hyperparameters=hp, seed=1,
                                           max_trials=None)
    seen_sgd = seen_deep = False
    for _ in range(60):
        values = oracle._random_values()
        _, params = from_values(values, (space,), {"task": "regression", "imbalanced": False})
        assert ("momentum" in params) == (params["optimizer"] == "sgd")
        assert sorted(k for k in params if k.startswith("units_")) == [f"units_{i}" for i in range(params["layers"])]
        assert params["loss"] in ("mse", "mae") and "class_weight" not in params  # data facts settled
        assert isinstance(params["batch_norm"], bool)
        seen_sgd |= params["optimizer"] == "sgd"
        seen_deep |= params["layers"] == 4
    assert seen_sgd and seen_deep


def declared(spec: ParamSpec, value) -> bool:
    if spec.type == "categorical":
        return value in spec.choices
    return spec.low <= value <= spec.high


@pytest.mark.parametrize("tuner", ["hyperband", "bayesian", "random"])
def test_each_tuner_runs_a_search_logged_like_optuna(tuner, iris_csv, tmp_path):
    result = autosearch.fit(iris_csv, target="species", trials=4, max_epochs=3, engine="keras-tuner", tuner=tuner,
                            output=tmp_path / "run", experiment=f"kt-{tuner}", quiet=True)
    client, parent, children = runs_of(result.mlflow_run_id)
    assert parent.data.params["engine"] == "keras-tuner" and parent.data.params["tuner"] == tuner
    kinds = sorted(c.data.tags["autosearch.kind"] for c in children)
    assert kinds == ["baseline"] * 4 + ["trial"] * 4
    specs = {s.name: s for s in load_space(family="dense").params}
    for run in (c for c in children if c.data.tags["autosearch.kind"] == "trial"):
        assert run.data.tags["autosearch.family"] == "dense" and run.info.status in ("FINISHED", "FAILED")
        params = run.data.params
        assert {k for k in params if not k.startswith("units_")} <= set(specs)  # nothing but the space's names
        assert not any(k.startswith("tuner/") for k in params)
        for name, text in params.items():
            spec = specs[name.split("_")[0] if name.startswith("units_") else name]
            value = next((c for c in spec.choices if str(c) == text), None) if spec.type == "categorical" \
                else float(text)
            assert declared(spec, value), (name, text)
        if run.data.tags["autosearch.state"] == "complete":
            curve = client.get_metric_history(run.info.run_id, "epoch_val_score")
            assert 1 <= len(curve) <= 3
    board = pd.read_csv(result.output_dir / "leaderboard.csv")
    assert (board.kind == "nn").sum() == 4 and board.test_score.notna().sum() == 1
    assert (result.output_dir / "keras_tuner" / "autosearch" / "oracle.json").exists()  # inside the run folder
    assert result.summary["test_score"] > 0.6  # iris: a third by chance


def test_a_rerun_with_the_same_output_resumes_keras_tuner(iris_csv, tmp_path):
    out = tmp_path / "run"
    first = autosearch.fit(iris_csv, target="species", trials=2, max_epochs=2, engine="keras-tuner",
                           tuner="random", output=out, experiment="kt-resume", seed=5, quiet=True)
    params_before = {r["name"]: r["params"] for r in pd.read_csv(out / "leaderboard.csv").to_dict("records")}
    second = autosearch.fit(iris_csv, target="species", trials=4, max_epochs=2, engine="keras-tuner",
                            tuner="random", output=out, experiment="kt-resume", seed=5, quiet=True)
    assert second.mlflow_run_id == first.mlflow_run_id  # the same parent run, continued
    board = pd.read_csv(out / "leaderboard.csv")
    nets = board[board.kind == "nn"]
    assert sorted(nets.name) == ["dense-000", "dense-001", "dense-002", "dense-003"]
    assert all(params_before[n] == p for n, p in zip(nets.name, nets.params) if n in params_before)
    assert len({json.dumps(json.loads(p), sort_keys=True) for p in nets.params}) == 4  # new points, none twice
    _, _, children = runs_of(second.mlflow_run_id)
    assert sorted(c.data.tags["autosearch.kind"] for c in children) == ["baseline"] * 4 + ["trial"] * 4
    oracle = json.loads((out / "keras_tuner" / "autosearch" / "oracle.json").read_text())
    assert len(oracle["end_order"]) == 4  # keras-tuner's own state holds all four

    changed = autosearch.fit  # a different engine on the same folder is a different search
    with pytest.raises(autosearch.AutosearchError, match="other settings"):
        changed(iris_csv, target="species", trials=4, max_epochs=2, output=out, experiment="kt-resume", seed=5,
                quiet=True)
