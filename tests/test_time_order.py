"""Time-ordered tables: recognised by a date column at regular steps (or named with --time), then split and
validated in time order, so no model is chosen on samples older than those it learnt from."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from commands import autosearch_here

from autosearch.config import make_config
from autosearch.data.load import RawData
from autosearch.data.profile import profile
from autosearch.data.split import fold_rows, split_data, times
from autosearch.errors import AutosearchError
from autosearch.prepare import TIME_HOLDOUT, cv_folds


def series(n: int = 200, freq: str = "30min", ids: tuple[str, ...] = ("a",), seed: int = 0) -> pd.DataFrame:
    """`len(ids)` series side by side (long format), a step every `freq`: a trend, a daily cycle, noise."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-01-01", periods=n, freq=freq)
    frames = [pd.DataFrame({"when": stamps.strftime("%Y-%m-%d %H:%M"), "site": site,
                            "temperature": rng.normal(20, 5, n),
                            "load": np.arange(n) * 0.01 + np.sin(np.arange(n) / 8) + rng.normal(0, 0.1, n) + i})
              for i, site in enumerate(ids)]
    return pd.concat(frames, ignore_index=True)


def profiled(frame: pd.DataFrame, **options):
    return profile(RawData("t", frame=frame), ("load",), **options)


@pytest.mark.parametrize("shape, step", [
    ({}, "every 30 minutes"),
    ({"ids": ("a", "b", "c")}, "every 30 minutes"),  # long format: one row per series at every step
    ({"n": 60, "freq": "MS"}, "every ~30 days"),  # months of 28 to 31 days
    ({"n": 100, "freq": "B"}, "every day"),  # business days: a weekend is no gap in the series
])
def test_a_date_column_at_regular_steps_orders_the_rows_in_time(shape, step):
    prof, _, _, messages = profiled(series(**shape).sample(frac=1, random_state=0))  # in any order
    assert prof.time == "when" and step in prof.time_reason
    assert any(m.startswith("time-ordered: column 'when'") for m in messages)


def test_dates_spread_at_random_are_no_series_and_the_note_says_how_to_order_them():
    """Birth dates or events cover every day of a span, but with a varying number of rows a day."""
    rng = np.random.default_rng(0)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 100, 400), unit="D")
    frame = pd.DataFrame({"when": days.strftime("%Y-%m-%d"), "x": rng.normal(size=400), "load": rng.normal(size=400)})
    prof, _, _, messages = profiled(frame)
    assert prof.time is None
    assert any("irregular steps" in m and "--time when" in m for m in messages)
    assert profiled(frame, time="when")[0].time == "when"  # named: whatever its steps


def test_no_time_turns_the_order_off_and_time_can_name_a_step_number():
    frame = series()
    assert profiled(frame, no_time=True)[0].time is None
    numbered = frame.drop(columns="when").assign(step=np.arange(len(frame)))  # consecutive integers: "ID-like"
    prof = profiled(numbered)[0]
    assert prof.time is None and "step" in dict(prof.dropped)
    prof = profiled(numbered, time="step")[0]
    assert prof.time == "step" and "step" in prof.numeric and "step" not in dict(prof.dropped)


@pytest.mark.parametrize("options, message", [
    ({"time": "nosuch"}, "--time 'nosuch' is not a feature column"),
    ({"time": "load"}, "--time 'load' is not a feature column"),  # the target
    ({"time": "site"}, "--time 'site' holds neither dates nor numbers"),
])
def test_a_bad_time_column_is_refused_with_the_fix(options, message):
    with pytest.raises(AutosearchError, match=message):
        profiled(series(), **options)


def test_time_and_no_time_together_are_refused():
    with pytest.raises(AutosearchError, match="--time and --no-time contradict"):
        make_config(time="when", no_time=True)


@pytest.mark.parametrize("ids", [("a",), ("a", "b", "c")])
def test_splits_and_folds_never_train_on_the_future(ids):
    frame = series(150, ids=ids).sample(frac=1, random_state=1)
    prof, data, _, _ = profiled(frame)
    split, messages = split_data(data, prof, seed=0)
    train, val, test = (times(part, prof) for part in (split.train, split.val, split.test))
    assert train.max() < val.min() and val.max() < test.min()  # a step's series all on one side
    assert len(test) == pytest.approx(0.2 * len(frame), abs=len(ids))
    assert messages[0].startswith("split in time order")
    dev = split.train + split.val
    ordered = times(dev, prof)
    folds, how = fold_rows(dev, len(split.train), 4, 0, False, ordered)
    assert len(folds) == 4 and "forward-chaining" in how
    for fit, score in folds:
        assert ordered[fit].max() < ordered[score].min()
    scored = np.concatenate([score for _, score in folds])
    assert len(np.unique(scored)) == len(scored)  # each sample scored once at most
    assert ordered[scored].min() > ordered.min()  # the earliest stretch only ever trains
    holdout, _ = fold_rows(dev, len(split.train), None, 0, False, ordered)
    assert ordered[holdout[0][0]].max() < ordered[holdout[0][1]].min()
    assert cv_folds(make_config(time_budget="8h"), dev, prof, None) == (None, TIME_HOLDOUT)  # by default
    assert cv_folds(make_config(cv_folds=4), dev, prof, None) == (4, "")


def test_given_test_samples_are_the_future_and_the_run_says_where_they_are_not():
    prof, data, _, _ = profiled(series(100))
    order = np.argsort(times(data, prof))
    later, earlier = data.take(order[80:]), data.take(order[:80])
    split, notes = split_data(earlier, prof, 0, test=later)
    assert split.test_given and len(split.train) + len(split.val) == 80 and len(notes) == 1
    _, notes = split_data(later, prof, 0, test=earlier)
    assert "the --test samples begin at 2024-01-01 00:00:00, before the data ends" in notes[1]


@pytest.mark.slow
def test_a_fit_on_a_time_ordered_table_is_split_and_scored_in_time_order(tmp_path):
    frame = series(160, ids=("a", "b"))
    frame.to_csv(tmp_path / "load.csv", index=False)
    done = autosearch_here("fit", tmp_path / "load.csv", "--target", "load", "--output", tmp_path / "out",
                           "--trials", "2", "--max-epochs", "2", "--cv-folds", "3",
                           "--baselines", "linear,random_forest")
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "time-ordered: column 'when' steps every 30 minutes" in said
    assert "split in time order" in said and "3 forward-chaining folds" in said
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["profile"]["time"] == "when"
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    scored = board[board.state == "complete"]
    assert {"linear", "random_forest"} <= set(scored.name) and np.isfinite(scored.val_score).all()
    assert (scored.kind == "nn").any() and np.isfinite(summary["test_score"])
    shuffled = autosearch_here("fit", tmp_path / "load.csv", "--target", "load", "--output", tmp_path / "again",
                               "--trials", "1", "--max-epochs", "1", "--cv-folds", "3", "--baselines", "linear",
                               "--no-time")
    assert shuffled.returncode == 0, shuffled.stderr
    said = shuffled.stdout + shuffled.stderr
    assert "split in time order" not in said and "3-fold cross-validation" in said
    run = json.loads((tmp_path / "again" / "run.json").read_text())  # as autosearch wrote it before --time
    run["config"] = {k: v for k, v in run["config"].items() if k not in ("time", "no_time")}
    (tmp_path / "again" / "run.json").write_text(json.dumps(run))
    resumed = autosearch_here("resume", tmp_path / "again", "--trials", "2")
    assert resumed.returncode == 0, resumed.stderr
    said = resumed.stdout + resumed.stderr
    assert "split in time order" not in said and "split: " in said  # goes on with the split it began with
