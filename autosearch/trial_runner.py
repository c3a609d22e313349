"""One network trial, the same for every engine: named, trained on every fold, cut short or failed, logged,
stored with its out-of-fold predictions.

An engine proposes a family and parameters; the runner names the trial (`<family>-<number>`), opens its
MLflow run, trains it (`train_trial`: the first fold with the engine's per-epoch callbacks, which may prune
it, then the other folds), turns a cut-short or failed outcome into its record, closes the MLflow run and
keeps the record and its predictions in the run's `TrialStore`. A trial that trains in another process (a Ray
worker) is started and finished here, and trained there by the same `train_trial`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from autosearch.errors import describe
from autosearch.leaderboard import ranked
from autosearch.problem import Folds, Problem
from autosearch.processes import worker_id
from autosearch.progress import Progress
from autosearch.records import CandidateKind, State, TrialRecord, WarmConfig
from autosearch.restart import MemoryWatch, too_much
from autosearch.spaces import SearchSpace
from autosearch.stopping import Stop, settled
from autosearch.trial_store import TrialStore


def trial_name(family: str, number: int) -> str:
    """
    >>> trial_name("dense", 7)
    'dense-007'
    """
    return f"{family}-{number:03d}"


@dataclass(frozen=True)
class Started:
    """A trial that has begun: its name and MLflow run."""

    name: str
    family: str
    params: Mapping[str, Any]
    number: int
    run_id: str | None
    began: float  # time.monotonic()


@dataclass(frozen=True, eq=False)
class Trained:
    """A trial's outcome where it trained: its record (not yet named), its predictions of each fold's own
    samples (NaN where none), whether it counts toward the trial total, and the weights of its fold models
    (one list of arrays per fold that completed; cross-validated trials only)."""

    record: TrialRecord
    predictions: np.ndarray | None
    counts: bool
    fold_weights: list[list[np.ndarray]] | None = None


FOLD_SEED = 100_003  # fold i trains with the trial's seed + i * FOLD_SEED
RACE_FIELD = 2  # racing starts once this many networks have a first-fold score (the third trial races)…
RACE_KEEP = 3  # …and a trial goes on to its other folds only among the best third of them (successive halving)
RACED = "raced out"  # the note of a trial stopped after its first fold


def race(score: float, others: Sequence[float], greater_is_better: bool) -> str | None:
    """Successive halving over folds: why a trial whose first fold scored `score` stops there (it ranks below
    the best third of the first-fold scores `others` of earlier trials and its own), or None to go on.

    >>> race(0.70, [0.90, 0.85, 0.80, 0.60], True)
    'raced out after its first fold: 0.7000 ranks 4th of 5 first folds (the best 2 go on)'
    >>> race(0.88, [0.90, 0.85, 0.80, 0.60], True) is None
    True
    """
    field = [s for s in others if math.isfinite(s)]
    if len(field) < RACE_FIELD or not math.isfinite(score):
        return None
    rank = 1 + sum(1 for s in field if (s > score if greater_is_better else s < score))
    keep = math.ceil((len(field) + 1) / RACE_KEEP)
    if rank <= keep:
        return None
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(rank if rank < 20 else rank % 10, "th")
    return (f"{RACED} after its first fold: {score:.4f} ranks {rank}{suffix} of {len(field) + 1} first folds "
            f"(the best {keep} go on)")


class FirstFoldScores:
    """The first-fold scores of a run's networks, one a trial, that a cross-validated trial races against
    (`race`): those reported before its own. A trial that reports again (it runs again after its Ray worker
    died) races against the others, not against its first try.

    >>> scores = FirstFoldScores([0.9, 0.5], greater_is_better=True)
    >>> scores.race("a", 0.85) is not None, scores.race("a", 0.85) is not None  # counted once: raced out again
    (True, True)
    """

    def __init__(self, earlier: Sequence[float], greater_is_better: bool):
        self.earlier, self.scores, self.greater_is_better = list(earlier), {}, greater_is_better

    def race(self, trial: str, score: float) -> str | None:
        self.scores.pop(trial, None)
        why = race(score, [*self.earlier, *self.scores.values()], self.greater_is_better)
        self.scores[trial] = score
        return why


LAYER_SECONDS = 0.01  # copying a fold model and tracing its prediction, per layer (`kept_seconds`)…
RECURRENT_SECONDS = 0.15  # …and per recurrent loop, whose trace takes longer (a GRU's: 0.08-0.17 s a fold model)
KEPT_FOLD_MODELS = 8  # the best networks whose fold models are kept (at least stopping.POOL, the candidates whose
                      # refits the budget keeps time for; an ensemble's members are nearly always among them)


def train_trial(space: SearchSpace, params: Mapping[str, Any], folds: Folds, *, seed: int,
                stop: Stop | None = None, callbacks: Sequence = (), prune_signals: tuple = (),
                max_epochs: int | None = None, raced: Callable[[float], str | None] | None = None,
                seconds: float | None = None) -> Trained:
    """Train one trial's network on each fold in turn, wherever the trial runs, and predict each fold's own samples;
    never raises for a failing trial. The first fold runs with the engine's `callbacks` (its per-epoch scores may
    prune the trial), stops early on its score (or on an inner split of its fit samples, `Folds.stopping_fold`) and
    decides: a trial that does not complete it ends there. The other folds train for the first fold's best epoch
    count, without scoring each epoch (measured on penguins, 5 folds: the four later folds took 1.0 s instead of
    2.3 s with early stopping of their own, whose patience trains epochs that are thrown away). A stop in a later fold
    keeps the folds that completed. The record's score is the metric on the out-of-fold predictions; its curves are
    the first fold's. `max_epochs` overrides the space's cap (Hyperband's round). `raced(first fold's score)` may
    stop a cross-validated trial after its first fold, as pruned, with why (`race`). With `seconds` (the trial's
    share of a budget, `budget.trial_seconds`), the first fold starts no epoch after its part of them (1/k), unless
    the trial is its family's starting point: the defaults, the recipe most likely to be the pick, train as long as
    they learn (capped, the 10,000-row table's first tabm trial scored 1.046 instead of 1.011).
    """
    from autosearch.spaces import is_starting_point
    from autosearch.training import Network, graph_size

    if max_epochs is not None:
        space = dataclasses.replace(space, max_epochs=max_epochs)
    if seconds is not None and is_starting_point(space, params, folds.first.context):
        seconds = None
    stopping = folds.stopping_fold()
    began = time.monotonic()
    network = Network(params, space, stopping, seed)
    built = time.monotonic() - began
    first = network.train(stopping, seed=seed, stop=stop, callbacks=list(callbacks), prune_signals=prune_signals,
                          seconds=None if seconds is None else seconds / folds.k)
    record = first.record("", space.family, params)
    if first.state is not State.COMPLETE:
        return Trained(record, None, first.counts)
    try:
        began = time.monotonic()
        oof = folds.place(None, 0, network.predict(folds.fold(0)))
        predicted = time.monotonic() - began
    except Exception as error:  # a failing trial must never end the sweep
        return Trained(dataclasses.replace(record, state=State.FAILED, val_score=None, error=describe(error)),
                       None, True)
    if folds.stopping is not None:  # it stopped on other samples than its own: scored on its own
        record = dataclasses.replace(record, val_score=folds.score(oof))
    record = dataclasses.replace(record, first_fold_score=record.val_score)
    behind = raced(record.val_score) if raced is not None and folds.k > 1 and not first.stopped else None
    if behind is not None:
        return Trained(dataclasses.replace(record, state=State.PRUNED, note=behind), None, True)
    weights = [network.model.get_weights()]  # the weights that predicted the fold: its best epoch's
    layers, recurrent = graph_size(network.model)
    seconds, cut, done = first.fit_seconds, first.stopped, 1
    for i in range(1, folds.k):
        if cut or (stop is not None and stop.requested):
            cut = cut or stop.why
            break
        fold = folds.fold(i)
        result = network.train(fold, seed=seed + i * FOLD_SEED, stop=stop, epochs=first.best_epoch + 1)
        seconds += result.fit_seconds
        if result.state is not State.COMPLETE or result.stopped:
            cut = result.stopped or f"fold {i + 1} failed: {result.error}"
            break
        try:
            oof = folds.place(oof, i, network.predict(fold))
        except Exception as error:
            cut = f"fold {i + 1} failed: {describe(error)}"
            break
        weights.append(network.model.get_weights())
        done += 1
    note = record.note if done == folds.k else f"cross-validated on {done} of {folds.k} folds ({cut})"
    score = record.val_score if folds.k == 1 else folds.score(oof)
    return Trained(dataclasses.replace(record, val_score=score, fit_seconds=seconds, folds=done, note=note,
                                       kept_seconds=kept_seconds(built, predicted, layers, recurrent, done)), oof, True,
                   weights)


def kept_seconds(built: float, predicted: float, layers: int, recurrent: int, folds: int) -> float:
    """What serving a network from its `folds` kept fold models takes (`kept_bag`, then its predictions of the test
    split), from its trial: building its network (`built` seconds), then for each fold model copying it and tracing
    its prediction, which grow with its `layers` (`LAYER_SECONDS` each) and its `recurrent` loops (a bidirectional
    layer's two; `RECURRENT_SECONDS` each), and predicting as many samples as its first fold's (`predicted`
    seconds). Against the real thing (`scripts/bench_kept.py`, 5 folds) it is 0.91-1.30x the time served (dense
    0.48 s, a GRU 1.42 s, two bidirectional GRU layers 4.26 s, resnet1d 3.15 s, resnet2d 2.09 s). The flat 2 s it
    replaced counted a forecast's small networks about threefold and a deep GRU's or resnet1d's short."""
    return built + folds * (predicted + LAYER_SECONDS * layers + RECURRENT_SECONDS * recurrent)


def train_bag(space: SearchSpace, params: Mapping[str, Any], problem: Problem, splits: Sequence[tuple], *,
              seed: int, epochs: int) -> tuple[Any, float, str | None]:
    """The fold models a trial was scored by, trained again as `train_trial` trained them (the same rows of
    `problem`'s fit samples, seeds and epoch count), served as one model that averages them (bagging, as
    AutoGluon serves its models): what is served is what the out-of-fold score measured, not a refit on
    more rows for an epoch count chosen on fewer. Returns the model (None if a fold failed), the training
    seconds and the error."""
    from autosearch.training import Network, average_of

    folds = [problem.fitting_on(fit) for fit, _ in splits]
    network = Network(params, space, folds[0], seed)
    models, seconds = [], 0.0
    for i, fold in enumerate(folds):
        result = network.train(fold, seed=seed + i * FOLD_SEED, epochs=epochs)
        seconds += result.fit_seconds
        if result.state is not State.COMPLETE:
            return None, seconds, result.error or result.state.value
        models.append(network.copy())
    try:
        return average_of(models), seconds, None
    except Exception as error:
        return None, seconds, describe(error)


def kept_bag(space: SearchSpace, params: Mapping[str, Any], problem: Problem, weights: list[list[np.ndarray]], *,
             seed: int) -> tuple[Any, str | None]:
    """The fold models a trial was scored by, built from their kept weights (`TrialStore.keep_fold_models`)
    instead of trained again, served as one model that averages them: exactly the models whose predictions
    made its out-of-fold score. Returns the model (None if it cannot be built) and the error."""
    from autosearch.training import Network, average_of

    network = Network(params, space, problem, seed)
    if network.model is None:
        return None, network.error
    models = []
    try:
        for fold in weights:
            network.model.set_weights(fold)
            models.append(network.copy())
        return average_of(models), None
    except Exception as error:
        return None, describe(error)


class TrialRunner:
    """Runs, logs and stores the network trials of one process's sitting, for any engine."""

    def __init__(self, folds: Folds, spaces: Sequence[SearchSpace], seed: int, stop: Stop, tracker,
                 store: TrialStore, progress: Progress, system_metrics: bool = False):
        self.folds, self.problem, self.spaces, self.seed = folds, folds.first, tuple(spaces), seed
        self.stop, self.tracker, self.store, self.progress = stop, tracker, store, progress
        self.system_metrics = system_metrics  # MLflow's monitor on the trial's run while it trains here
        self.memory = MemoryWatch()  # what trials trained here leave behind (a Ray worker's are its own)
        self.trial_seconds: float | None = None  # the most one trial trains (`budget.trial_seconds`), set per search
        self.warm: tuple[WarmConfig, ...] = ()  # the configurations a warm start runs first, to mark their trials

    def space(self, family: str) -> SearchSpace:
        return next(s for s in self.spaces if s.family == family)

    def start(self, family: str, params: Mapping[str, Any], number: int) -> Started:
        """Name the trial and open its MLflow run (the dashboard shows it running)."""
        name = trial_name(family, number)
        self.progress.trial_started(name)
        run_id = self.tracker.start_candidate(name, CandidateKind.NETWORK, family, params)
        return Started(name, family, dict(params), number, run_id, time.monotonic())

    def train(self, started: Started, *, callbacks: Sequence = (), prune_signals: tuple = (),
              max_epochs: int | None = None) -> TrialRecord | None:
        """Train a started trial in this process and finish it (see `finish`)."""
        seconds = self.trial_seconds  # a family's first trial here is not capped (keras-tuner's are not its defaults)
        networks = self.store.records(CandidateKind.NETWORK)
        if seconds is not None and not any(r.family == started.family for r in networks):
            seconds = None
        with self.tracker.system_metrics(started.run_id if self.system_metrics else None):
            trained = train_trial(self.space(started.family), started.params, self.folds,
                                  seed=self.seed + started.number, stop=self.stop, callbacks=callbacks,
                                  prune_signals=prune_signals, max_epochs=max_epochs, raced=self.raced,
                                  seconds=seconds)
        record = dataclasses.replace(trained.record, worker=worker_id())
        record = self.finish(started, record, trained.counts, trained.predictions, trained.fold_weights)
        self.stop.ask_restart(self.memory.exceeded())
        return record

    def raced(self, score: float) -> str | None:
        """Whether a trial of this process stops after a first fold that scored `score` (`race`), against the
        first folds of the networks the run holds."""
        networks = self.store.records(CandidateKind.NETWORK)
        others = [r.first_fold_score for r in networks if r.first_fold_score is not None]
        return race(score, others, self.problem.metric.greater_is_better)

    def worker_grew(self, grown_mb: float, trials: int, worker: str) -> None:
        """A Ray worker grew `grown_mb` over its `trials`: past the limit, this process asks to restart (its Ray
        workers end with it)."""
        self.stop.ask_restart(too_much(grown_mb, trials, f"Ray worker {worker.rsplit(':', 1)[0]}"))  # host:pid

    def run(self, family: str, params: Mapping[str, Any], number: int, **options) -> TrialRecord | None:
        """`start`, then `train`."""
        return self.train(self.start(family, params, number), **options)

    def finish(self, started: Started, record: TrialRecord, counted: bool = True,
               predictions: np.ndarray | None = None,
               fold_weights: list[list[np.ndarray]] | None = None) -> TrialRecord | None:
        """Log the trial's outcome, close its MLflow run and store its record, out-of-fold predictions and,
        among the best networks so far, its fold models' weights. Returns the stored record, or None for a
        trial that does not count (stopped before its first epoch ended: it runs again)."""
        warm = next((c.source for c in self.warm if c.matches(started.family, started.params)), None)
        record = dataclasses.replace(record, name=started.name, family=started.family, params=dict(started.params),
                                     number=started.number, warm_start=warm)
        self.tracker.end_candidate(started.run_id, record)
        record = record.with_run(started.run_id)
        if counted:
            self.store.save(record, predictions)
            kept = self._keep(record, fold_weights)
            self.stop.expect_refit(record, self.problem.metric.greater_is_better, kept=kept)
            if self.stop.settles:
                self.stop.settle(settled(self.store.records(CandidateKind.NETWORK), self.problem.metric))
        self.progress.trial_finished(record, counted, study_done=self.store.count())
        return record if counted else None

    def _keep(self, record: TrialRecord, fold_weights: list[list[np.ndarray]] | None) -> bool:
        """Keep the fold models of a network (its one model, scored on a holdout) that ranks among the
        `KEPT_FOLD_MODELS` best networks so far (dropping those of one it pushes out); whether it did."""
        if fold_weights is None or record.best_epoch is None or len(fold_weights) != record.folds * record.repeats:
            return False
        networks = ranked(self.store.records(CandidateKind.NETWORK), self.problem.metric)
        complete = [r for r in networks if r.state is State.COMPLETE]
        best = {r.name for r in complete[:KEPT_FOLD_MODELS]}
        if record.name not in best:
            return False
        try:  # only the networks this process saw fall out are dropped: another may have just kept a better one
            self.store.keep_fold_models(record.name, fold_weights, drop=[r.name for r in complete[KEPT_FOLD_MODELS:]])
            return True
        except Exception as error:  # too large for the database, a full disk: it is trained again if served
            self.progress.say(f"  the fold models of {record.name} were not kept ({describe(error, 120)})")
            return False

    def stopped(self, started: Started, scores: Sequence[float], note: str | None = None) -> TrialRecord | None:
        """Finish a trial ended from outside its training after `scores` (one per epoch): pruned by a
        scheduler; or, when the run is stopping, kept at its best epoch so far, as `train_network` keeps a
        trial it cuts short (and not counted if no epoch ended)."""
        scores = [float(s) for s in scores]
        record = TrialRecord(started.name, CandidateKind.NETWORK, started.family, started.params, State.PRUNED,
                             scores[-1] if scores else None, time.monotonic() - started.began, epochs=len(scores),
                             curves={"val_score": tuple(scores)}, number=started.number, note=note)
        if not self.stop.requested:
            return self.finish(started, record)
        if not scores:
            return self.finish(started, dataclasses.replace(
                record, state=State.FAILED, error=f"interrupted before its first epoch ended ({self.stop.why})"),
                counted=False)
        if not any(math.isfinite(s) for s in scores):
            return self.finish(started, dataclasses.replace(
                record, state=State.FAILED, error="validation score is NaN: the network's outputs are not finite"))
        best = self.problem.metric.best_index(scores)
        cut = f"cut short: {self.stop.why}"
        return self.finish(started, dataclasses.replace(record, state=State.COMPLETE, val_score=scores[best],
                                                        best_epoch=best, note=f"{cut}; {note}" if note else cut))

    def failed(self, started: Started, error: str, note: str | None = None) -> TrialRecord | None:
        """Finish a trial whose training raised where the runner could not catch it (a dead worker)."""
        return self.finish(started, TrialRecord(started.name, CandidateKind.NETWORK, started.family, started.params,
                                                State.FAILED, None, time.monotonic() - started.began, error=error,
                                                number=started.number, note=note))

    def lost(self, run_id: str | None, why: str, number: int | None = None) -> None:
        """A trial's process died before it ended: close its MLflow run as failed (it runs again)."""
        if run_id:
            self.tracker.fail_run(run_id, f"lost: {why}")
        self.progress.say(f"  trial {number if number is not None else ''} was lost ({why}); marked failed, "
                          "it runs again")
