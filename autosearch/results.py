"""The end of a fit: refit the winner, score it once on test, write the bundle, the leaderboard and the
summary, and close the MLflow parent run."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from autosearch import report
from autosearch.baselines import fit_baseline
from autosearch.budget import PLAN_KEY
from autosearch.bundle import Bundle, Member, save_bundle
from autosearch.config import RunConfig
from autosearch.data.forecast import forecast_example
from autosearch.data.profile import GUESSED
from autosearch.ensemble import ahead_on_their_samples, blend
from autosearch.errors import AutosearchError, describe
from autosearch.files import write_atomic
from autosearch.inspection import inspect_model
from autosearch.leaderboard import best_of, to_frame, winner
from autosearch.metrics import every_score
from autosearch.prepare import Prepared
from autosearch.problem import Problem
from autosearch.progress import Progress
from autosearch.records import State, TrialRecord
from autosearch.redact import redact
from autosearch.stopping import REFIT_FACTOR, REPORT_SECONDS, Stop, kept_refit_seconds
from autosearch.summary import Candidate, RunSummary
from autosearch.trial_runner import kept_bag, train_bag
from autosearch.trial_store import TrialStore


@dataclass(frozen=True)
class FitResult:
    output_dir: Path
    bundle_path: Path
    leaderboard: pd.DataFrame
    winner: TrialRecord
    metric: str
    test_score: float
    summary: RunSummary
    mlflow_run_id: str

    def predict(self, data: str | Path | pd.DataFrame) -> pd.DataFrame:
        return Bundle.load(self.bundle_path).predict(data)


@dataclass(frozen=True, eq=False)
class Refitted:
    """Candidates refitted on train+validation (one preprocessing for all of them), and their outputs on the
    test split (training space)."""

    problem: Problem  # fit: train+validation; score: the test split
    preprocessor: Any
    models: dict[str, Any]
    outputs: dict[str, np.ndarray]
    fit_seconds: float  # inside fit, all of them
    failed: dict[str, str] = dataclasses.field(default_factory=dict)  # candidate -> why its refit failed

    def score(self, weights: Mapping[str, float]) -> float:
        """The test score of the members' blend (one member of weight 1: that candidate's)."""
        return self.problem.score(blend(self.outputs, weights))


def refit(candidates: Sequence[TrialRecord], prep: Prepared, seed: int,
          bag: Collection[str] | None = None, fold_models: Callable[[str], list | None] | None = None,
          serve_kept: Collection[str] = ()) -> Refitted:
    """Refit candidates on train+validation and predict the test samples once. A baseline is fitted on all of
    those samples. A network is served as its score measured it: scored on a holdout, the model the search
    trained on the training split (kept, as `serve_kept` names it, or else trained again there with the trial's
    seed and epoch count); scored by cross-validation, its fold models averaged: those the search kept
    (`fold_models(name)`, see `TrialStore.keep_fold_models`), else trained again (`trial_runner.train_bag`)
    where `bag` names it (others, with no time for their fold models, and a network cut short after its first
    fold, are fitted on all samples for their best epoch count). A candidate whose refit fails is left out,
    with why."""
    problem, preprocessor = prep.folds.against(prep.split.test, prep.preprocessor), prep.preprocessor
    models, outputs, failed, seconds = {}, {}, {}, 0.0
    for record in candidates:
        if record.kind == "baseline":
            fitted, model, output = fit_baseline(record.name, problem, record.params.get("fit_rows"))
            state, error, fit_seconds = fitted.state, fitted.error, fitted.fit_seconds
        else:
            from autosearch.training import predict_network, train_network
            space, trial_seed = prep.space(record.family), seed + (record.number or 0)
            weights = fold_models(record.name) if fold_models and (record.bagged or record.name in serve_kept) \
                else None
            model = None
            if weights is not None and len(weights) == record.folds * record.repeats:  # built, not trained
                model, error = kept_bag(space, record.params, problem, weights, seed=trial_seed)
                state, fit_seconds = State.COMPLETE, 0.0
            holdout = prep.folds.k == 1  # trained again as the search trained it, on the training split
            if model is None and record.repeats > 1:  # its splits' fold models are served as kept, or not at all
                failed[record.name] = "the fold models of its splits were not kept"
                continue
            if model is None and (holdout or record.bagged and (bag is None or record.name in bag)):
                model, fit_seconds, error = train_bag(space, record.params, problem,
                                                      prep.folds.splits[:record.folds], seed=trial_seed,
                                                      epochs=record.best_epoch + 1)
                state = State.COMPLETE if model is not None else State.FAILED
            elif model is None:
                result = train_network(record.params, space, problem, seed=trial_seed, epochs=record.best_epoch + 1)
                state, error, fit_seconds, model = result.state, result.error, result.fit_seconds, result.model
            output = predict_network(model, problem, record.family, record.params) if model is not None else None
        seconds += fit_seconds
        if state is not State.COMPLETE:
            failed[record.name] = error or state.value
            continue
        models[record.name], outputs[record.name] = model, output
    return Refitted(problem, preprocessor, models, outputs, seconds, failed)


def finish(records: list[TrialRecord], prep: Prepared, config: RunConfig, tracker, progress: Progress,
           started: float, timings: dict[str, float], stop: Stop, cut_short: str | None = None,
           data_sha256: str = "", store: TrialStore | None = None, set_aside: str | None = None) -> FitResult:
    """Refit the pick (a candidate, or the ensemble's members) and the best network and baseline, score them
    once on test, save the bundle and the leaderboard, close the parent run.

    What does not fit in the time budget is left out, and said: an ensemble whose members' refits would not
    fit gives way to the best single candidate; the best network and baseline are refitted for comparison
    only where time is left. `cut_short` says why the search ended early (a signal, the budget), if it did.
    Networks whose fold models the search kept in `store` are served from them, without training. With
    `set_aside` (why: `ensemble.networks_set_aside`) no network is the pick, alone or in the ensemble.
    """
    metric, prof, output = prep.metric, prep.profile, prep.output
    kept = store.kept() if store is not None else set()  # networks whose fold models are built, not trained
    cut = any(r.state is State.COMPLETE and r.folds < prep.folds.k for r in records)  # then read predictions
    ahead = ahead_on_their_samples(records, store.predictions(), prep.folds) if cut and store is not None else set()
    by_name = {r.name: r for r in records}
    pickable = [r for r in records if not (set_aside and r.kind == "nn")]
    win = winner(pickable, metric, ahead)
    if win is None:
        raise AutosearchError("no candidate completed, not even the baselines; check the data")
    alone = winner([r for r in pickable if r.kind != "ensemble"], metric, ahead)  # the best single candidate
    if win.kind == "ensemble" and not ensemble_fits([by_name[n] for n in win.params], alone, stop, kept):
        progress.say("the ensemble's members cannot all be refitted in the time left: the best single candidate "
                     "is the pick")
        records, win = [r for r in records if r.kind != "ensemble"], alone
    weights = dict(win.params) if win.kind == "ensemble" else {win.name: 1.0}
    names = sorted(weights, key=weights.get, reverse=True)
    best = []
    for candidate in (best_of(records, metric, "nn", ahead), best_of(records, metric, "baseline", ahead)):
        if candidate is not None and (candidate.name in names or stop.fits(
                _refit_seconds((by_name[n] for n in [*names, candidate.name]), False, kept))):
            best.append(candidate)
            names += [] if candidate.name in names else [candidate.name]
    progress.say(f"refitting {_describe(win, weights)} on train+validation"
                 + (f", and {', '.join(n for n in names if n not in weights)} to compare" if len(names) > len(weights)
                    else "") + ", and scoring them once on test")
    bag, serve_kept = _planned_refits([by_name[n] for n in names], stop, kept)
    single = [n for n in names if by_name[n].bagged and n not in bag]
    if single:
        progress.say(f"no time left to train the fold models of {', '.join(single)} again: refitted on all samples")
    served = [n for n in names if n in kept and by_name[n].bagged]
    if served:
        progress.say(f"{', '.join(served)}: served as the fold models the search trained and kept (no training)")
    if serve_kept:
        them = "them" if len(serve_kept) > 1 else "it"
        progress.say(f"{', '.join(n for n in names if n in serve_kept)}: served as the search trained {them} on the "
                     "training split and kept (scored on the holdout: no training)")
    again = [n for n in names if by_name[n].kind == "nn" and prep.folds.k == 1 and n not in serve_kept]
    if again:
        progress.say(f"{', '.join(again)}: trained again on the training split as the search trained "
                     f"{'them' if len(again) > 1 else 'it'} (scored on the holdout)")
    mark = time.monotonic()
    refitted = refit([by_name[n] for n in names], prep, config.seed, bag=bag,
                     fold_models=store.fold_models if kept else None, serve_kept=serve_kept)
    for name, error in refitted.failed.items():
        progress.say(f"refitting {name} on train+validation failed ({error})")
    if any(n in refitted.failed for n in weights):  # the pick cannot be served: the best single one that can
        fallback = winner([r for r in pickable if r.kind != "ensemble"], metric, ahead)
        if win.kind != "ensemble" or fallback is None or fallback.name not in refitted.models:
            raise AutosearchError(f"refitting the pick {win.name} on train+validation failed "
                                  f"({next(iter(refitted.failed.values()))})")
        progress.say(f"the best single candidate, {fallback.name}, is the pick")
        records = [r for r in records if r.kind != "ensemble"]
        win, weights = fallback, {fallback.name: 1.0}
    test_score, timings["refit_fit"] = refitted.score(weights), refitted.fit_seconds
    timings["refit"] = time.monotonic() - mark
    test_scores = {win.name: test_score, **{b.name: refitted.score({b.name: 1.0}) for b in best
                                            if b.name in refitted.outputs}}
    leaderboard = to_frame(records, metric, test_scores, ahead)
    members = [Member(n, by_name[n].kind, by_name[n].family, dict(by_name[n].params), w, refitted.models[n])
               for n, w in weights.items()]
    meta = {"task": prof.task.value, "kind": prof.kind.value, "targets": list(prof.targets),
            "classes": [str(c) for c in prep.codec.classes_], "metric": metric.name, "profile": prof.as_dict(),
            "winner": dataclasses.asdict(Candidate.of(win, with_params=True)), "test_score": test_score,
            "mlflow_run_id": tracker.parent_id}
    compared = [Member(b.name, b.kind, b.family, dict(b.params), 1.0, refitted.models[b.name]) for b in best
                if b.name not in weights and b.name in refitted.models]
    bundle = save_bundle(output / "model", preprocessor=refitted.preprocessor, codec=prep.codec, members=members,
                         meta=meta, compared=compared)
    write_atomic(output / "leaderboard.csv", leaderboard.to_csv(index=False))
    scores = prep.codec.scores(blend(refitted.outputs, weights))
    _save_predictions(output / report.PREDICTIONS_FILE, refitted.problem.truth, scores, prep.codec.classes_)
    model = {}
    served = Bundle(bundle, meta, refitted.preprocessor, prep.codec, members)  # in memory, as `Bundle.load` gives it
    if stop.fits(INSPECT_SECONDS) and prep.history is None:  # a forecast's samples are no rows to time or permute
        mark = time.monotonic()
        model = inspect_model(served, prep.split.test, metric, config.seed, stop.left())
        timings["inspect"] = time.monotonic() - mark
    mark = time.monotonic()
    logged = _log_model(served, prep, config, tracker, progress, scores, refitted.problem.truth, win,
                        test_scores, best_of(records, metric, "baseline", ahead), data_sha256)
    timings["mlflow_model"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - started
    warnings = cautions(records, win, prep)
    for warning in warnings:
        progress.warn(warning)
    plan = store.get(PLAN_KEY) if store is not None else None
    summary = _summary(records, win, test_scores, prep, tracker, cut_short, timings, warnings, model, logged, ahead,
                       json.loads(plan) if plan else {}, set_aside)
    files, folders = [output / "leaderboard.csv", summary.save(output)], {}
    if stop.left() < REPORT_SECONDS:
        progress.say(f"report not written: the time budget is spent; `autosearch report {output}` writes it")
    else:
        progress.say("writing the report")
        try:
            from autosearch.tracking import read_curves
            files.append(report.write(output, summary, records,
                                      lambda run_ids: read_curves(tracker.tracking_uri, run_ids)))
            folders[report.IMAGES_FOLDER] = output / report.IMAGES_FOLDER
        except Exception as error:  # the search's results stand without their report
            progress.say(f"report not written: {describe(error)}; `autosearch report {output}` retries")
    best_nn, best_baseline = summary.best_nn, summary.best_baseline
    tracker.finish_parent(
        metrics={"val_score": win.val_score, "test_score": test_score,
                 "best_nn_val_score": best_nn and best_nn.val_score,
                 "best_nn_test_score": best_nn and best_nn.test_score,
                 "best_baseline_val_score": best_baseline and best_baseline.val_score,
                 "best_baseline_test_score": best_baseline and best_baseline.test_score,
                 "seconds": timings["total"]},
        tags={"autosearch.winner": win.name, "autosearch.winner_family": win.family,
              "mlflow.note.content": _note(summary)},
        files=files, folders=folders,
    )
    progress.say(f"report: {output / report.REPORT_FILE}")
    progress.say(f"dashboard: autosearch ui {output}")
    return FitResult(output, bundle, leaderboard, win, metric.name, test_score, summary, tracker.parent_id)


def _log_model(served: Bundle, prep: Prepared, config: RunConfig, tracker, progress: Progress, scores: np.ndarray,
               truth: np.ndarray, win: TrialRecord, test_scores: Mapping[str, float],
               best_baseline: TrialRecord | None, data_sha256: str) -> dict[str, Any]:
    """Log the saved pick as the parent run's MLflow Model and, with --register, register it (`mlflow_model.py`);
    returns what summary.json says of it. A failure is said and leaves the run's results standing."""
    from autosearch import mlflow_model
    from autosearch.runs import fingerprint

    metric, test, bundle = prep.metric, prep.split.test, served.folder
    try:
        if prep.history is not None:  # a forecast takes a history table: its example is one series' latest steps
            features, example = prep.history, forecast_example(prep.history, prep.profile.forecast)
            predicted = served.predict(example)
        else:
            example = test.take(np.arange(min(mlflow_model.EXAMPLE_ROWS, len(test)))).features
            features, predicted = prep.split.train.features, prep.codec.decode(scores[:len(example)])
        logged = mlflow_model.log_pick(
            tracker.tracking_uri, tracker.parent_id, bundle, features, example, predicted,
            every_score(truth, scores, prep.profile.task, metric.name),
            tags={"autosearch.winner": win.name, "autosearch.family": win.family})
    except Exception as error:
        progress.warn(f"the pick was not logged as an MLflow Model ({describe(error)}); it is saved in {bundle}")
        return {}
    found = {"uri": logged.run_uri, "model_id": logged.model_id, "seconds": round(logged.seconds, 2)}
    progress.say(f"MLflow model: {logged.run_uri}")
    if not config.register:
        return found
    validation = f"{prep.folds.k}-fold" if prep.folds.k > 1 else "holdout"
    facts = {"autosearch.task": prep.profile.task_name, "autosearch.metric": metric.name,
             "autosearch.val_score": win.val_score, "autosearch.test_score": test_scores[win.name],
             "autosearch.winner": win.name, "autosearch.data_sha256": data_sha256,
             "autosearch.targets": ",".join(prep.profile.targets),
             "autosearch.test": f"--test {fingerprint(config.test)}" if config.test else "held out of the data",
             "autosearch.validation": f"{validation} seed {config.seed}",
             "autosearch.output": str(prep.output.resolve())}
    if best_baseline is not None:
        facts.update({"autosearch.best_baseline": best_baseline.name,
                      "autosearch.best_baseline_val_score": best_baseline.val_score,
                      "autosearch.best_baseline_test_score": test_scores.get(best_baseline.name)})
    try:
        registered = mlflow_model.register(
            tracker.tracking_uri, config.register, logged, tracker.parent_id, facts, metric.greater_is_better,
            description=f"{win.name} ({win.family}): validation {metric.name} {win.val_score:.4f}, "
                        f"test {test_scores[win.name]:.4f}")
    except AutosearchError as error:
        progress.warn(str(error))
        return found
    progress.say(f"registered as version {registered.version} of '{registered.name}', alias {registered.alias} "
                 f"({registered.why}): {registered.uri}")
    return {**found, "registered": dataclasses.asdict(registered) | {"uri": registered.uri}}


def _planned_refits(candidates: Sequence[TrialRecord], stop: Stop,
                    kept: Collection[str] = ()) -> tuple[set[str], set[str]]:
    """How the networks among `candidates` (most important first) are served: (the cross-validated networks
    served as their fold models: those kept by the search, and, in that order while the time left allows once a
    refit of every candidate is counted, those whose fold models can be trained again; the networks scored on a
    holdout that the search kept, served as it trained them). As a bag of fold models, a holdout network is
    served as its score measured it: a refit on train+validation for the best epoch count chosen on the holdout
    lands anywhere on a noisy curve (diamonds, 2 minutes: a dense net's validation RMSE 610, served 623 on test,
    refitted 728; on a 100,000-row table the refit's 25 % more rows gained 0.6 %, 1.032 vs 1.038)."""
    planned = _refit_seconds(candidates, False, kept)
    bagged = {r.name for r in candidates if r.name in kept and r.bagged}
    served = {r.name for r in candidates if r.name in kept and not r.bagged}
    for record in candidates:
        if record.bagged and record.name not in kept:
            extra = REFIT_FACTOR * (record.refit_seconds - record.one_fit_seconds)
            if stop.fits(planned + extra):
                bagged.add(record.name)
                planned += extra
    return bagged, served


CHEAP_REFIT = 1.0  # seconds of refits beyond the best single candidate's that never cost an ensemble its place


def ensemble_fits(members: Sequence[TrialRecord], single: TrialRecord | None, stop: Stop,
                  kept: Collection[str] = ()) -> bool:
    """Whether the ensemble's members can be refitted in the time left. The best single candidate, its
    fallback, is refitted anyway: only the members' refits beyond its own count, and where they take about a
    second (the common-sense and statistical forecasts, which learn nothing; a linear model) they always fit:
    writing the results keeps `stopping.FINISH_SECONDS` of slack (on usmelec at 2 minutes a forecast's
    ensemble of theta, ridge, the seasonal naive and extra trees, ~0.6 s of refits, gave way to ridge alone
    with 6 s left)."""
    extra = _refit_seconds(members, False, kept) - (_refit_seconds([single], False, kept) if single else 0.0)
    return extra <= CHEAP_REFIT or stop.fits(extra)


def _refit_seconds(records, bag: bool = True, kept: Collection[str] = ()) -> float:
    """What refitting `records` takes: a network whose fold models are `kept` is built, not trained."""
    return sum(REFIT_FACTOR * (kept_refit_seconds(r) if r.name in kept
                               else r.refit_seconds if bag else r.one_fit_seconds) for r in records)


def _describe(win: TrialRecord, weights: Mapping[str, float]) -> str:
    if win.kind != "ensemble":
        return f"the winner {win.name}"
    return "the winner, an ensemble of " + ", ".join(f"{n} ({w:.2f})" for n, w in weights.items())


INSPECT_SECONDS = 10.0  # what measuring the saved pick (size, prediction time) may need of the budget
CLEAR_GAIN = 0.01  # "clearly better" than the dummy: by 0.01 of a score, or 1 % of an error


def cautions(records: Sequence[TrialRecord], win: TrialRecord, prep: Prepared) -> list[str]:
    """What the user must not miss about a finished search: a target taken by position, and a pick that is
    not clearly better than the dummy baseline on validation (by CLEAR_GAIN: the features may not predict
    the target, or the target is the wrong column)."""
    prof, metric = prep.profile, prep.metric
    found = [f"the target '{prof.targets[0]}' was guessed ({prof.target_reason.removeprefix(GUESSED).strip()})"] \
        if prof.target_guessed else []
    dummy = next((r for r in records if r.kind == "baseline" and r.family == "dummy"
                  and r.state is State.COMPLETE and r.val_score is not None), None)
    if dummy is not None and win.name != dummy.name:
        # scores (accuracy, AUC, F1, R²) are on a 0–1 scale: 0.01 more; errors (RMSE, log loss): 1 % less
        bar = dummy.val_score + CLEAR_GAIN if metric.greater_is_better else dummy.val_score * (1 - CLEAR_GAIN)
        if not metric.better(win.val_score, bar):
            found.append(f"the pick {win.name} (validation {metric.name} {win.val_score:.4f}) is not clearly better "
                         f"than the dummy baseline, which ignores the features ({dummy.val_score:.4f}): the features "
                         f"may not predict '{', '.join(prof.targets)}'"
                         + ("; check the guessed target" if prof.target_guessed else ""))
    elif dummy is not None:
        found.append(f"the dummy baseline, which ignores the features, is the pick: nothing predicts "
                     f"'{', '.join(prof.targets)}' better than its {metric.name} {dummy.val_score:.4f}"
                     + ("; check the guessed target" if prof.target_guessed else ""))
    return found


def _summary(records: list[TrialRecord], win: TrialRecord, test_scores: Mapping[str, float], prep: Prepared,
             tracker, cut_short: str | None, timings: dict[str, float], warnings: list[str],
             model: Mapping[str, Any], mlflow_model: Mapping[str, Any], ahead: Collection[str] = (),
             plan: Mapping[str, Any] | None = None, set_aside: str | None = None) -> RunSummary:
    """summary.json: what scripts read (docs/guide/output.md)."""
    prof, metric = prep.profile, prep.metric
    return RunSummary(
        data=prep.name, target=prof.targets[0] if len(prof.targets) == 1 else list(prof.targets),
        target_reason=prof.target_reason, task=prof.task_name, task_reason=prof.task_reason,
        kind=prof.kind.value, kind_reason=prof.kind_reason, metric=metric.name, metric_reason=prep.metric_reason,
        greater_is_better=metric.greater_is_better, class_ratio=prep.problem.class_ratio,
        context=prep.problem.context,
        class_weight_searched=any("class_weight" in r.params for r in records if r.kind == "nn"),
        winner=Candidate.of(win, with_params=True), test_score=test_scores[win.name],
        best_nn=Candidate.of(best_of(records, metric, "nn", ahead), test_scores=test_scores),
        best_baseline=Candidate.of(best_of(records, metric, "baseline", ahead), test_scores=test_scores),
        trials={s.value: sum(r.kind == "nn" and r.repeats == 1 and r.state is s for r in records) for s in State},
        trial_fit_seconds=round(sum(r.fit_seconds for r in records if r.kind == "nn" and r.repeats == 1), 2),
        profile=prof.as_dict(), families=[s.family for s in prep.spaces], spaces=[s.as_dict() for s in prep.spaces],
        rows={"train": len(prep.split.train), "validation": len(prep.split.val), "test": len(prep.split.test)},
        mlflow_run_id=tracker.parent_id, mlflow_experiment=tracker.experiment,
        tracking_uri=redact(tracker.tracking_uri),  # run.json keeps it whole, to reconnect
        output_dir=str(prep.output.resolve()), bundle=str((prep.output / "model").resolve()),
        cut_short=cut_short, seconds={k: round(v, 2) for k, v in timings.items()}, folds=prep.folds.k,
        warnings=warnings, model=model, mlflow_model=mlflow_model, plan=plan or {}, peak_rss_mb=peak_rss_mb(),
        set_aside=set_aside,
    )


def peak_rss_mb() -> dict[str, float]:
    """The peak resident memory of this process and of the largest of its ended child processes (a classical
    candidate's), in MB."""
    import resource

    return {who: round(resource.getrusage(which).ru_maxrss / 1024, 1)
            for who, which in (("process", resource.RUSAGE_SELF), ("children", resource.RUSAGE_CHILDREN))}


def _note(summary: RunSummary) -> str:
    w = summary.winner
    return (f"**{summary.task}** on `{summary.target}`: winner **{w.name}** ({w.family}), "
            f"{validation(summary)} {summary.metric} {w.val_score:.4f}, test {summary.test_score:.4f}.\n\n"
            f"Task: {summary.task_reason}. Metric: {summary.metric_reason}.")


def validation(summary: RunSummary) -> str:
    """What the candidates' val_score is, in words."""
    return f"{summary.folds}-fold out-of-fold" if summary.folds > 1 else "validation"


def _save_predictions(path: Path, truth: np.ndarray, scores: np.ndarray, classes: list) -> None:
    """The pick's test outputs in the scoring space, for the report's diagnostic plots."""
    buffer = io.BytesIO()
    np.savez(buffer, truth=truth, scores=scores, classes=np.asarray([str(c) for c in classes]))
    write_atomic(path, buffer.getvalue())
