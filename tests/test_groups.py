"""--groups: rows that belong together (a person, a patient, a store) stay on one side of every split and fold,
so that the scores, and the pick, are for groups the model never saw."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from commands import autosearch_here

from autosearch.config import make_config
from autosearch.data.load import RawData
from autosearch.data.profile import profile
from autosearch.data.split import fold_rows, split_data
from autosearch.errors import AutosearchError


def people(n_people: int = 30, rows_each: int = 8, seed: int = 0) -> pd.DataFrame:
    """A few rows a person; what each row says of its person (`height`) predicts `score` far better for a person
    already seen than for a new one, as on R's `Train` table, where rows of one person sat on both sides."""
    rng = np.random.default_rng(seed)
    person = np.repeat([f"p{i:02d}" for i in range(n_people)], rows_each)
    base = np.repeat(rng.normal(0, 3, n_people), rows_each)
    height = np.repeat(rng.normal(170, 10, n_people), rows_each)
    dose = rng.uniform(0, 1, len(person))
    return pd.DataFrame({"person": person, "height": height, "dose": dose,
                         "score": base + 2 * dose + rng.normal(0, 0.3, len(person)),
                         "responded": np.where(base + dose > 0.5, "yes", "no")})


def profiled(frame: pd.DataFrame, target: str = "score", **options):
    return profile(RawData("t", frame=frame), (target,), groups="person", **options)


def test_a_rare_class_whose_groups_are_few_still_lands_in_validation_and_test():
    frame = people(40)
    frame["rare"] = np.where(frame.person.isin(["p00", "p01", "p02", "p03", "p04", "p05"]), "rare", "common")
    prof, data, _, _ = profiled(frame, "rare")
    split, said = split_data(data, prof, seed=0)
    assert all(set(part.target.rare) == {"rare", "common"} for part in (split.train, split.val, split.test))
    assert said[0].endswith("classes balanced as whole groups allow")


def test_the_folds_fit_the_groups_and_a_test_file_sharing_groups_is_said(tmp_path):
    from autosearch.bagging import can_repeat
    from autosearch.prepare import prepare
    from autosearch.progress import Progress

    frame = people(8)
    frame[frame.person >= "p06"].to_csv(tmp_path / "test.csv", index=False)  # p06, p07: groups the data has too
    frame.to_csv(tmp_path / "people.csv", index=False)
    said = []
    progress = Progress(quiet=True)
    progress.say = said.append
    prep = prepare(tmp_path / "people.csv", make_config(target="score", groups="person", test=tmp_path / "test.csv",
                                                        output=tmp_path / "out"), progress)
    assert any("the --test file shares 2 of its groups (person) with the data" in line for line in said)
    assert prep.folds.k == 5  # 8 groups: the default folds
    held = people(8)[lambda f: f.person < "p05"]  # 5 people: 4 for train and validation
    held.to_csv(tmp_path / "few.csv", index=False)
    said.clear()
    prep = prepare(tmp_path / "few.csv", make_config(target="score", groups="person", output=tmp_path / "few"),
                   progress)
    dev_groups = len(set(prep.split.train.groups) | set(prep.split.val.groups))
    assert prep.folds.k == dev_groups < 5 and any("one fold a group" in line for line in said)
    assert not can_repeat(prep.folds, True, dev_groups) and can_repeat(prep.folds, True, dev_groups + 1)


@pytest.mark.parametrize("target, k", [("score", 5), ("responded", 3)])
def test_no_split_or_fold_divides_a_group_and_the_group_is_no_feature(target, k):
    frame = people()
    prof, data, _, notes = profiled(frame, target)
    assert prof.groups == "person" and "person" not in prof.features and "height" in prof.features
    assert "--groups person: 30 groups; no split divides a group" in notes
    split, said = split_data(data, prof, seed=0)
    whose = [set(part.groups) for part in (split.train, split.val, split.test)]
    assert all(not a & b for i, a in enumerate(whose) for b in whose[i + 1:]) and sum(map(len, whose)) == 30
    assert said[0].startswith("split by group: ") and not split.stratified
    dev = split.train + split.val
    folds, how = fold_rows(dev, len(split.train), k, seed=0, stratify=prof.task.single_label)
    assert len(folds) == k and "by group" in how
    for fit, score in folds:
        assert not set(dev.groups[fit]) & set(dev.groups[score])
    assert sorted(np.concatenate([score for _, score in folds]).tolist()) == list(range(len(dev)))


def test_a_missing_group_is_a_group_of_its_own():
    frame = people()
    frame.loc[[0, 9], "person"] = None  # one row of p00, one of p01
    prof, data, _, notes = profiled(frame)
    assert "--groups person: 32 groups (2 rows without one: a group of its own)" in notes[0]
    assert len(set(data.groups)) == 32


@pytest.mark.parametrize("n_people, groups, message", [
    (30, "who", "--groups names column 'who', which the data lacks"),
    (30, "score", "--groups names the target 'score'"),
    (3, "person", r"--groups names 3 groups; autosearch needs at least 4 \(train, validation and test each"),
])
def test_a_bad_groups_column_is_refused_with_the_fix(n_people, groups, message):
    with pytest.raises(AutosearchError, match=message):
        frame = people(n_people, 240 // n_people)
        prof, data, _, _ = profile(RawData("t", frame=frame), ("score",), groups=groups)
        split_data(data, prof, seed=0)


def test_more_folds_than_groups_and_groups_beside_time_or_a_forecast_are_refused():
    prof, data, _, _ = profiled(people(6))
    split, _ = split_data(data, prof, seed=0)
    with pytest.raises(AutosearchError, match=r"--cv-folds 5 asks for more folds than the \d groups"):
        fold_rows(split.train + split.val, len(split.train), 5, seed=0, stratify=False)
    with pytest.raises(AutosearchError, match="--groups and --time split the rows two ways"):
        make_config(groups="person", time="when")
    with pytest.raises(AutosearchError, match="--groups does not apply to a forecast"):
        make_config(groups="person", horizon=3)
    with pytest.raises(AutosearchError, match="--groups names a column of a table; this data is no table"):
        profile(RawData("t", X=np.zeros((30, 4)), y=np.arange(30) % 2), (), groups="person")


@pytest.mark.slow
def test_a_fit_by_group_is_scored_on_unseen_groups_and_predicts_without_the_group_column(tmp_path):
    people(24, 6).to_csv(tmp_path / "people.csv", index=False)
    done = autosearch_here("fit", tmp_path / "people.csv", "--target", "score", "--groups", "person",
                           "--output", tmp_path / "out", "--trials", "1", "--max-epochs", "2",
                           "--baselines", "linear")
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "--groups person: 24 groups" in said and "split by group: " in said
    assert "5-fold cross-validation by group" in said
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["profile"]["groups"] == "person" and "person" not in summary["profile"]["numeric"]
    people(3, 2, seed=1).drop(columns=["person", "score"]).to_csv(tmp_path / "new.csv", index=False)
    predicted = autosearch_here("predict", tmp_path / "out" / "model", tmp_path / "new.csv")
    assert predicted.returncode == 0 and len(predicted.stdout.splitlines()) == 1 + 6, predicted.stderr
    changed = autosearch_here("fit", tmp_path / "people.csv", "--target", "score", "--output", tmp_path / "out",
                              "--trials", "1", "--max-epochs", "2", "--baselines", "linear")
    assert changed.returncode != 0 and "groups 'person' → None" in changed.stderr
