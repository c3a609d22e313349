"""Target choice, task inference and feature roles: the rules users expect, edge cases included."""

import numpy as np
import pandas as pd
import pytest

from autosearch.data.columns import feature_roles
from autosearch.data.load import RawData
from autosearch.data.profile import profile as profile_raw
from autosearch.data.target import check_task, choose_targets, infer_task
from autosearch.errors import AutosearchError
from autosearch.tasks import Task


def profile(frame, targets, task="auto"):
    prof, data, _, messages = profile_raw(RawData("t", frame=frame), targets, task)
    return prof, data, messages


def task_of(values, name="y") -> Task:
    return infer_task(pd.DataFrame({name: values}))[0]


@pytest.mark.parametrize("values, expected", [
    (["yes", "no", "yes", "no"], Task.BINARY),
    ([True, False, True], Task.BINARY),
    ([0, 1, 1, 0], Task.BINARY),
    ([0.0, 1.0, 1.0], Task.BINARY),
    ([-1, 1, -1], Task.BINARY),
    (["cat", "dog", "bird", "dog"], Task.MULTICLASS),
    ([0, 1, 2, 3, 2, 1], Task.MULTICLASS),
    ([1.0, 2.0, 3.0, 2.0], Task.MULTICLASS),  # integer-valued floats are classes too
    (list(range(100)), Task.REGRESSION),  # integers with many values are a quantity
    (list(np.linspace(0, 1, 50)), Task.REGRESSION),
    ([0.5, 1.5, 2.5, 0.5], Task.REGRESSION),
    (["a|b", "a", "b|c", ""], Task.MULTILABEL),
])
def test_task_inference(values, expected):
    assert task_of(values) is expected


def test_inference_gives_reasons():
    task, reason = infer_task(pd.DataFrame({"y": list(range(30))}))
    assert task is Task.REGRESSION and "30 distinct" in reason and "--task multiclass" in reason


def test_several_zero_one_targets_are_multilabel():
    y = pd.DataFrame({"a": [0, 1, 1], "b": [1, 1, 0], "c": [True, False, False]})
    assert infer_task(y)[0] is Task.MULTILABEL


def test_several_numeric_targets_are_multi_output_regression():
    y = pd.DataFrame({"a": [0.1, 2.5, 3.0], "b": [10, 20, 35]})
    assert infer_task(y)[0] is Task.REGRESSION


def test_mixed_targets_are_refused():
    with pytest.raises(AutosearchError, match="mix text and numbers"):
        infer_task(pd.DataFrame({"a": ["x", "y", "z"], "b": [1.5, 2.5, 3.5]}))


def test_text_target_with_nearly_unique_values_is_refused():
    with pytest.raises(AutosearchError, match="too many to learn"):
        task_of([f"name {i}" for i in range(100)])


@pytest.mark.parametrize("columns, expected", [
    (["a", "b", "Label"], "Label"),
    (["TARGET", "b", "c"], "TARGET"),
    (["y", "x"], "y"),
    (["a", "b", "c"], "c"),
])
def test_target_choice(columns, expected):
    frame = pd.DataFrame([[1, 2, 3][: len(columns)]], columns=columns)
    chosen, reason = choose_targets(frame, ())
    assert chosen == (expected,) and reason


def test_requested_target_must_exist():
    with pytest.raises(AutosearchError, match="--target 'nope' is not a column"):
        choose_targets(pd.DataFrame({"a": [1], "b": [2]}), ("nope",))


def test_task_override_is_checked():
    five = pd.DataFrame({"y": [0, 1, 2, 3, 4]})
    with pytest.raises(AutosearchError, match="--task binary needs a target with 2 distinct values"):
        check_task(Task.BINARY, five)
    with pytest.raises(AutosearchError, match="--task regression needs numeric"):
        check_task(Task.REGRESSION, pd.DataFrame({"y": ["a", "b", "c"]}))
    check_task(Task.MULTICLASS, five)  # allowed: integers can be classes


def test_override_keeps_the_inferred_reason():
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=40), "y": list(range(40))})
    prof, _, _ = profile(frame, ("y",), task="multiclass")
    assert prof.task is Task.MULTICLASS and "would have inferred regression" in prof.task_reason


def test_rows_with_missing_target_are_dropped_with_a_message():
    frame = pd.DataFrame({"x": range(30), "y": [0, 1, None] * 10})
    prof, kept, messages = profile(frame, ("y",))
    assert len(kept) == 20 and prof.n_rows == 20 and len(kept.features) == 20
    assert any("dropped 10 rows with a missing target" in m for m in messages)


@pytest.mark.parametrize("y, message", [
    ([None] * 30, "is empty"),
    ([7] * 30, "single value"),
])
def test_unusable_targets(y, message):
    with pytest.raises(AutosearchError, match=message):
        profile(pd.DataFrame({"x": range(30), "y": y}), ("y",))


def test_feature_roles_drop_constant_and_id_like_columns():
    n = 50
    X = pd.DataFrame({
        "customer_id": range(1000, 1000 + n),  # all distinct, consecutive: an identifier
        "row": range(n),
        "rownames": np.random.default_rng(2).permutation(10 * n)[:n],  # R's row names of shuffled rows
        "email": [f"user{i}@example.com" for i in range(n)],  # all distinct text
        "country": ["fr", "de"] * (n // 2),
        "constant": [1] * n,
        "empty": [None] * n,
        "age": np.random.default_rng(0).integers(18, 90, n),
        "income": np.random.default_rng(1).normal(size=n),  # all distinct floats are normal
        "member": [True, False] * (n // 2),
    })
    numeric, categorical, _, _, dropped = feature_roles(X)
    dropped = dict(dropped)
    assert set(dropped) == {"customer_id", "row", "rownames", "email", "constant", "empty"}
    assert "ID-like" in dropped["customer_id"] and dropped["constant"] == "constant"
    assert set(numeric) == {"age", "income"}
    assert set(categorical) == {"country", "member"}


def test_date_columns_are_read_as_dates_even_when_every_value_is_distinct():
    n = 40
    days = pd.date_range("2024-01-01", periods=n, freq="D")
    X = pd.DataFrame({
        "when": days.strftime("%Y-%m-%d"),  # all distinct text: an ID, were it not dates
        "stamp": days + pd.Timedelta(hours=6),  # Parquet's timestamps arrive as datetime64
        "us_style": days.strftime("%m/%d/%Y"),
        "code": [f"{i}-{i}-x" for i in range(n)],  # a date's separators, not a date
        "same_day": ["2024-01-01"] * n,
    })
    numeric, categorical, text, dates, dropped = feature_roles(X)
    assert dates == ("when", "stamp", "us_style")
    assert dict(dropped) == {"code": "ID-like: every value distinct text", "same_day": "constant"}


def test_classes_seen_once_are_dropped_and_rare_ones_kept_with_a_message():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=103), "y": ["neg"] * 50 + ["pos"] * 50 + ["odd", "odd", "one"]})
    prof, data, _, messages = profile_raw(RawData("t", frame=frame), ("y",))
    assert len(data.target) == 102 and set(data.target["y"]) == {"neg", "pos", "odd"}  # 'odd' (2 samples) kept
    assert prof.task is Task.MULTICLASS and prof.rare_classes == ("one",)
    assert any(m.startswith("dropped 1 sample of 1 class seen only once ('one' 1)") for m in messages)
    assert any("kept 1 class with fewer than 10 samples ('odd' 2)" in m for m in messages)
    many = pd.DataFrame({"x": rng.normal(size=60), "y": [f"c{i % 12}" for i in range(60)]})  # 12 classes of 5
    prof, data, _, messages = profile_raw(RawData("t", frame=many), ("y",))
    assert len(data.target) == 60 and prof.task is Task.MULTICLASS


def test_a_test_file_loses_its_samples_of_the_classes_dropped_as_seen_once(tmp_path):
    from autosearch.config import make_config
    from autosearch.prepare import prepare
    from autosearch.progress import Progress

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=101), "y": ["a"] * 50 + ["b"] * 50 + ["c"]})
    frame.to_csv(tmp_path / "train.csv", index=False)
    pd.concat([frame.iloc[[0, 60]], frame.iloc[[100]]]).to_csv(tmp_path / "test.csv", index=False)  # 'c' too
    prep = prepare(tmp_path / "train.csv", make_config(target=("y",), test=tmp_path / "test.csv",
                                                       output=tmp_path / "out"), Progress(quiet=True))
    assert prep.profile.task is Task.BINARY and prep.profile.rare_classes == ("c",)
    assert prep.codec.classes_ == ["a", "b"] and len(prep.split.test.target) == 2


@pytest.mark.slow
def test_a_class_of_a_few_samples_is_learnt_by_every_fold_and_every_baseline(tmp_path):
    """A 6-sample class of 7 (as a 189-sample table had): kept, in the training part of every fold, and the
    SVM baseline (whose probabilities are calibrated on folds of its own) still fits."""
    from autosearch.budget import fit_classical
    from autosearch.config import make_config
    from autosearch.prepare import prepare
    from autosearch.progress import Progress

    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c", "d", "e", "f"], [40, 35, 30, 30, 25, 23]).tolist() + ["g"] * 6
    x = rng.normal(size=(len(labels), 3)) + np.array([ord(c) - 97 for c in labels])[:, None]
    frame = pd.DataFrame(x, columns=["p", "q", "r"]).assign(y=labels)
    frame.to_csv(tmp_path / "seven.csv", index=False)
    prep = prepare(tmp_path / "seven.csv", make_config(target=("y",), output=tmp_path / "out"),
                   Progress(quiet=True))
    assert "g" in prep.codec.classes_ and prep.profile.rare_classes == ()
    folds = prep.folds
    g = prep.codec.classes_.index("g")
    assert all((folds.y[fit] == g).any() for fit, _ in folds.splits)  # every fold trains on class g
    found = {line.name: record for record, _, line in fit_classical(["linear", "svm"], folds, None, lambda: None)}
    assert all(r.state.value == "complete" for r in found.values()), {n: r.error for n, r in found.items()}


def test_a_date_beside_one_series_per_row_is_dropped_and_the_table_stays_a_series_set():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 12)), columns=[f"t{i}" for i in range(12)])
    frame["when"] = pd.date_range("2024-01-01", periods=40).strftime("%Y-%m-%d")
    frame["y"] = rng.choice(["a", "b"], 40)
    prof, _, _, messages = profile_raw(RawData("s", frame=frame), ("y",))
    assert prof.kind.value == "sequence" and prof.dates == () and "when" in dict(prof.dropped)
    assert "dropped feature 'when': a date beside one series per row" in messages
