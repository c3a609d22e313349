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

from autosearch import quantiles, report, stacking
from autosearch.baselines import fit_baseline
from autosearch.budget import PLAN_KEY
from autosearch.data.forecast import forecast_example
from autosearch.data.target import GUESSED
from autosearch.ensemble import ahead_on_their_samples, blend
from autosearch.errors import AutosearchError, describe
from autosearch.files import write_atomic
from autosearch.leaderboard import best_of, to_frame
from autosearch.metrics import every_score
from autosearch.prepare import Prepared
from autosearch.problem import Problem
from autosearch.records import CandidateKind, State, TrialRecord
from autosearch.redact import redact
from autosearch.refit_plan import RefitPlan, plan
from autosearch.run_context import RunContext
from autosearch.serving.bundle import Bundle, BundleMeta, Member, save_bundle
from autosearch.serving.inspection import inspect_model
from autosearch.stopping import REPORT_SECONDS
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

    def stacked(self, record: TrialRecord, model) -> Refitted:
        """With the stacker `record` names (its members refitted), `model` fitted on their out-of-fold outputs, as
        a model of its own and its output on the test split."""
        task, n_outputs = self.problem.task, self.problem.codec.n_outputs
        output = stacking.output(model, self.outputs, list(record.params), task, n_outputs)
        return dataclasses.replace(self, models={**self.models, record.name: model},
                                   outputs={**self.outputs, record.name: output})


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
        if record.kind is CandidateKind.BASELINE:
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


def finish(run: RunContext, records: list[TrialRecord], timings: dict[str, float], cut_short: str | None = None,
           set_aside: str | None = None) -> FitResult:
    """Refit the pick (a candidate, or the ensemble's members) and the best network and baseline, score them
    once on test, save the bundle and the leaderboard, close the parent run. What is refitted, and how, is
    `refit_plan.plan`'s (what does not fit in the time budget is left out, and said); this carries it out.
    `cut_short` says why the search ended early (a signal, the budget), if it did; with `set_aside` (why:
    `ensemble.networks_set_aside`) no network is the pick, alone or in the ensemble."""
    prep, progress, store = run.prep, run.progress, run.store
    kept = store.kept()  # networks whose fold models are built, not trained
    chosen = plan(records, prep.metric, prep.folds.k, run.stop, kept, _ahead(records, prep, store), set_aside)
    for note in chosen.notes:
        progress.say(note)
    mark = time.monotonic()
    refitted = refit([chosen.record(n) for n in chosen.refits], prep, run.config.seed, bag=chosen.bag,
                     fold_models=store.fold_models if kept else None, serve_kept=chosen.serve_kept)
    for name, error in refitted.failed.items():
        progress.say(f"refitting {name} on train+validation failed ({error})")
    if (fallen := chosen.fallback(refitted.failed, refitted.models)) is not chosen:
        chosen = fallen
        for note in chosen.notes:
            progress.say(note)
    if chosen.pick.family == stacking.FAMILY:  # its members refitted: the stacker fitted on their out-of-fold outputs
        refitted = refitted.stacked(chosen.pick, stacking.served(chosen.pick, store.predictions(), prep.folds,
                                                                 run.config.seed))
    weights = {chosen.pick.name: 1.0} if chosen.pick.name in refitted.outputs else chosen.weights
    timings["refit_fit"], timings["refit"] = refitted.fit_seconds, time.monotonic() - mark
    test_scores = {chosen.pick.name: refitted.score(weights),
                   **{b.name: refitted.score({b.name: 1.0}) for b in chosen.compared if b.name in refitted.outputs}}
    scores = prep.codec.scores(blend(refitted.outputs, weights))
    bands = _quantiles(run, chosen.pick, weights, scores, refitted.problem.truth)
    served, leaderboard = _save(run, chosen, refitted, scores, test_scores, bands)
    model = _inspect(run, served, timings)
    mark = time.monotonic()
    logged = _log_model(run, served, chosen, scores, refitted.problem.truth, test_scores)
    timings["mlflow_model"] = time.monotonic() - mark
    timings["total"] = time.monotonic() - run.started
    warnings = cautions(chosen.records, chosen.pick, prep)
    for warning in warnings:
        progress.warn(warning)
    summary = _summary(run, chosen, test_scores, timings, warnings, model, logged, cut_short, bands)
    files = [prep.output / "leaderboard.csv", summary.save(prep.output)]
    _close_parent(run, summary, *_report(run, summary, chosen.records, files))
    progress.say(f"report: {prep.output / report.REPORT_FILE}")
    progress.say(f"dashboard: autosearch ui {prep.output}")
    return FitResult(prep.output, served.folder, leaderboard, chosen.pick, prep.metric.name,
                     test_scores[chosen.pick.name], summary, run.tracker.parent_id)


def _ahead(records: Sequence[TrialRecord], prep: Prepared, store: TrialStore) -> set[str]:
    """The candidates a deadline cut short that are ahead on the samples they scored (`ensemble.py`): read from
    the stored predictions only where one was cut short."""
    cut = any(r.state is State.COMPLETE and r.folds < prep.folds.k for r in records)
    return ahead_on_their_samples(records, store.predictions(), prep.folds) if cut else set()


def _quantiles(run: RunContext, pick: TrialRecord, weights: Mapping[str, float], scores: np.ndarray,
               truth: np.ndarray) -> dict[str, Any]:
    """A forecast's quantiles (`quantiles.py`, --quantiles): each level's offsets from the pick's errors on its
    backtests (its members' out-of-backtest forecasts blended by their `weights`), and their scores on the test
    windows (`scores`: the pick's forecasts of them, `truth` their values, in the windows' units); empty where
    none were asked for or the pick's backtest forecasts are too few."""
    levels, prep = run.config.quantiles, run.prep
    if not levels or prep.profile.forecast is None:
        return {}
    stored = run.store.predictions()
    try:
        if any(name not in stored for name in weights):
            raise ValueError("no backtest forecasts stored")
        errors = prep.folds.truth - prep.codec.scores(blend({name: stored[name] for name in weights}, weights))
        found = quantiles.offsets(errors, levels)
    except ValueError as error:
        run.progress.warn(f"no quantile forecasts: {pick.name} has {error}")
        return {}
    windows = int(np.isfinite(errors).all(axis=1).sum())
    band = {"levels": list(levels), "offsets": found.round(6).tolist(), "backtest_windows": windows,
            "test_quantile_loss": round(quantiles.quantile_loss(truth, scores, found, levels), 6),
            "test_coverage": round(quantiles.coverage(truth, scores, found), 4) if len(levels) > 1 else None}
    shown = ", ".join(f"{level:g}" for level in levels)
    inside = (f", {band['test_coverage']:.0%} of the values between {levels[0]:g} and {levels[-1]:g}"
              if len(levels) > 1 else "")
    run.progress.say(f"quantiles {shown}: from {pick.name}'s errors on {windows} backtest windows; on test, scaled "
                     f"quantile loss {band['test_quantile_loss']:.4f}{inside}")
    return band


def _save(run: RunContext, chosen: RefitPlan, refitted: Refitted, scores: np.ndarray,
          test_scores: Mapping[str, float], bands: Mapping[str, Any]) -> tuple[Bundle, pd.DataFrame]:
    """Write the bundle (the pick's members, and the candidates refitted to compare), the leaderboard and the
    pick's test outputs; returns the bundle as `Bundle.load` gives it, and the leaderboard."""
    prep, prof, win = run.prep, run.prep.profile, chosen.pick

    def member(record: TrialRecord, weight: float) -> Member:
        return Member(record.name, record.kind, record.family, dict(record.params), weight,
                      refitted.models[record.name])

    members = [member(chosen.record(n), w) for n, w in chosen.weights.items()]
    if win.name in refitted.models and win.family == stacking.FAMILY:  # read by the bundle after its members
        members.append(Member(win.name, win.kind, win.family, {"inputs": list(win.params)}, 0.0,
                              refitted.models[win.name]))
    compared = [member(b, 1.0) for b in chosen.compared if b.name not in chosen.weights and b.name in refitted.models]
    meta = BundleMeta(prof.as_dict(), Candidate.of(win, with_params=True), prof.task.value, prof.kind.value,
                      tuple(prof.targets), tuple(str(c) for c in prep.codec.classes_), prep.metric.name,
                      test_scores[win.name], run.tracker.parent_id,
                      quantiles={k: bands[k] for k in ("levels", "offsets") if k in bands})
    folder = save_bundle(prep.output / "model", preprocessor=refitted.preprocessor, codec=prep.codec,
                         members=members, meta=meta, compared=compared)
    leaderboard = to_frame(chosen.records, prep.metric, test_scores, chosen.ahead)
    write_atomic(prep.output / "leaderboard.csv", leaderboard.to_csv(index=False))
    _save_predictions(prep.output / report.PREDICTIONS_FILE, refitted.problem.truth, scores, prep.codec.classes_)
    return Bundle(folder, meta, refitted.preprocessor, prep.codec, members), leaderboard


def _inspect(run: RunContext, served: Bundle, timings: dict[str, float]) -> dict[str, Any]:
    """What summary.json says of the saved pick (size, prediction time, what it relies on), where time is left;
    a forecast's samples are no rows to time or permute."""
    if not run.stop.fits(INSPECT_SECONDS) or run.prep.history is not None:
        return {}
    mark = time.monotonic()
    model = inspect_model(served, run.prep.split.test, run.prep.metric, run.config.seed, run.stop.left())
    timings["inspect"] = time.monotonic() - mark
    return model


def _report(run: RunContext, summary: RunSummary, records: Sequence[TrialRecord],
            files: list[Path]) -> tuple[list[Path], dict[str, Path]]:
    """Write the report where time is left (a failure leaves the results standing); returns the files and
    folders the parent run keeps, `files` and the report's."""
    output, progress, folders = run.prep.output, run.progress, {}
    if run.stop.left() < REPORT_SECONDS:
        progress.say(f"report not written: the time budget is spent; `autosearch report {output}` writes it")
        return files, folders
    progress.say("writing the report")
    try:
        from autosearch.tracking import read_curves
        files = [*files, report.write(output, summary, records,
                                      lambda run_ids: read_curves(run.tracker.tracking_uri, run_ids))]
        folders[report.IMAGES_FOLDER] = output / report.IMAGES_FOLDER
    except Exception as error:  # the search's results stand without their report
        progress.say(f"report not written: {describe(error)}; `autosearch report {output}` retries")
    return files, folders


def _close_parent(run: RunContext, summary: RunSummary, files: list[Path], folders: dict[str, Path]) -> None:
    """End the MLflow parent run with the pick's scores, the best network's and baseline's beside it."""
    win, best_nn, best_baseline = summary.winner, summary.best_nn, summary.best_baseline
    run.tracker.finish_parent(
        metrics={"val_score": win.val_score, "test_score": summary.test_score,
                 "best_nn_val_score": best_nn and best_nn.val_score,
                 "best_nn_test_score": best_nn and best_nn.test_score,
                 "best_baseline_val_score": best_baseline and best_baseline.val_score,
                 "best_baseline_test_score": best_baseline and best_baseline.test_score,
                 "seconds": summary.seconds["total"]},
        tags={"autosearch.winner": win.name, "autosearch.winner_family": win.family,
              "mlflow.note.content": _note(summary)},
        files=files, folders=folders,
    )


def _log_model(run: RunContext, served: Bundle, chosen: RefitPlan, scores: np.ndarray, truth: np.ndarray,
               test_scores: Mapping[str, float]) -> dict[str, Any]:
    """Log the saved pick as the parent run's MLflow Model and, with --register, register it (`mlflow_model.py`);
    returns what summary.json says of it. A failure is said and leaves the run's results standing."""
    from autosearch.runs import fingerprint
    from autosearch.serving import mlflow_model

    prep, config, tracker, progress, win = run.prep, run.config, run.tracker, run.progress, chosen.pick
    metric, test, bundle = prep.metric, prep.split.test, served.folder
    try:
        if prep.history is not None:  # a forecast takes a history table: its example is one series' latest steps
            spec = prep.profile.forecast  # the steps ahead of covariates known ahead leave the target empty: floats
            features = prep.history.astype({spec.target: "float64"}) if spec.known else prep.history
            example = forecast_example(prep.history, spec)
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
             "autosearch.winner": win.name, "autosearch.data_sha256": run.data_sha256,
             "autosearch.targets": ",".join(prep.profile.targets),
             "autosearch.test": f"--test {fingerprint(config.test)}" if config.test else "held out of the data",
             "autosearch.validation": f"{validation} seed {config.seed}",
             "autosearch.output": str(prep.output.resolve())}
    best_baseline = best_of(chosen.records, metric, CandidateKind.BASELINE, chosen.ahead)
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


INSPECT_SECONDS = 10.0  # what measuring the saved pick (size, prediction time) may need of the budget
CLEAR_GAIN = 0.01  # "clearly better" than the dummy: by 0.01 of a score, or 1 % of an error


def cautions(records: Sequence[TrialRecord], win: TrialRecord, prep: Prepared) -> list[str]:
    """What the user must not miss about a finished search: a target taken by position, and a pick that is
    not clearly better than the dummy baseline on validation (by CLEAR_GAIN: the features may not predict
    the target, or the target is the wrong column)."""
    prof, metric = prep.profile, prep.metric
    found = [f"the target '{prof.targets[0]}' was guessed ({prof.target_reason.removeprefix(GUESSED).strip()})"] \
        if prof.target_guessed else []
    dummy = next((r for r in records if r.kind is CandidateKind.BASELINE and r.family == "dummy"
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


def _summary(run: RunContext, chosen: RefitPlan, test_scores: Mapping[str, float], timings: dict[str, float],
             warnings: list[str], model: Mapping[str, Any], mlflow_model: Mapping[str, Any],
             cut_short: str | None, bands: Mapping[str, Any]) -> RunSummary:
    """summary.json: what scripts read (docs/guide/output.md)."""
    prep, tracker, records, win = run.prep, run.tracker, chosen.records, chosen.pick
    prof, metric, ahead = prep.profile, prep.metric, chosen.ahead
    plan = run.store.get(PLAN_KEY)
    searched = [r for r in records if r.kind is CandidateKind.NETWORK and r.repeats == 1]  # not the bagged ones
    return RunSummary(
        data=prep.name, target=prof.targets[0] if len(prof.targets) == 1 else list(prof.targets),
        target_reason=prof.target_reason, task=prof.task_name, task_reason=prof.task_reason,
        kind=prof.kind.value, kind_reason=prof.kind_reason, metric=metric.name, metric_reason=prep.metric_reason,
        greater_is_better=metric.greater_is_better, class_ratio=prep.problem.class_ratio,
        context=prep.problem.context,
        class_weight_searched=any("class_weight" in r.params for r in records if r.kind is CandidateKind.NETWORK),
        winner=Candidate.of(win, with_params=True), test_score=test_scores[win.name],
        best_nn=Candidate.of(best_of(records, metric, CandidateKind.NETWORK, ahead), test_scores=test_scores),
        best_baseline=Candidate.of(best_of(records, metric, CandidateKind.BASELINE, ahead), test_scores=test_scores),
        trials={s.value: sum(r.state is s for r in searched) for s in State},
        trial_fit_seconds=round(sum(r.fit_seconds for r in searched), 2),
        profile=prof.as_dict(), families=[s.family for s in prep.spaces], spaces=[s.as_dict() for s in prep.spaces],
        rows={"train": len(prep.split.train), "validation": len(prep.split.val), "test": len(prep.split.test)},
        mlflow_run_id=tracker.parent_id, mlflow_experiment=tracker.experiment,
        tracking_uri=redact(tracker.tracking_uri),  # run.json keeps it whole, to reconnect
        output_dir=str(prep.output.resolve()), bundle=str((prep.output / "model").resolve()),
        cut_short=cut_short, seconds={k: round(v, 2) for k, v in timings.items()}, folds=prep.folds.k,
        warnings=warnings, model=model, mlflow_model=mlflow_model, plan=json.loads(plan) if plan else {},
        peak_rss_mb=peak_rss_mb(), set_aside=chosen.set_aside,
        quantiles={k: v for k, v in bands.items() if k != "offsets"},
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
