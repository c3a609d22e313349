"""Train one network on a Problem: the piece every search engine shares.

Imports Keras at module level: import this module only where training happens.
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import keras
import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from autosearch.errors import describe
from autosearch.models import build_model, device_name, input_view, set_precision
from autosearch.models.layers import MemberLoss
from autosearch.problem import Problem
from autosearch.records import CandidateKind, State, TrialRecord
from autosearch.spaces import SearchSpace
from autosearch.stopping import Stop
from autosearch.tasks import Head, head_for, network_scores

PREDICT_BATCH = 4096


def predict_rows(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's raw output for `x`, in chunks through the compiled predict step.

    `model.predict` sets up an epoch iterator on every call (~90 ms on our CPU machines);
    `predict_on_batch` on a few large chunks costs ~3 ms for a validation split.
    """
    chunks = [keras.ops.convert_to_numpy(model.predict_on_batch(x[i:i + PREDICT_BATCH]))
              for i in range(0, len(x), PREDICT_BATCH)]
    return np.concatenate(chunks) if chunks else np.empty((0,))


def training_feed(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> dict[str, Any]:
    """`fit` arguments for the training rows.

    On the TensorFlow backend, a cached, shuffled `tf.data` pipeline: later epochs ran in 69 ms
    instead of 155 ms with numpy arrays (digits, batch 32). Other backends get the arrays.
    """
    if keras.backend.backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": True}
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return {"x": data.prefetch(tf.data.AUTOTUNE), "shuffle": False}  # the pipeline shuffles itself


class EpochScorer(keras.callbacks.Callback):
    """After each epoch, scores the score rows with the selection metric.

    Writes ``val_loss`` and ``val_score`` into the epoch's logs, so the callbacks after it
    (early stopping, pruning) see them, and keeps every epoch's logs as curves.
    """

    def __init__(self, problem: Problem, x_score: np.ndarray, loss: keras.losses.Loss):
        super().__init__()
        self.problem, self.x_score, self.loss = problem, x_score, loss
        self.curves: dict[str, list[float]] = {"loss": [], "val_loss": [], "val_score": []}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        raw = predict_rows(self.model, self.x_score)
        logs["val_loss"] = float(keras.ops.convert_to_numpy(self.loss(self.problem.y_score, raw)))
        score = self.problem.score(network_scores(self.problem.task, raw))
        logs["val_score"] = score
        for key in self.curves:
            self.curves[key].append(float(logs.get(key, math.nan)))
        if not math.isfinite(score):  # to early stopping, the worst score (NaN would become its best)
            logs["val_score"] = -math.inf if self.problem.metric.greater_is_better else math.inf


class Stopper(keras.callbacks.Callback):
    """Ends training after the current batch once the sweep must wind down (budget spent, or a signal).

    The Stop calls `halt` (from its signal handler or deadline timer), which sets `model.stop_training`;
    Keras checks that after every batch, so no Python runs between batches. Keras still ends the
    interrupted epoch (the scorer scores it); `first_epoch_cut` says whether no whole epoch had ended.
    """

    def __init__(self, stop: Stop):
        super().__init__()
        self.stop, self.stopped, self.epochs_done, self.first_epoch_cut = stop, False, 0, False

    def halt(self) -> None:
        if not self.stopped:
            self.stopped, self.first_epoch_cut = True, self.epochs_done == 0
            self.model.stop_training = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.stop.requested:
            self.halt()
        self.stop.watch(self.halt)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs_done += 1
        if self.stop.requested:
            self.halt()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.stop.unwatch()


class TimeCap(keras.callbacks.Callback):
    """Ends training at the end of the first epoch that ends `seconds` after training began (a trial's share of
    the budget, `budget.trial_seconds`); early stopping then restores the best epoch's weights."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.reached, self._began = seconds, False, 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._began = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        last = epoch + 1 >= self.params.get("epochs", math.inf)  # the cap did not stop the last epoch's trial
        if time.perf_counter() - self._began >= self.seconds and not self.model.stop_training and not last:
            self.reached, self.model.stop_training = True, True


@dataclass
class TrainResult:
    model: Any
    state: State
    val_score: float | None
    fit_seconds: float
    best_epoch: int | None
    curves: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    stopped: str | None = None  # why the sweep's Stop ended training early, if it did
    capped: float | None = None  # the time cap (seconds) that ended training early, if it did

    @property
    def counts(self) -> bool:
        """Whether the trial counts toward the total: not when a stop cut it before its first epoch ended
        (it runs again)."""
        return not (self.stopped and self.state is State.FAILED)

    def record(self, name: str, family: str, params: Mapping[str, Any], number: int | None = None) -> TrialRecord:
        epochs = len(self.curves.get("loss", ()))
        note = f"cut short: {self.stopped}" if self.stopped and self.state is State.COMPLETE else None
        if self.capped is not None and self.state is State.COMPLETE and note is None:
            note = f"stopped at its time cap ({self.capped:.0f}s) after {epochs} epoch{'s' * (epochs != 1)}"
        return TrialRecord(
            name=name, kind=CandidateKind.NETWORK, family=family, params=dict(params), state=self.state,
            val_score=self.val_score, fit_seconds=self.fit_seconds, epochs=epochs, best_epoch=self.best_epoch,
            error=self.error, curves={k: tuple(v) for k, v in self.curves.items()}, number=number, note=note,
            device=device_name(),
        )


def freeze_heap() -> None:
    """Each trial's clear_session() runs gc.collect(); with TensorFlow and MLflow loaded that scans ~0.34 s
    of long-lived objects. Freezing them first makes it ~1 ms."""
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def frozen_heap():
    """`freeze_heap` for the length of a search."""
    freeze_heap()
    try:
        yield
    finally:
        gc.unfreeze()


def make_optimizer(params: Mapping[str, Any], steps: int = 1) -> keras.optimizers.Optimizer:
    """The trial's optimizer; `schedule: cosine` decays its learning rate to 0 over `steps` (the most
    batches the trial may train for); `adamw` decays weights by `weight_decay` (decoupled from the loss)."""
    name = str(params.get("optimizer", "adam"))
    rate: Any = float(params.get("learning_rate", 1e-3))
    if params.get("schedule") == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(int(steps), 1))
    config: dict[str, Any] = {"learning_rate": rate}
    if name in ("sgd", "rmsprop") and "momentum" in params:
        config["momentum"] = float(params["momentum"])
    if name == "adamw":
        config["weight_decay"] = float(params.get("weight_decay", 0.0))
    return keras.optimizers.get({"class_name": name, "config": config})


def make_loss(head: Head, params: Mapping[str, Any]) -> keras.losses.Loss:
    """The head's loss, with the trial's label smoothing for classification (the huber loss works on the
    standardised target: squared within 1 standard deviation, linear beyond)."""
    smoothing = float(params.get("label_smoothing", 0.0)) if head.loss.endswith("crossentropy") else 0.0
    return MemberLoss(head.loss, head.units, label_smoothing=smoothing)


def class_weights(params: Mapping[str, Any], problem: Problem) -> dict[int, float] | None:
    if params.get("class_weight") != "balanced" or not problem.task.single_label:
        return None
    present = np.unique(problem.y_fit)
    weights = compute_class_weight("balanced", classes=present, y=problem.y_fit)
    return {int(c): float(w) for c, w in zip(present, weights)}


class AfterWarmup(keras.callbacks.Callback):
    """An engine's per-epoch callbacks (pruning, a scheduler's reports), told of epochs from `start` on only:
    no trial is pruned on scores from before its network could have learnt anything. A callback with
    ``reports_warmup = True`` hears of the earlier epochs too, with ``warming_up`` set in their logs (Ray's
    reports: a scheduler's epochs must be the network's, and its rungs must not see warm-up scores)."""

    def __init__(self, callbacks: Sequence[keras.callbacks.Callback], start: int):
        super().__init__()
        self.callbacks, self.start = list(callbacks), start

    def set_model(self, model) -> None:
        super().set_model(model)
        for callback in self.callbacks:
            callback.set_model(model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        warming_up = epoch < self.start
        for callback in self.callbacks:
            if not warming_up:
                callback.on_epoch_end(epoch, logs)
            elif getattr(callback, "reports_warmup", False):
                callback.on_epoch_end(epoch, {**(logs or {}), "warming_up": True})


def _callbacks(problem: Problem, space: SearchSpace, scorer: EpochScorer | None,
               extra: Sequence[keras.callbacks.Callback], stopper: Stopper | None, warmup: int,
               cap: TimeCap | None = None) -> list:
    """In order: score the epoch, stop on NaN, stop early on the score (not before `warmup` epochs), the
    engine's own (from then on too), the trial's time cap, the sweep's stop."""
    found: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN()]
    if scorer is not None:
        found = [scorer, *found, keras.callbacks.EarlyStopping(
            monitor="val_score", mode=problem.metric.mode, patience=space.patience, restore_best_weights=True,
            start_from_epoch=warmup)]
    found += [AfterWarmup(extra, warmup)] if warmup and extra else list(extra)
    return found + ([cap] if cap else []) + ([stopper] if stopper else [])


class Network:
    """One trial's network, built and compiled once, then trained on one fold after another.

    Between folds its weights and optimizer state go back to their values before the first fold, so each
    fold trains from the same start without the model being built and traced again: on small data that
    set-up (~1 s on our CPUs) would cost more than a fold's epochs. Never raises for a failing trial: an
    error in building it is the outcome of its first `train`.
    """

    def __init__(self, params: Mapping[str, Any], space: SearchSpace, problem: Problem, seed: int):
        keras.backend.clear_session()
        set_precision()  # clear_session resets the dtype policy (and it is per thread; Ray trains in a new one)
        keras.utils.set_random_seed(seed)
        self.params, self.space, self.view = params, space, input_view(space.family, params)
        self.model, self.error, self._start, self.warmup = None, None, None, 0
        try:
            head = head_for(problem.task, problem.codec.n_outputs, params.get("loss"))
            self.loss = make_loss(head, params)
            self.model = build_model(space.family, params, problem.fit_views[self.view].shape[1:], head,
                                     problem.facts)
            self.batch_size = space.batch_size(params, len(problem.y_fit))
            batches = math.ceil(len(problem.y_fit) / self.batch_size)
            self.warmup = space.warmup_epochs(batches)
            self.model.compile(optimizer=make_optimizer(params, batches * space.max_epochs), loss=self.loss)
            # Built eagerly, the optimizer's slots cost ~0.3 s less than when built while tracing step one.
            self.model.optimizer.build(self.model.trainable_variables)
        except Exception as error:  # a failing trial must never end the sweep
            self.error = describe(error)

    def _from_the_start(self) -> None:
        """Weights and optimizer state as before the first fold (kept on the first call)."""
        optimizer = self.model.optimizer
        if self._start is None:
            self._start = ([keras.ops.convert_to_numpy(v) for v in self.model.weights],
                           [keras.ops.convert_to_numpy(v) for v in optimizer.variables])
            return
        weights, state = self._start
        self.model.set_weights(weights)
        for variable, value in zip(optimizer.variables, state):
            variable.assign(value)

    def train(self, problem: Problem, *, seed: int, callbacks: Sequence[keras.callbacks.Callback] = (),
              prune_signals: tuple[type[BaseException], ...] = (), stop: Stop | None = None,
              epochs: int | None = None, seconds: float | None = None) -> TrainResult:
        """Fit on the problem's fit samples, from the start; never raises for a failing trial.

        With `epochs` set (the final refit) it trains exactly that long and does not look at the
        score samples; otherwise it scores them every epoch, stops early on `val_score` and keeps the
        best epoch's weights. An exception in `prune_signals` (raised by an engine's callback)
        ends the trial as pruned; any other exception, or a NaN loss, as failed. When `stop` ends
        training early the trial keeps its best epoch so far, or fails if no epoch ended. With `seconds`,
        no epoch starts after that many seconds of training (`TimeCap`: the trial's share of the budget).
        """
        if self.model is None:
            return TrainResult(None, State.FAILED, None, 0.0, None, {}, error=self.error)
        keras.utils.set_random_seed(seed)
        scorer = EpochScorer(problem, problem.score_views[self.view], self.loss) if epochs is None else None
        stopper = Stopper(stop) if stop is not None else None
        cap = TimeCap(seconds) if seconds is not None and scorer is not None else None
        started = time.perf_counter()
        try:
            self._from_the_start()
            history = self.model.fit(
                **training_feed(problem.fit_views[self.view], problem.y_fit, self.batch_size, seed),
                epochs=epochs or self.space.max_epochs, class_weight=class_weights(self.params, problem),
                callbacks=_callbacks(problem, self.space, scorer, callbacks, stopper, self.warmup, cap), verbose=0,
            )
            fit_seconds = time.perf_counter() - started
            curves = scorer.curves if scorer else {"loss": [float(v) for v in history.history.get("loss", [])]}
            if stopper and stopper.first_epoch_cut:
                return TrainResult(None, State.FAILED, None, fit_seconds, None, curves, stopped=stop.why,
                                   error=f"interrupted before its first epoch ended ({stop.why})")
            if not curves["loss"] or not np.isfinite(curves["loss"][-1]):
                raise FloatingPointError("training loss became NaN or infinite (try a lower learning rate)")
            stopped = stop.why if stopper and stopper.stopped else None
            if scorer is None:
                return TrainResult(self.model, State.COMPLETE, None, fit_seconds, len(curves["loss"]) - 1, curves,
                                   stopped=stopped)
            scores = np.asarray(curves["val_score"], dtype=float)
            # the weights early stopping kept: the best epoch from the warm-up on (the last, if it never ended)
            considered = scores[self.warmup:] if len(scores) > self.warmup else scores[-1:]
            if not np.isfinite(considered).any():
                raise FloatingPointError("validation score is NaN: the network's outputs are not finite")
            best = len(scores) - len(considered) + problem.metric.best_index(considered)
            return TrainResult(self.model, State.COMPLETE, float(scores[best]), fit_seconds, best, curves,
                               stopped=stopped, capped=seconds if cap and cap.reached else None)
        except prune_signals:
            curves = scorer.curves if scorer else {}
            return TrainResult(None, State.PRUNED, _last_score(curves), time.perf_counter() - started, None, curves)
        except Exception as error:  # a failing trial must never end the sweep
            curves = scorer.curves if scorer else {}
            return TrainResult(None, State.FAILED, None, time.perf_counter() - started, None, curves,
                               error=describe(error))

    def copy(self) -> keras.Model:
        """The network as trained so far, as a model of its own (later training does not change it)."""
        model = keras.models.clone_model(self.model)
        model.set_weights(self.model.get_weights())
        return model

    def predict(self, problem: Problem) -> np.ndarray:
        """Its output on the problem's score samples, in the training space."""
        return network_scores(problem.task, predict_rows(self.model, problem.score_views[self.view]))


def train_network(params: Mapping[str, Any], space: SearchSpace, problem: Problem, *, seed: int,
                  **options) -> TrainResult:
    """Build one network and train it once (see `Network.train` for the options)."""
    return Network(params, space, problem, seed).train(problem, seed=seed, **options)


def graph_size(layer: keras.layers.Layer) -> tuple[int, int]:
    """A model's top-level layers and its recurrent loops (a bidirectional layer runs two), nested ones included:
    what copying it and tracing its prediction grow with (`trial_runner.kept_seconds`)."""
    return len(getattr(layer, "layers", ())), _loops(layer)


def _loops(layer: keras.layers.Layer) -> int:
    if isinstance(layer, keras.layers.RNN):
        return 1
    if isinstance(layer, keras.layers.Bidirectional):
        return 2
    return sum(_loops(inner) for inner in getattr(layer, "layers", ()))


def average_of(models: Sequence[keras.Model]) -> keras.Model:
    """One model whose output is the mean of `models`' outputs (bagging: fold models served as one); saved
    and loaded as one `.keras` file.
    """
    if len(models) == 1:
        return models[0]
    inputs = keras.Input(shape=models[0].input_shape[1:], dtype=models[0].input.dtype, name=models[0].input.name)
    outputs = [keras.Model(m.input, m.output, name=f"fold_{i}")(inputs) for i, m in enumerate(models)]
    return keras.Model(inputs, keras.layers.Average(dtype="float32")(outputs), name=f"bag_of_{len(models)}")


def _last_score(curves: Mapping[str, list[float]]) -> float | None:
    scores = curves.get("val_score") or []
    return float(scores[-1]) if scores else None


def predict_network(model: keras.Model, problem: Problem, family: str, params: Mapping[str, Any]) -> np.ndarray:
    """A trained network's output on the score samples, in the training space."""
    return network_scores(problem.task, predict_rows(model, problem.score_views[input_view(family, params)]))
