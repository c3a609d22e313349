"""The space-file reader and its walk onto Optuna's define-by-run API."""

import optuna
import pytest

from autosearch.errors import AutosearchError
from autosearch.spaces import load_space, parse_space, starting_point, suggest

CLASSIFY = {"task": "binary", "imbalanced": False}


def write(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_default_dense_space_ships_with_the_package():
    space = load_space()
    names = {p.name for p in space.params}
    assert space.family == "dense"
    assert {"layers", "units", "activation", "dropout", "l2", "batch_norm", "optimizer", "learning_rate",
            "batch_size"} <= names
    assert space.max_epochs > 0 and space.patience > 0


def test_types_ranges_log_and_choices_are_read(tmp_path):
    space = load_space(write(tmp_path, """
family: dense
training: {max_epochs: 7, patience: 2}
params:
  layers: {type: int, low: 1, high: 3}
  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-1, log: true, default: 0.01}
  optimizer: {type: categorical, choices: [adam, sgd]}
  batch_size: 16
"""))
    by_name = {p.name: p for p in space.params}
    assert (space.max_epochs, space.patience) == (7, 2)
    assert by_name["learning_rate"].log and by_name["learning_rate"].default == 0.01
    assert by_name["optimizer"].choices == ("adam", "sgd")
    assert by_name["batch_size"].type == "fixed"


def _trial_params(space, context, seed=0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    return suggest(trial, space, context), trial


def test_per_layer_parameters_follow_the_sampled_layer_count():
    space = parse_space({"params": {"layers": {"type": "int", "low": 1, "high": 4},
                                    "units": {"type": "int", "low": 8, "high": 64, "per_layer": "layers"}}})
    for seed in range(8):
        params, _ = _trial_params(space, CLASSIFY, seed)
        assert sorted(k for k in params if k.startswith("units_")) == [f"units_{i}" for i in range(params["layers"])]


def test_conditions_on_parameters_and_data_facts():
    space = parse_space({"params": {
        "optimizer": {"type": "categorical", "choices": ["sgd"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
        "loss": {"type": "categorical", "choices": ["mse", "mae"], "when": {"task": "regression"}},
        "class_weight": {"type": "categorical", "choices": ["balanced", "none"], "when": {"imbalanced": True}},
    }})
    params, trial = _trial_params(space, CLASSIFY)
    assert "momentum" in params and "loss" not in params and "class_weight" not in params
    assert set(trial.params) == set(params)  # what Optuna records is what the model gets
    params, _ = _trial_params(space, {"task": "regression", "imbalanced": True})
    assert {"loss", "class_weight"} <= set(params)


def test_starting_point_uses_defaults_or_the_middle():
    space = parse_space({"params": {
        "layers": {"type": "int", "low": 1, "high": 3, "default": 2},
        "units": {"type": "int", "low": 16, "high": 256, "log": True, "per_layer": "layers"},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    }})
    assert starting_point(space, CLASSIFY) == {"layers": 2, "units_0": 64, "units_1": 64, "activation": "relu"}


@pytest.mark.parametrize("text, message", [
    ("params: {layers: {type: int, low: 1, high: [}", "not valid YAML"),
    ("params: {layers: {type: integer, low: 1, high: 3}}",
     "unknown type 'integer'; use one of int, float, categorical"),
    ("params: {layers: {type: int, low: 5, high: 3}}", "low 5 is above high 3"),
    ("params: {learning_rate: {type: float, low: 0, high: 1, log: true}}", "log scale needs low > 0"),
    ("params: {optimizer: {type: categorical, choices: []}}", "non-empty 'choices'"),
    ("params: {momentum: {type: float, low: 0, high: 1, when: {optimiser: sgd}}}", "neither an earlier parameter"),
    ("params: {dropuot: {type: float, low: 0, high: 1}}", "'dropuot' is not one the dense family uses"),
    ("params: {layers: {type: int, low: 1, high: 3, stepsize: 1}}", "unknown key 'stepsize'"),
    ("family: transformer\nparams: {layers: 2}", "family 'transformer' is unknown"),
    ("just text", "needs a 'params:' map"),
])
def test_bad_space_files_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(AutosearchError, match=message.replace("[", r"\[")) as info:
        load_space(write(tmp_path, text))
    assert "\n" not in str(info.value)


def test_every_family_is_one_registry_entry_with_a_builder_a_space_file_and_a_kind_that_searches_it():
    """A family is an entry in `models.FAMILIES` (its builder `module:function`), a space file of its own and
    its name in the kinds that search it; nothing else names it."""
    import importlib

    from autosearch.data.kinds import KINDS
    from autosearch.models import FAMILIES, input_view

    assert {f for spec in KINDS.values() for f in spec.families} == set(FAMILIES)
    for name, family in FAMILIES.items():
        module, function = family.builder.split(":")
        assert callable(getattr(importlib.import_module(f"autosearch.models.{module}"), function)), name
        assert load_space(family=name).family == name
    assert input_view("tabm", {"categories": "embed", "scaling": "quantile"}) == "quantile_table"
    assert input_view("text", {"architecture": "rnn"}) == "tokens" and input_view("rnn", {}) == "sequence"
