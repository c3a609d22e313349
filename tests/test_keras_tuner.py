"""The keras-tuner engine's translation of the space files: the same parameters, ranges and conditions as
Optuna is asked for. (Its searches are checked with every engine's in test_engine_contract.py.)"""

from __future__ import annotations

import optuna
import pytest

from autosearch.engines.keras_tuner_engine import hyperparameters
from autosearch.spaces import from_values, load_space, suggest_family

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
    hp = hyperparameters(spaces, CONTEXT)
    found = {}
    for p in hp.space:
        if type(p).__name__ == "Fixed":  # a plain value in a space file (`optimizer: adamw`): Optuna is not asked
            continue
        if type(p).__name__ == "Choice":
            found[p.name] = ("choice", tuple(p.values))
        else:
            found[p.name] = ("range", p.min_value, p.max_value, p.sampling == "log")
    return found


SEQUENCE_FAMILIES = ["fcn", "inception", "resnet1d", "rnn", "conv1d"]


@pytest.mark.parametrize("families", [["dense", "tabm"], ["resnet2d", "conv2d"], SEQUENCE_FAMILIES,
                                      ["tfidf", "text"], ["nbeats", "dense", "rnn", "conv1d"]])
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
    hp = hyperparameters((space,), {"task": "regression", "imbalanced": False})
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("x", "max"), hyperparameters=hp, seed=1,
                                           max_trials=None)
    seen_sgd = seen_deep = False
    for _ in range(60):
        values = oracle._random_values()
        _, params = from_values(values, (space,), {"task": "regression", "imbalanced": False})
        assert ("momentum" in params) == (params["optimizer"] == "sgd")
        assert sorted(k for k in params if k.startswith("units_")) == [f"units_{i}" for i in range(params["layers"])]
        assert params["loss"] in ("mse", "mae", "huber") and "class_weight" not in params  # data facts settled
        assert isinstance(params["batch_norm"], bool)
        seen_sgd |= params["optimizer"] == "sgd"
        seen_deep |= params["layers"] == 4
    assert seen_sgd and seen_deep
