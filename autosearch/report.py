"""The report of a run folder: one self-contained HTML page (plots inlined as PNG), and the PNGs.

What it shows: the data profile and the inferred task; the leaderboard (networks and baselines side by
side, the winner marked); the best score per candidate family against the best baseline and the dummy;
Optuna's optimisation history, hyperparameter importances and parallel coordinates; learning curves of
the top trials; and the winner's diagnostics on the test split (confusion matrix, ROC and PR curves for
classification; predicted vs actual and residuals for regression). A plot that cannot be drawn (too few
trials, say) is replaced by a sentence saying why.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from autosearch.errors import describe
from autosearch.files import write_atomic
from autosearch.records import STACK_FAMILY as STACK
from autosearch.records import CandidateKind, State, TrialRecord
from autosearch.summary import RunSummary

REPORT_FILE = "report.html"
IMAGES_FOLDER = "report"
PREDICTIONS_FILE = "test_predictions.npz"
TOP_CURVES = 3
MAX_CLASSES_DRAWN = 10
PARALLEL_PARAMS = 6
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1rem; }
table { border-collapse: collapse; font-size: 13px; } td, th { padding: 3px 8px; border-bottom: 1px solid #eee;
text-align: left; }
tr.winner { background: #e6f4e6; font-weight: 600; } tr.baseline td:nth-child(3) { color: #c60; }
.facts td:first-child { color: #666; white-space: nowrap; } figure { margin: 1.5rem 0; }
figure img { max-width: 100%; } figcaption, .missing { color: #666; font-size: 13px; } .cut { color: #a40; }
"""


@dataclass
class Figure:
    name: str  # file stem of its PNG
    title: str
    png: bytes | None
    note: str  # a caption, or why the plot is missing


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _draw(name: str, title: str, note: str, draw: Callable[[], object]) -> Figure:
    """Run one plotting function in matplotlib's default style (Optuna's plots switch to ggplot for good);
    a failure becomes a sentence in the report, never an error."""
    import matplotlib.pyplot as plt

    try:
        with plt.style.context("default"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # matplotlib's and Optuna's remarks about sparse data
            return Figure(name, title, _png(draw()), note)
    except Exception as error:  # a report must render whatever one plot does
        return Figure(name, title, None, f"not drawn: {describe(error, 200)}")


def family_chart(board: pd.DataFrame, metric: str, greater_is_better: bool):
    """Best validation score of each network family and each baseline, the dummy and best baseline marked."""
    import matplotlib.pyplot as plt

    done = board[board.state == "complete"].dropna(subset=["val_score"])
    best = (done.sort_values("val_score", ascending=not greater_is_better)
            .groupby(["kind", "family"], sort=False).head(1).sort_values("val_score", ascending=greater_is_better))
    colors = ["#1f77b4" if k == "nn" else "#999999" if f == "dummy" else "#ff7f0e"
              for k, f in zip(best.kind, best.family)]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(best) + 1.2))
    ax.barh([f"{f} ({'network' if k == 'nn' else 'baseline'})" for k, f in zip(best.kind, best.family)],
            best.val_score, color=colors)
    baselines = best[best.kind == CandidateKind.BASELINE]
    if len(baselines):
        reference = baselines.val_score.max() if greater_is_better else baselines.val_score.min()
        ax.axvline(reference, color="#ff7f0e", linestyle="--", linewidth=1, label="best baseline")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_xlabel(f"validation {metric} ({'higher' if greater_is_better else 'lower'} is better)")
    for y, value in enumerate(best.val_score):
        ax.annotate(f"{value:.4f}", (value, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    return fig


def learning_curves(curves: dict[str, dict[str, list[float]]], names: dict[str, str], metric: str):
    """Train vs validation loss per epoch for the top trials, with the validation score."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.2), squeeze=False)
    for ax, (run_id, curve) in zip(axes[0], curves.items()):
        epochs = np.arange(1, len(curve["loss"]) + 1)
        ax.plot(epochs, curve["loss"], label="train loss")
        ax.plot(epochs[:len(curve["val_loss"])], curve["val_loss"], label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_title(names[run_id], fontsize=10)
        score = ax.twinx()
        score.plot(epochs[:len(curve["val_score"])], curve["val_score"], color="#2ca02c", linestyle=":",
                   label=f"validation {metric}")
        score.set_ylabel(f"validation {metric}", color="#2ca02c", fontsize=8)
        lines = ax.get_legend_handles_labels()[0] + score.get_legend_handles_labels()[0]
    fig.legend(lines, [line.get_label() for line in lines], loc="lower center", ncol=3, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    return fig


def classification_plots(truth: np.ndarray, scores: np.ndarray, classes: list[str], task: str) -> list[Figure]:
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    def confusion():
        fig, ax = plt.subplots(figsize=(1.0 + 0.45 * len(classes), 0.8 + 0.45 * len(classes)))
        ConfusionMatrixDisplay.from_predictions(truth, scores.argmax(axis=1), labels=list(range(len(classes))),
                                                display_labels=classes, ax=ax, colorbar=False, cmap="Blues")
        ax.tick_params(axis="x", labelrotation=45)
        return fig

    def curves(display, what: str, axes: tuple[str, str]):
        fig, ax = plt.subplots(figsize=(5, 4))
        shown = classes[:MAX_CLASSES_DRAWN]
        columns = [1] if task == "binary" else range(len(shown))
        for c in columns:
            positive = truth == c if task != "multilabel" else truth[:, c] == 1
            if positive.all() or not positive.any():
                continue  # a curve needs both outcomes
            display.from_predictions(positive.astype(int), scores[:, c], name=str(classes[c]), ax=ax)
        ax.set_title(what)
        ax.set(xlabel=axes[0], ylabel=axes[1])  # not scikit-learn's "(Positive label: 1)": each curve has its own
        return fig

    figures = [] if task == "multilabel" else [
        _draw("confusion_matrix", "Confusion matrix (test split)", "rows: true class; columns: predicted", confusion)]
    figures.append(_draw("roc", "ROC curves (test split)", "one curve per class, against the rest",
                         lambda: curves(RocCurveDisplay, "ROC", ("false positive rate", "true positive rate"))))
    figures.append(_draw("precision_recall", "Precision–recall curves (test split)", "one curve per class",
                         lambda: curves(PrecisionRecallDisplay, "Precision–recall", ("recall", "precision"))))
    return figures


def regression_plots(truth: np.ndarray, scores: np.ndarray, targets: list[str]) -> list[Figure]:
    import matplotlib.pyplot as plt

    y, p = truth.reshape(len(truth), -1)[:, 0], scores.reshape(len(scores), -1)[:, 0]
    name = targets[0]

    def versus():
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.scatter(y, p, s=10, alpha=0.6)
        low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([low, high], [low, high], color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel(f"actual {name}")
        ax.set_ylabel(f"predicted {name}")
        return fig

    def residuals():
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(p, y - p, s=10, alpha=0.6)
        ax.axhline(0, color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel(f"predicted {name}")
        ax.set_ylabel("actual − predicted")
        return fig

    return [_draw("predicted_vs_actual", "Predicted vs actual (test split)", f"target {name}; the diagonal is "
                  "perfect", versus),
            _draw("residuals", "Residuals (test split)", "no pattern is what a good fit leaves", residuals)]


def _quantiles_line(found: dict) -> str:
    """What a forecast's quantiles (--quantiles) scored on test, as a paragraph; none without them."""
    if not found.get("levels"):
        return ""
    levels = found["levels"]
    return (f"<p>Quantiles {html.escape(', '.join(f'{q:g}' for q in levels))}: the pick's forecast plus each level's "
            f"quantile of its errors on {found['backtest_windows']} backtest windows. On test: scaled quantile loss "
            f"{found['test_quantile_loss']:.4f}" + (f", {found['test_coverage']:.0%} of the values between the "
                                                    f"{levels[0]:g} and {levels[-1]:g} quantiles" if len(levels) > 1
                                                    else "") + ".</p>")


def forecast_plots(truth: np.ndarray, scores: np.ndarray) -> list[Figure]:
    """A forecast's test windows (each series' last H steps), in the windows' units (data/forecast.py): relative
    to the last value before them, over the series' seasonal naive error, so an absolute error there is MASE."""
    import matplotlib.pyplot as plt

    steps = np.arange(1, truth.shape[1] + 1)

    def by_step():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(steps, np.abs(scores - truth).mean(axis=0), marker="o")
        ax.axhline(1, color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel("steps ahead")
        ax.set_ylabel("MASE (test)")
        return fig

    def against():
        shown = min(3, len(truth))
        fig, axes = plt.subplots(1, shown, figsize=(4 * shown, 3.2), squeeze=False)
        for i, ax in enumerate(axes[0]):
            ax.plot(steps, truth[i], label="actual")
            ax.plot(steps, scores[i], label="forecast")
            ax.axhline(0, color="gray", linestyle=":", linewidth=1)
            ax.set_xlabel("steps ahead")
        axes[0][0].set_ylabel("change since the last value (scaled)")
        axes[0][0].legend()
        return fig

    return [_draw("error_by_step", "Error by step ahead (test)", "the pick's MASE at each step of the last H of "
                  "each series; under the dashed line it beats the seasonal naive's in-sample error", by_step),
            _draw("test_forecast", "Test forecasts against the actual values", "the last H steps of up to 3 "
                  "series, relative to the value before them, in the series' scale", against)]


def search_study(records: Sequence[TrialRecord], summary: RunSummary):
    """The network trials as an in-memory Optuna study, whatever engine ran them, so that Optuna's views
    draw them: each trial replayed through the same walk of its space file, in trial order."""
    import optuna

    from autosearch.spaces import load_space, suggest_family

    spaces = tuple(load_space(s["source"] if Path(s["source"]).is_file() else None, family=s["family"])
                   for s in summary.spaces)  # a space file since moved: its family's packaged space
    study = optuna.create_study(direction="maximize" if summary.greater_is_better else "minimize")
    states = {State.COMPLETE: optuna.trial.TrialState.COMPLETE, State.PRUNED: optuna.trial.TrialState.PRUNED,
              State.FAILED: optuna.trial.TrialState.FAIL}
    for record in sorted((r for r in records if r.kind is CandidateKind.NETWORK), key=lambda r: r.number or 0):
        prefix = f"{record.family}." if len(spaces) > 1 else ""
        trial = optuna.trial.FixedTrial({"family": record.family,
                                         **{prefix + k: v for k, v in record.params.items()}})
        suggest_family(trial, spaces, summary.context)
        done = record.state is State.COMPLETE and record.val_score is not None
        study.add_trial(optuna.trial.create_trial(
            params=trial.params, distributions=trial.distributions, value=record.val_score if done else None,
            state=states[record.state] if done or record.state is not State.COMPLETE else states[State.FAILED]))
    return study


def study_plots(study_of: Callable[[], object]) -> list[Figure]:
    """Optuna's own views of the search (matplotlib backend), of the study `study_of` makes."""

    import optuna
    import optuna.visualization.matplotlib as views

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Some regimes for parameter")  # few trials: the caption says so
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = study_of()
    except Exception as error:
        return [Figure("optimization_history", "Optimisation history", None, f"no study: {describe(error, 200)}")]

    def figure_of(axes):
        return np.asarray(axes).ravel()[0].figure

    def parallel():
        importances = optuna.importance.get_param_importances(study)
        fig = figure_of(views.plot_parallel_coordinate(study, params=list(importances)[:PARALLEL_PARAMS]))
        fig.set_size_inches(10, 4.5)
        return fig

    return [
        _draw("optimization_history", "Optimisation history", "each finished trial's validation score and the "
              "best so far", lambda: figure_of(views.plot_optimization_history(study))),
        _draw("param_importances", "Hyperparameter importances", "Optuna's importance evaluator (PED-ANOVA) over "
              "the finished trials: how much each parameter matters to the score; noisy with few trials",
              lambda: figure_of(views.plot_param_importances(study))),
        _draw("parallel_coordinates", "Parallel coordinates", f"the {PARALLEL_PARAMS} most important parameters "
              "of every finished trial, coloured by score", parallel),
    ]


def build(folder: Path, summary: RunSummary, records: Sequence[TrialRecord],
          curves_of: Callable[[list[str]], dict] | None = None) -> list[Figure]:
    """Every figure of the report of `folder`, whose candidates are `records` (its TrialStore's)."""
    board = pd.read_csv(folder / "leaderboard.csv")
    figures = [_draw("families", "Best score per family", "networks (blue) against the classical baselines "
                     "(orange) and the common-sense dummy (grey)",
                     lambda: family_chart(board, summary.metric, summary.greater_is_better))]
    figures += study_plots(lambda: search_study(records, summary))
    top = board[(board.kind == CandidateKind.NETWORK) & (board.state == "complete")].head(TOP_CURVES)
    if curves_of is not None and len(top):
        names = dict(zip(top.mlflow_run_id, top.name))
        figures.append(_draw("learning_curves", "Learning curves of the top trials", "training loss includes "
                             "the L2 penalty; a validation loss that rises while training loss falls is overfitting",
                             lambda: learning_curves(curves_of(list(names)), names, summary.metric)))
    predictions = folder / PREDICTIONS_FILE
    if predictions.exists():
        with np.load(predictions, allow_pickle=False) as saved:
            truth, scores, classes = saved["truth"], saved["scores"], [str(c) for c in saved["classes"]]
        if summary.task == "regression":
            figures += regression_plots(truth, scores, summary.targets)
        elif summary.task == "forecast":
            figures += forecast_plots(truth, scores)
        else:
            figures += classification_plots(truth, scores, classes, summary.task)
    return figures


def write(folder: Path, summary: RunSummary, records: Sequence[TrialRecord],
          curves_of: Callable[[list[str]], dict] | None = None) -> Path:
    """Write `report.html` (self-contained) and `report/*.png` into the run folder."""
    figures = build(folder, summary, records, curves_of)
    images = folder / IMAGES_FOLDER
    images.mkdir(exist_ok=True)
    for figure in figures:
        if figure.png:
            write_atomic(images / f"{figure.name}.png", figure.png)
    return write_atomic(folder / REPORT_FILE, _html(folder, summary, figures))


def _ranked_on(summary: RunSummary) -> str:
    if summary.folds > 1:
        return f"{summary.folds}-fold cross-validation of train+validation (out-of-fold scores)"
    return "the validation split"


def _verdict(summary: RunSummary) -> str:
    """Who won, on what score, how it tested, and how the best network and baseline tested beside it."""
    e, winner, metric = html.escape, summary.winner, html.escape(summary.metric)
    scored = "out-of-fold" if summary.folds > 1 else "validation"
    text = (f"<b>{e(winner.name)}</b> ({e(winner.family)}, {e(winner.kind)}) won with {scored} {metric} "
            f"{winner.val_score:.4f}; scored once on the test split: <b>{summary.test_score:.4f}</b>.")
    if winner.family == STACK:
        text += " A stacker, a linear model over the out-of-fold outputs of " + ", ".join(map(e, winner.params)) + "."
    elif winner.kind is CandidateKind.ENSEMBLE:
        text += " Its members and weights: " + ", ".join(f"{e(n)} {w:.2f}" for n, w in winner.params.items()) + "."
    others = [(label, c) for label, c in (("best network", summary.best_nn), ("best baseline", summary.best_baseline))
              if c is not None and c.name != winner.name and c.test_score is not None]
    if others:
        text += " On the test split too: " + "; ".join(
            f"the {label} {e(c.name)} {c.test_score:.4f} ({scored} {c.val_score:.4f})" for label, c in others) + "."
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence], css: str = "facts") -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table class=\"{css}\"><tr>{head}</tr>{body}</table>"


def _plan_section(summary: RunSummary) -> str:
    """The budget plan: the shares, and what each classical candidate was given, took and why."""
    from autosearch.budget import NETWORK_TRIALS

    plan = summary.plan
    if not plan:
        return ""
    if plan.get("budget") is None:
        head = "<p>No time budget: every classical candidate was fitted on every row.</p>"
    else:
        head = (f"<p>{plan['budget']:.0f}s in all: the classical candidates {plan['classical']:.0f}s, the networks "
                f"{plan['networks']:.0f}s (past each family's first trial, a trial at most "
                f"~{plan['networks'] / NETWORK_TRIALS:.0f}s), then the refit and the results.</p>")
    rows = [(line["name"], line["action"], f"{line['rows']:,} of {line['of']:,}" if line["rows"] else "",
             "" if line.get("estimate") is None else f"{line['estimate']:.1f}",
             "" if line.get("seconds") is None else f"{line['seconds']:.1f}", line.get("outcome") or "",
             line.get("why") or "") for line in plan.get("lines", [])]
    return "<h2>Budget plan</h2>" + head + _table(
        ("classical candidate", "plan", "rows a fold", "estimate (s)", "took (s)", "outcome", "why"), rows)


def _winner_section(summary: RunSummary) -> str:
    """The winner's hyperparameters (an ensemble's: its members and weights)."""
    winner = summary.winner
    if not winner.params:
        return ""
    if winner.family == STACK:
        return "<h2>The winner's members</h2>" + _table(("member, read by the stacker",), [(n,) for n in winner.params])
    if winner.kind is CandidateKind.ENSEMBLE:
        rows = [(name, f"{weight:.3f}") for name, weight in winner.params.items()]
        return "<h2>The winner's members</h2>" + _table(("member", "weight"), rows)
    rows = [(k, f"{v:.4g}" if isinstance(v, float) else v) for k, v in sorted(winner.params.items())]
    return f"<h2>The winner's hyperparameters ({html.escape(winner.name)})</h2>" + _table(("parameter", "value"), rows)


def _columns_section(profile: dict) -> str:
    """What each column of a table was taken as (numeric, categorical, free text, dates) or why it was dropped, and
    how many of its values are missing."""
    roles = {**{c: "numeric" for c in profile.get("numeric", [])},
             **{c: "categorical" for c in profile.get("categorical", [])},
             **{c: "free text" for c in profile.get("text", [])},
             **{c: "dates (year, month, day, weekday, hour, days)" for c in profile.get("dates", [])},
             **{c: f"dropped: {why}" for c, why in (profile.get("dropped") or {}).items()}}
    columns = profile.get("columns") or []
    if not columns:
        return ""
    if profile.get("time"):
        roles[profile["time"]] += "; orders the rows in time: the splits follow it"
    missing = profile.get("missing") or {}
    rows = [(c, roles.get(c, "not used"), missing.get(c, 0)) for c in columns]
    why = f"<p>{html.escape(profile['time_reason'])}</p>" if profile.get("time_reason") else ""
    return "<h2>Columns</h2>" + why + _table(("column", "taken as", "missing values"), rows)


def _per_class_section(folder: Path, summary: RunSummary) -> str:
    """Precision, recall and F1 of each class (each label) on the test split."""
    from sklearn.metrics import classification_report

    path = folder / PREDICTIONS_FILE
    if summary.task in ("regression", "forecast") or not path.exists():
        return ""
    with np.load(path, allow_pickle=False) as saved:
        truth, scores, classes = saved["truth"], saved["scores"], [str(c) for c in saved["classes"]]
    predicted = (scores >= 0.5).astype(int) if summary.task == "multilabel" else scores.argmax(axis=1)
    labels = None if summary.task == "multilabel" else list(range(len(classes)))
    found = classification_report(truth, predicted, labels=labels, target_names=classes, output_dict=True,
                                  zero_division=0)
    rows = [(c, f"{found[c]['precision']:.3f}", f"{found[c]['recall']:.3f}", f"{found[c]['f1-score']:.3f}",
             int(found[c]["support"])) for c in classes if c in found]
    return "<h2>Per class, on the test split</h2>" + _table(("class", "precision", "recall", "F1", "samples"), rows)


def _served_section(summary: RunSummary) -> str:
    """The pick as served: its size, its prediction time, the columns it relies on."""
    model = summary.model or {}
    if not model:
        return ""
    facts = [("size on disk", f"{model['size_mb']:.2f} MB")]
    if "predict_seconds_per_1000" in model:
        facts.append(("prediction time", f"{model['predict_seconds_per_1000']:.3f} s per 1,000 samples (in one "
                      "process, after a first call, on the machine of the run)"))
    if model.get("note"):
        facts.append(("note", model["note"]))
    text = "<h2>The model as served</h2>" + _table(("", ""), facts)
    if model.get("feature_importance"):
        rows = [(f["feature"], f"{f['importance']:.4f}", f"{f['std']:.4f}") for f in model["feature_importance"]]
        text += ("<h3>Feature importance (permutation, test split)</h3><p>How much the test "
                 f"{html.escape(summary.metric)} gets worse when one column's values are shuffled (scikit-learn's "
                 "permutation importance, 3 shuffles); near 0: the model does not rely on it.</p>"
                 + _table(("column", "drop", "std"), rows))
    return text


def _html(folder: Path, summary: RunSummary, figures: list[Figure]) -> str:
    board = pd.read_csv(folder / "leaderboard.csv")
    e = html.escape
    winner, profile = summary.winner, summary.profile
    facts = [
        ("data", summary.data), ("rows", profile["n_rows"]),
        ("target", f"{summary.target} — {summary.target_reason}"),
        ("task", f"{summary.task} — {summary.task_reason}"),
        ("kind of data", f"{summary.kind} — {summary.kind_reason}"),
        ("metric", f"{summary.metric} — {summary.metric_reason}"),
        ("families searched", ", ".join(summary.families)),
        ("split", ", ".join(f"{k} {v}" for k, v in summary.rows.items())),
        ("trials", ", ".join(f"{v} {k}" for k, v in summary.trials.items())),
    ]
    if profile.get("dropped"):
        facts.append(("dropped columns", "; ".join(f"{k}: {v}" for k, v in profile["dropped"].items())))
    hidden = ["params", "mlflow_run_id"] + [c for c in ("warm_start",) if c in board and board[c].isna().all()]
    shown = board.drop(columns=[c for c in hidden if c in board]).copy()  # older runs' boards lack warm_start
    for col in ("val_score", "test_score"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    for col in ("rank", "epochs"):
        shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else str(int(v)))
    rows = "".join(
        f"<tr class=\"{'winner' if r.name == winner.name else r.kind}\">"
        + "".join(f"<td>{e('' if pd.isna(v) else str(v))}</td>" for v in r) + "</tr>"
        for r in shown.itertuples(index=False))
    parts = []
    for figure in figures:
        data = base64.b64encode(figure.png).decode() if figure.png else ""
        body = (f"<img alt=\"{e(figure.title)}\" src=\"data:image/png;base64,{data}\">" if figure.png
                else f"<p class=\"missing\">{e(figure.note)}</p>")
        note = f"<figcaption>{e(figure.note)}</figcaption>" if figure.png else ""
        parts.append(f"<figure id=\"{figure.name}\"><h3>{e(figure.title)}</h3>{body}{note}</figure>")
    details = _plan_section(summary) + _winner_section(summary) + _columns_section(profile) \
        + _per_class_section(folder, summary) + _served_section(summary)
    cut = f"<p class=\"cut\">The search was cut short: {e(summary.cut_short)}.</p>" if summary.cut_short else ""
    cut += "".join(f"<p class=\"cut\">Warning: {e(w)}.</p>" for w in summary.warnings)
    cut += f"<p>{e(summary.set_aside[0].upper() + summary.set_aside[1:])}.</p>" if summary.set_aside else ""
    cut += _quantiles_line(summary.quantiles)
    verdict = _verdict(summary)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>autosearch report: {e(summary.data)}</title>
<style>{STYLE}</style></head><body>
<h1>autosearch report: {e(summary.data)}</h1>
<p>{verdict}</p>{cut}
<h2>Data</h2><table class="facts">{''.join(f'<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>' for k, v in facts)}</table>
<h2>Leaderboard</h2><p>Ranked on {e(_ranked_on(summary))}; the winner (green) was refitted on train+validation
and scored once on the test split, as were the best network and the best baseline, to compare.</p>
<table class="leaderboard"><tr>{''.join(f'<th>{e(c)}</th>' for c in shown.columns)}</tr>{rows}</table>
{details}
<h2>Plots</h2>{''.join(parts)}
<p style="color:#888">MLflow run {e(summary.mlflow_run_id)} in experiment {e(summary.mlflow_experiment)}
at {e(summary.tracking_uri)}.</p>
</body></html>
"""
