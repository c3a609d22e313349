"""Repeated k-fold bagging: with time left once the search is over, the best networks train again on new fold
splits, and each becomes a candidate of its own, its out-of-fold predictions averaged over every split and its
fold models over every split served as one (AutoGluon's `num_bag_sets`).

A network's out-of-fold score is measured on k fold models, each blind to the samples it predicts; a second
split gives every sample a second prediction from models equally blind to it, so the averaged predictions stay
out-of-fold and the score stays honest, while the averaged models vary less. Only shuffled k-fold
cross-validation can be split again: a holdout, time-ordered folds and a forecast's backtests cannot.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from autosearch.errors import describe
from autosearch.leaderboard import ranked
from autosearch.problem import Folds
from autosearch.records import CandidateKind, State, TrialRecord
from autosearch.stopping import REFIT_FACTOR, Stop

BASES = 3  # the best networks that are bagged again, best first
REPEATS = 5  # fold splits a bagged network is averaged over at most, its own included (AutoGluon's best_quality
             # bags over up to 20; each split costs the network's k fold trainings again)
REPEAT_SEED = 7_919  # split r (from 0, the search's own) is seeded with the run's seed + r * REPEAT_SEED
SUFFIX = "-bag"  # a bagged network's name: its network's and the splits it averages, e.g. dense-007-bag3


def bag_name(name: str, repeats: int) -> str:
    """
    >>> bag_name("dense-007", 3)
    'dense-007-bag3'
    """
    return f"{name}{SUFFIX}{repeats}"


@dataclass(frozen=True)
class Bagged:
    """A network bagged over several fold splits: its record, out-of-fold predictions and fold models' weights."""

    record: TrialRecord
    predictions: np.ndarray
    weights: list[list[np.ndarray]]


def can_repeat(folds: Folds, shuffled: bool, groups: int | None = None) -> bool:
    """Whether the folds can be split again: shuffled (no time order, no forecast) k-fold cross-validation, into
    other folds (not with one fold a group, `groups` being the development samples' number of --groups)."""
    return shuffled and folds.k > 1 and folds.k != groups


def bases(records: Sequence[TrialRecord], folds: Folds, kept: set[str], metric) -> list[TrialRecord]:
    """The networks to bag again, best first: complete on every fold, their fold models kept (a bag serves them),
    not bagged already, no more than BASES."""
    done = {r.name.rsplit(SUFFIX, 1)[0] for r in records if r.repeats > 1}
    networks = [r for r in ranked(records, metric) if r.kind is CandidateKind.NETWORK and r.state is State.COMPLETE
                and r.folds == folds.k and r.repeats == 1 and r.name in kept]
    return [r for r in networks[:BASES] if r.name not in done]


def repeat_seconds(record: TrialRecord) -> float:
    """What one more fold split of a network costs: its k fold trainings for its best epoch count."""
    return REFIT_FACTOR * record.one_fit_seconds * record.folds


def bag(record: TrialRecord, space, folds: Folds, splits: Callable[[int], tuple], oof: np.ndarray,
        weights: list[list[np.ndarray]], seed: int, stop: Stop) -> Iterator[Bagged | str]:
    """Train the network of `record` (its `oof` predictions and fold models' `weights` from the search) on new
    fold splits, `splits(r)` for r = 1, 2, …, each fold for its best epoch count, while another split fits the
    budget (`stop`); after each, the network bagged over the splits so far (or why it stopped: a failed fold).
    Never raises for a failing network."""
    from autosearch.training import Network
    from autosearch.trial_runner import FOLD_SEED

    total, models, seconds = oof.astype(np.float64), list(weights), record.fit_seconds
    network = None
    for r in range(1, REPEATS):
        if stop.requested or not stop.trains(repeat_seconds(record)):
            return
        split = folds.resplit(splits(r))
        network = network or Network(record.params, space, split.first, seed)
        if network.model is None:
            yield f"{record.name} could not be built again ({network.error})"
            return
        predictions = None
        for i in range(split.k):
            fold = split.fold(i)
            result = network.train(fold, seed=seed + r * REPEAT_SEED + i * FOLD_SEED, stop=stop,
                                   epochs=record.best_epoch + 1)
            seconds += result.fit_seconds
            if result.state is not State.COMPLETE or result.stopped:
                yield f"{record.name}'s split {r + 1} stopped: {result.stopped or result.error}"
                return
            try:
                predictions = split.place(predictions, i, network.predict(fold))
            except Exception as error:
                yield f"{record.name}'s split {r + 1} failed: {describe(error)}"
                return
            models.append(network.model.get_weights())
        total += predictions
        averaged = (total / (r + 1)).astype(np.float32)
        repeats = r + 1
        yield Bagged(dataclasses.replace(
            record, name=bag_name(record.name, repeats), val_score=folds.score(averaged), fit_seconds=seconds,
            repeats=repeats, first_fold_score=None, mlflow_run_id=None, warm_start=None,
            kept_seconds=None if record.kept_seconds is None else record.kept_seconds * repeats,  # its fold models
            note=f"{record.name} bagged over {repeats} splits into {record.folds} folds: out-of-fold predictions "
                 f"and fold models averaged over all of them"), averaged, list(models))


def bag_best(records: Sequence[TrialRecord], folds: Folds, store, spaces: Callable[[str], Any],
             splits: Callable[[int], tuple], seed: int, stop: Stop, say: Callable[[str], None],
             save: Callable[[Bagged], None]) -> int:
    """Bag the best networks of `records` again (`bases`), in turn, while the budget allows, and `save` each once
    its splits are done (a kill loses only the one in training); how many were saved."""
    kept, metric, saved = store.kept(), folds.first.metric, 0
    chosen = bases(records, folds, kept, metric)
    if chosen:
        say(f"time left after the search: bagging {', '.join(r.name for r in chosen)} over new fold splits")
    predictions = store.predictions()
    for record in chosen:
        weights = store.fold_models(record.name)
        if weights is None or len(weights) != record.folds or record.name not in predictions:
            continue
        began, last = time.monotonic(), None
        for outcome in bag(record, spaces(record.family), folds, splits, predictions[record.name], weights,
                           seed + (record.number or 0), stop):
            if isinstance(outcome, str):
                say(f"  {outcome}")
                break
            last = outcome
        if last is not None:
            save(last)
            saved += 1
            say(f"  {last.record.name}: val {metric.name} {last.record.val_score:.4f} (alone "
                f"{record.val_score:.4f}), {time.monotonic() - began:.0f}s")
    return saved
