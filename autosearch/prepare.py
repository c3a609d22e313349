"""Everything `fit` does before the first candidate trains: read and check the input, say what was inferred.

Fails fast, with one-line errors, before anything heavy is imported or anything is written.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from autosearch.config import RunConfig
from autosearch.data.dataset import Dataset
from autosearch.data.kinds import KINDS
from autosearch.data.load import RawData, load_data
from autosearch.data.profile import Profile, profile, rare_rows, shape_features
from autosearch.data.split import Split, fold_rows, split_data, times
from autosearch.errors import AutosearchError
from autosearch.metrics import Metric, default_metric, forecast_metric, get_metric
from autosearch.problem import Folds, Problem, make_folds
from autosearch.progress import Progress
from autosearch.runs import LOCK_FILE, RUN_FILE, RunState
from autosearch.spaces import SearchSpace, load_space, spaces_for
from autosearch.targets import TargetCodec
from autosearch.tasks import Task

RUNS_FOLDER = Path("autosearch-runs")
DEFAULT_FOLDS = 5
CV_MAX_ROWS = 10_000  # more training and validation samples than this: a holdout, unless --cv-folds
FEWER_FOLDS = 3  # with a time budget too short for 5 folds' trials, 3 before a holdout
FULL_TRIALS = 3.5  # the networks' part of a budget holds this many trials of all folds at least: with racing
                   # (trial_runner.race) most later ones stop after their first fold, about 5-6 trials in all
EPOCH_SHARE = 0.5  # the share of its epoch cap a trial trains, early stopping ending it (18-53 of 60 measured)
OVERHEAD_SECONDS = 25.0  # of a budget, not the candidates': start-up (~12 s: imports, TensorFlow, MLflow) and
                         # finishing (refits, bundle, MLflow Model, report)


@dataclass(frozen=True, eq=False)
class Prepared:
    """What `fit` knows once the input is read and checked: everything but the candidates."""

    name: str
    profile: Profile
    split: Split
    codec: TargetCodec
    metric: Metric
    metric_reason: str
    spaces: tuple[SearchSpace, ...]  # the families to search, the first choice first
    output: Path
    folds: Folds  # the development samples and how candidates are scored on them
    classical: tuple[str, ...]  # the classical candidates to fit, in the order they are fitted
    preprocessor: Any  # fitted on the development samples: the folds' views and the refit's (Folds.against)
    history: pd.DataFrame | None = None  # a forecast's table of series, as given (what `predict` takes)

    @property
    def problem(self) -> Problem:
        """The first fold (a holdout's only one): the task, metric and data facts every fold shares."""
        return self.folds.first

    def space(self, family: str) -> SearchSpace:
        return next(s for s in self.spaces if s.family == family)


def prepare(data: str | Path | pd.DataFrame, config: RunConfig, progress: Progress) -> Prepared:
    """Read and check everything the user gave; say what was inferred and why."""
    user_spaces = tuple(load_space(p) for p in config.spaces)  # a bad space file fails before the data is read
    raw = read(data)
    output = output_folder(config.output, raw.name)
    before = RunState.load(output)  # the run this fit continues, if any
    # a run begun before time-ordered splits (its settings have no `no_time`) goes on with its shuffled split
    shuffled_before = before is not None and "no_time" not in before.config
    prof, dataset, test, notes = profile(raw, config.targets, config.task, config.kind, config.time,
                                         config.no_time or shuffled_before, config.horizon, config.series,
                                         _backtests(config), config.seed, config.groups, config.known)
    (progress.warn if prof.target_guessed else progress.say)(f"target: {', '.join(prof.targets)} "
                                                             f"({prof.target_reason})")
    progress.say(f"task: {prof.task_name} ({prof.task_reason})")
    progress.say(f"kind: {prof.kind.value} ({prof.kind_reason})")
    if prof.forecast is not None:
        split, splits, how = _forecast_split(dataset, prof, config)
        for note in notes:
            progress.say(note)
        codec = TargetCodec(prof.task, tuple(dataset.target.columns), "as_is").fit(split.train.target)
        metric, metric_reason = forecast_metric(config.metric)
    else:
        if config.test is not None:
            test = _read_test(config.test, prof, notes, raw.frame[prof.groups] if prof.groups else None)
        split, split_notes = split_data(dataset, prof, config.seed, test)
        for note in notes + split_notes:
            progress.say(note)
        codec = _fit_codec(prof, dataset, test, split)
        metric, metric_reason = (
            (get_metric(config.metric, prof.task), "set with --metric") if config.metric
            else default_metric(prof.task, codec.class_ratio(split.train.target))
        )
    progress.say(f"metric: {metric.name} ({metric_reason})")
    classical = classical_candidates(config.baselines, prof)
    spaces = spaces_for(prof.kind.value, user_spaces)
    if config.max_epochs is not None:
        spaces = tuple(dataclasses.replace(s, max_epochs=config.max_epochs) for s in spaces)
    dev = split.train + split.val
    if prof.forecast is None:
        began = None if before is None else (before.folds or 0)  # 1: a holdout; 0: an earlier autosearch's
        k, why = cv_folds(config, dev, prof, spaces[0], began)
        if k is not None and dev.groups is not None and not config.cv_folds and k > dev.group_count:
            k, why = dev.group_count, "one fold a group: --groups leaves no more"
        splits, how = fold_rows(dev, len(split.train), k, config.seed, prof.task.single_label, times(dev, prof))
        how += f" ({why})" if why else ""
    progress.say(how)
    stopping, groups = None, None
    if prof.forecast is not None:
        from autosearch.data.forecast import stopping_split
        stopping, groups = stopping_split(dev, prof.forecast.horizon), dev.series
    folds, preprocessor = make_folds(dev, splits, prof, codec, metric, config.seed, stopping, groups)
    if prof.task is Task.REGRESSION and prof.forecast is None:
        codec, reason = target_transform(folds, dev, prof, split)
        progress.say(f"target transform: {codec.transform} ({reason})")
        folds = folds.encoded_by(codec, dev.target)
    return Prepared(raw.name, prof, split, codec, metric, metric_reason, spaces, output, folds, classical,
                    preprocessor, raw.frame if prof.forecast is not None else None)


def _backtests(config: RunConfig) -> int | None:
    """A forecast's backtests as asked: --holdout is one, else --backtests (None: the default)."""
    return 1 if config.holdout else config.backtests


def _forecast_split(windows, prof: Profile, config: RunConfig) -> tuple[Split, tuple, str]:
    """A forecast's split of its windows (data/forecast.split_windows) and its backtests over train+validation."""
    from autosearch.data.forecast import split_windows

    train, val, test, splits, how = split_windows(windows, prof.forecast.horizon, _backtests(config))
    return Split(train, val, test, stratified=False, test_given=False), splits, \
        f"split: {len(train)} train / {len(val)} validation / {len(test)} test windows; {how}"


TIME_HOLDOUT = ("time-ordered: the candidates are scored on the latest samples before the test split, trained on "
                "all before them, as AutoGluon's forecasting validates; --cv-folds K chains K folds forward")
# Measured (scripts/bench_time_order.py, 2 minutes): against 3 forward-chaining folds, the pick tested 431.6 vs
# 571.2 RMSE on births and 1.847 vs 2.012 on the cities' weather: early folds train on a few years only, and an
# ensemble weighted on their predictions put weight on models that did not hold up on the later months.
TRANSFORM_GAIN = 0.01  # a transform is used where the linear model's out-of-fold RMSE improves by 1 % or more
TRANSFORM_ROWS = 50_000  # the transform is chosen on at most this many rows a fold (ridge on 800,000: 7.5 s)


def target_transform(folds: Folds, dev: Dataset, prof: Profile, split: Split) -> tuple[TargetCodec, str]:
    """The regression target's transform for every candidate, with its reason: each one that applies (log1p
    for a non-negative target, quantile-normal with 100 samples or more) is tried on the ridge regression's
    out-of-fold predictions (of at most TRANSFORM_ROWS rows a fold), scored in the target's units; the best one
    is kept where it beats none by TRANSFORM_GAIN."""
    truth = folds.truth
    options = ["none"] + (["log1p"] if truth.min() >= 0 else []) + (["quantile"] if folds.rows >= 100 else [])
    if len(prof.targets) > 1 or len(options) == 1:
        return folds.first.codec, "a single, standardised target" if len(options) == 1 else \
            "several targets: each standardised"
    x, rmse, codecs = folds.views[KINDS[prof.kind].baseline_view], {}, {}
    rng = np.random.default_rng(0)
    splits = [tuple(np.sort(rng.choice(r, min(len(r), TRANSFORM_ROWS), replace=False)) for r in split_rows)
              for split_rows in folds.splits]  # every fold, or the holdout's one; the same rows for every option
    for option in options:
        codec = codecs[option] = TargetCodec(prof.task, prof.targets, option).fit(split.train.target)
        y, predicted = codec.encode(dev.target), np.full((folds.rows, 1), np.nan)
        for fit, score in splits:
            predicted[score] = Ridge(alpha=1.0).fit(x[fit], y[fit]).predict(x[score]).reshape(-1, 1)
        scored = ~np.isnan(predicted[:, 0])
        rmse[option] = float(np.sqrt(np.mean((codec.scores(predicted[scored]) - truth[scored]) ** 2)))
    best = min(options, key=lambda o: (rmse[o], o != "none"))
    if best != "none" and rmse[best] > (1 - TRANSFORM_GAIN) * rmse["none"]:
        best = "none"
    shown = ", ".join(f"{o} {rmse[o]:.4g}" for o in options)
    return codecs[best], f"out-of-fold RMSE of a ridge regression: {shown}"


def classical_candidates(asked: tuple[str, ...], prof: Profile) -> tuple[str, ...]:
    """The classical candidates a run fits, in its kind's order: `asked` (--baselines), else all of the kind's;
    the dummy always, the common-sense reference every candidate is compared to."""
    offered = KINDS[prof.kind].baselines
    unknown = [n for n in asked if n not in offered]
    if unknown:
        raise AutosearchError(f"--baselines '{unknown[0]}' is not a classical candidate on {prof.kind.value} data; "
                              f"use some of {', '.join(offered)}")
    from autosearch.baselines import CLASSICAL
    return tuple(n for n in offered if not asked or n in asked or CLASSICAL[n].family == "dummy")


def cv_folds(config: RunConfig, dev: Dataset, prof: Profile, first: SearchSpace, began: int | None = None
             ) -> tuple[int | None, str]:
    """How many folds score the candidates (None: a holdout), and why where it is not the default.

    --cv-folds or --holdout; else as a resumed run `began` (its folds, 1 for a holdout; 0 for a run of an
    earlier autosearch, which chose by rows only, as a search shared through --storage does); else a holdout
    for a time-ordered table (TIME_HOLDOUT); else 5 up to
    CV_MAX_ROWS training and validation samples where a time budget's networks' part holds FULL_TRIALS trials
    of 5 folds (estimated from the kind's cost an epoch, `KindSpec.epoch_seconds`), 3 where it holds them of 3,
    and a holdout otherwise. Measured: on 10,000 rows at 2 minutes a 5-fold trial took 68 s and the search ran
    one.
    """
    if config.holdout:
        return None, ""
    if config.cv_folds:
        return config.cv_folds, ""
    rows = len(dev)
    if began:
        return (None if began == 1 else began), "as the run began"
    if prof.time is not None:
        return None, TIME_HOLDOUT
    if rows > CV_MAX_ROWS:
        return None, f"more than {CV_MAX_ROWS:,} samples; --cv-folds K cross-validates them"
    if config.time_budget is None or began == 0 or config.storage:  # --storage: processes in other folders, with
        return DEFAULT_FOLDS, ""  # budgets of their own, share the search: by rows only, every one of them agrees
    from autosearch.budget import CLASSICAL_SHARE

    networks = max(config.time_budget - OVERHEAD_SECONDS, 0.0) * (1 - CLASSICAL_SHARE)
    spec = KINDS[prof.kind]
    epoch = spec.epoch_seconds * spec.units(np.shape(dev.features)[1:]) * first.max_epochs * EPOCH_SHARE
    trial = {k: epoch * rows * (k - 1) for k in (DEFAULT_FOLDS, FEWER_FOLDS)}  # k folds of (k-1)/k of the rows
    fits = [k for k, seconds in trial.items() if FULL_TRIALS * seconds <= networks]
    if fits and fits[0] == DEFAULT_FOLDS:
        return DEFAULT_FOLDS, ""
    why = (f"a {DEFAULT_FOLDS}-fold trial is estimated at {trial[DEFAULT_FOLDS]:.0f}s of the networks' "
           f"~{networks:.0f}s of the budget: too few trials; --cv-folds K asks for K folds")
    return (fits[0] if fits else None), why


def read(data: str | Path | pd.DataFrame) -> RawData:
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise AutosearchError("the DataFrame is empty; pass one with feature and target columns")
        return RawData("dataframe", frame=data.rename(columns=str))
    return load_data(data)


def _read_test(path: Path, prof: Profile, notes: list[str], groups: pd.Series | None = None) -> Dataset:
    """The --test file, shaped like the data; it becomes the test split. `groups`: the data's --groups column,
    whose values the file's are compared with."""
    raw = load_data(path, image_size=prof.image_size, color_mode=prof.color_mode)
    if raw.is_table and groups is not None and groups.name in raw.frame.columns:
        notes.append(_shared_groups(groups, raw.frame[groups.name]))
    if raw.is_table:
        missing = [c for c in prof.targets if c not in raw.frame.columns]
        if missing:
            raise AutosearchError(f"--test file '{path}' lacks the target column(s) {', '.join(missing)}; "
                                  "give it the same columns as the data")
        target = raw.frame[list(prof.targets)]
    else:
        y = np.asarray(raw.y)
        target = pd.DataFrame(y.reshape(len(y), -1), columns=list(prof.targets))  # same names as the data's
    keep = target.notna().all(axis=1).to_numpy()
    if not keep.any():
        raise AutosearchError(f"--test file '{path}' has no sample with a target value; fill in its target")
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} test samples with a missing target")
    keep = keep & ~rare_rows(target, prof, notes)
    if not keep.any():
        raise AutosearchError(f"--test file '{path}' holds only classes too rare to learn; give it samples of the "
                              "others")
    features = shape_features(raw, prof)
    return Dataset(features, target).take(np.flatnonzero(keep))


def _shared_groups(data: pd.Series, test: pd.Series) -> str:
    """What to say of the --test file's groups (--groups): whether the data holds some of them too (its score is
    then partly for groups the models saw)."""
    shared = set(data.dropna()) & set(test.dropna())
    if not shared:
        return f"the --test samples' groups ({data.name}) are none of the data's: the test scores unseen groups"
    return (f"the --test file shares {len(shared)} of its groups ({data.name}) with the data: its score is partly "
            "for groups the models saw; give a test file of other groups for a score on unseen ones")


def _fit_codec(prof: Profile, data: Dataset, test: Dataset | None, split: Split) -> TargetCodec:
    """Class vocabularies come from every labelled sample; a regression target's scale from training samples only."""
    if prof.task.is_classification:
        rows = data.target if test is None else pd.concat([data.target, test.target], ignore_index=True)
    else:
        rows = split.train.target
    return TargetCodec(prof.task, prof.targets).fit(rows)


def output_folder(requested: Path | None, name: str) -> Path:
    """The folder results go to: new, or empty; refuses one that holds files (nothing there is touched)."""
    if requested is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder, n = RUNS_FOLDER / f"{name}-{stamp}", 1
        while folder.exists():
            folder, n = RUNS_FOLDER / f"{name}-{stamp}-{n}", n + 1
    else:
        folder = requested
        holds_run = (folder / RUN_FILE).exists()  # then this fit continues it (api.py checks it is the same)
        other = folder.is_dir() and any(p.name != LOCK_FILE for p in folder.iterdir())
        if folder.exists() and (not folder.is_dir() or (other and not holds_run)):
            raise AutosearchError(f"output folder '{folder}' already holds files that are not an autosearch run; "
                                  "pass a new --output (nothing there was changed)")
    nearest = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not os.access(nearest, os.W_OK):
        raise AutosearchError(f"cannot create output folder '{folder}' (no write access); pass another --output")
    return folder
