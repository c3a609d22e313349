"""The `autosearch` command: parse flags, make one library call, print the result.

Heavy libraries are imported inside the commands, so `--help` and input errors answer fast.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import sys
import time
import typing
import warnings
from pathlib import Path
from typing import Optional

import typer

from autosearch import restart
from autosearch.engines import DEFAULT_ENGINE, ENGINES, option_fields
from autosearch.engines.base import flag_of
from autosearch.errors import AutosearchError
from autosearch.restart import Restart

STARTED: float | None = None
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Find the best model for a dataset: searched neural networks ranked against classical "
                       "baselines, tracked in MLflow.")


def _version(asked: bool) -> None:
    if asked:
        from autosearch import __version__
        typer.echo(f"autosearch {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """The options before a command: --version (and typer's shell completion)."""


def _fail(error: AutosearchError) -> None:
    """One line, and the error's exit code: 2 for bad input, 3 for a storage fault (`errors.py`)."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(error.exit_code)


METAVARS = {bool: "", int: "N", float: "X", str: "TEXT", Path: "PATH"}  # flags take no value


def _metavars(command):
    """Plain placeholders (PATH, N, TEXT; none for a flag) where an option names none, instead of typer's
    type names (`<list[str]>`, `<bool>`)."""
    hints = typing.get_type_hints(command)
    for name, param in inspect.signature(command).parameters.items():
        info = param.default
        if isinstance(info, typer.models.ParameterInfo) and info.metavar is None:
            kind = hints.get(name, param.annotation)
            while typing.get_args(kind):  # Optional[X] and list[X]: X
                kind = next(a for a in typing.get_args(kind) if a is not type(None))
            info.metavar = METAVARS.get(kind, "TEXT") if not isinstance(info, typer.models.ArgumentInfo) \
                else name.upper()
    return command


def _with_engine_options(command):
    """Give `command` a flag per option of every registered engine (engines/base.py), placed after --engine:
    typer reads the flags from the signature, so a new engine's options need no change here."""
    signature = inspect.signature(command)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    at = next(i for i, p in enumerate(params) if p.name == "engine") + 1
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                               annotation=typing.get_type_hints(owner.Options)[name],
                               default=typer.Option(None, flag_of(name), help=f.metadata["help"], show_default=False))
             for name, (owner, f) in option_fields().items()]
    keyword = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[at:]]
    command.__signature__ = signature.replace(parameters=params[:at] + added + keyword)
    return command


@app.command()
@_metavars
@_with_engine_options
def fit(
    data: Path = typer.Argument(..., help="CSV/TSV/Parquet table, .npz with arrays X and y (and optionally "
                                "X_test, y_test), or a folder of images with one subfolder per class."),
    target: Optional[list[str]] = typer.Option(None, "--target", "-t", metavar="COLUMN", help="Target column; repeat "
                                               "for several (multilabel 0/1 columns or multi-output regression)."),
    test: Optional[Path] = typer.Option(None, help="Separate held-out file used as the test split."),
    task: str = typer.Option("auto", metavar="TASK", help="auto (inferred from the target), binary, multiclass, "
                             "multilabel, regression or forecast (with --horizon)."),
    kind: str = typer.Option("auto", metavar="KIND", help="The kind of data: auto (inferred), tabular, image, "
                             "sequence or text."),
    trials: Optional[int] = typer.Option(None, help="Number of network trials (default: 20; with --time-budget "
                                         "and no --trials, as many as the budget allows)."),
    time_budget: Optional[str] = typer.Option(None, metavar="DURATION", help="Wall-clock budget for the whole fit, "
                                         "e.g. 90s, 20m, 8h."),
    space: Optional[list[Path]] = typer.Option(None, metavar="FILE", help="Search-space YAML file; repeat it to search "
                                               "the family among several (default: the packaged spaces for the kind "
                                               "of data)."),
    metric: Optional[str] = typer.Option(None, metavar="METRIC", help="Selection metric: accuracy, "
                                         "balanced_accuracy, roc_auc, f1_macro, log_loss, rmse, mae, r2 (default: "
                                         "chosen from the task)."),
    output: Optional[Path] = typer.Option(None, help="Folder for results (default: a new one under "
                                          "./autosearch-runs/)."),
    experiment: Optional[str] = typer.Option(None, help="MLflow experiment (default: the data file's name)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                                               "else a local store in this folder)."),
    seed: int = typer.Option(0, help="Random seed for the split and the search."),
    max_epochs: Optional[int] = typer.Option(None, help="Cap on epochs per trial (overrides the space file)."),
    cv_folds: Optional[int] = typer.Option(None, help="Score every candidate by K-fold cross-validation on the "
                                           "training and validation samples (default: 5 folds up to 10,000 "
                                           "samples, a holdout above)."),
    holdout: bool = typer.Option(False, "--holdout", help="Score candidates on the validation split only."),
    time: Optional[str] = typer.Option(None, metavar="COLUMN", help="The column that orders the rows in time "
                                       "(dates or numbers): the test split is the latest 20 %, candidates are "
                                       "scored on the latest before it, or with --cv-folds on folds that chain "
                                       "forward (default: a date column at regular steps)."),
    no_time: bool = typer.Option(False, "--no-time", help="Split at random even where a date column orders "
                                 "the rows in time."),
    groups: Optional[str] = typer.Option(None, metavar="COLUMN", help="The column that says which rows belong "
                                         "together (a person, a patient, a store): no split divides a group, so "
                                         "the scores are for groups the model never saw. Not a feature."),
    horizon: Optional[int] = typer.Option(None, metavar="H", help="Forecast the next H steps of the target's "
                                          "series (--task forecast): windows of the past in, H values out; the "
                                          "test split is the last H steps of each series."),
    series: Optional[str] = typer.Option(None, "--id", metavar="COLUMN", help="A forecast's column naming each "
                                         "row's series (long format): one model across the series."),
    backtests: Optional[int] = typer.Option(None, metavar="K", help="A forecast's validation: K backtests of H "
                                            "forecast origins each, the latest before the test span (default: 3, "
                                            "fewer for short series)."),
    known: Optional[str] = typer.Option(None, metavar="COLUMNS", help="A forecast's covariates known ahead "
                                        "(a holiday calendar, a weather forecast, planned prices), "
                                        "comma-separated: the model reads their values for the steps it "
                                        "forecasts, which `predict` takes from H rows a series after the "
                                        "history's last target."),
    quantiles: Optional[str] = typer.Option(None, metavar="LEVELS", help="A forecast's quantiles, e.g. "
                                            "0.1,0.5,0.9: `predict` adds a column per level, the forecast plus that "
                                            "level's quantile of the pick's errors on its backtests."),
    storage: Optional[str] = typer.Option(None, help="The run's database (its records and Optuna study), shared "
                                          "by several processes, e.g. postgresql://… (default: SQLite in the "
                                          "output folder)."),
    study: Optional[str] = typer.Option(None, help="The search's name in --storage (default: autosearch)."),
    engine: str = typer.Option(DEFAULT_ENGINE, metavar="ENGINE", help="Search engine: " + "; ".join(
        f"{name} ({engine.summary})" for name, engine in ENGINES.items()) + ". Its own options follow."),
    mixed_precision: bool = typer.Option(False, "--mixed-precision", help="Train in float16 with float32 "
                                         "weights (faster on recent GPUs)."),
    register: Optional[str] = typer.Option(None, metavar="NAME", help="Register the pick in MLflow's model "
                                           "registry as a new version of NAME, with the alias champion (when it "
                                           "beats the champion on the same data) or challenger."),
    baselines: Optional[str] = typer.Option(None, metavar="NAMES", help="The classical candidates to fit, "
                                            "comma-separated, e.g. linear,gradient_boosting (default: all those "
                                            "of the kind of data; the dummy always runs)."),
    warm_start: Optional[str] = typer.Option(None, metavar="SOURCE", help="Run the best network configurations "
                                             "of an earlier search first: its run folder, an MLflow experiment "
                                             "(any data) or models:/NAME (the run of a registered model)."),
    system_metrics: bool = typer.Option(False, "--system-metrics", help="Log CPU, memory, disk, network and GPU "
                                        "use on each trial's MLflow run while it trains (MLflow's monitor, every "
                                        "5 s; Optuna and keras-tuner engines)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final leaderboard."),
    **engine_options,  # each registered engine's own flags, added to the signature by `_with_engine_options`
) -> None:
    """Search for the best model of DATA's target and save it. Given an --output folder that holds a run,
    continue it."""
    try:
        from autosearch.config import make_config
        config = make_config(target=target, test=test, task=task, kind=kind, trials=trials, time_budget=time_budget,
                             space=space, metric=metric, output=output, experiment=experiment,
                             tracking_uri=tracking_uri, seed=seed, max_epochs=max_epochs, cv_folds=cv_folds,
                             holdout=holdout, time=time, no_time=no_time, groups=groups, horizon=horizon, series=series,
                             backtests=backtests, known=known, quantiles=quantiles, storage=storage,
                             study=study, engine=engine, mixed_precision=mixed_precision, register=register,
                             system_metrics=system_metrics, quiet=quiet, baselines=baselines,
                             warm_start=warm_start, **engine_options)
        from autosearch.api import run_fit
        _print(run_fit(data, config, started=STARTED), quiet)
    except AutosearchError as error:
        _fail(error)


@app.command()
@_metavars
def resume(
    folder: Path = typer.Argument(..., help="The output folder of an interrupted (or finished) fit."),
    trials: Optional[int] = typer.Option(None, help="Total trials for the run (default: as first asked)."),
    time_budget: Optional[str] = typer.Option(None, metavar="DURATION", help="Budget for this sitting, e.g. 8h."),
    register: Optional[str] = typer.Option(None, metavar="NAME", help="Register the pick in MLflow's model "
                                           "registry as a new version of NAME (default: as the fit asked)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final leaderboard."),
) -> None:
    """Continue a fit where it stopped: finished trials and baselines are kept, lost trials run again."""
    try:
        from autosearch.api import resume as run_resume
        asked = {"trials": trials, "time_budget": time_budget, "register": register}
        changes = {k: v for k, v in asked.items() if v is not None}
        _print(run_resume(folder, started=STARTED, quiet=quiet, **changes), quiet)
    except AutosearchError as error:
        _fail(error)


@app.command()
@_metavars
def sweep(
    file: Path = typer.Argument(..., help="Sweep file (YAML): datasets x search spaces x engines, with budgets."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the summary table."),
) -> None:
    """Run several searches one after the other; re-running the same sweep resumes it. Exits 1 if a run
    failed (the others still ran)."""
    try:
        from autosearch.sweep import run_sweep
        summary = run_sweep(file, quiet=quiet, started=STARTED)
    except AutosearchError as error:
        _fail(error)
    except Restart as again:  # the sweep again in a fresh process: finished runs are skipped, the cut one resumes
        raise Restart(sys.argv[1:], again.lock) from None
    from autosearch.progress import print_sweep
    print_sweep(summary)
    if (summary.status == "failed").any():
        raise typer.Exit(1)


@app.command()
@_metavars
def report(folder: Path = typer.Argument(..., help="The output folder of a fit.")) -> None:
    """(Re)write the run's self-contained HTML report and its PNG plots, and log them on the MLflow run."""
    try:
        from autosearch.api import report as write_report
        typer.echo(write_report(folder))
    except AutosearchError as error:
        _fail(error)


@app.command()
@_metavars
def leaderboard(
    folder: Path = typer.Argument(..., help="The output folder of a fit."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts: metric, winner, test score and "
                                 "the leaderboard's rows."),
) -> None:
    """Print a run's leaderboard: networks and baselines ranked on validation, the winner's test score."""
    try:
        from autosearch.api import leaderboard as read_leaderboard
        board, summary = read_leaderboard(folder)
    except AutosearchError as error:
        _fail(error)
    if as_json:
        import json
        rows = json.loads(board.to_json(orient="records"))  # NaN becomes null
        for row in rows:  # as objects and numbers, not the CSV's text
            row["params"] = json.loads(row["params"]) if isinstance(row.get("params"), str) else row.get("params")
            for key in ("rank", "epochs", "folds"):
                row[key] = None if row.get(key) is None else int(row[key])
        typer.echo(json.dumps({"metric": summary.metric, "greater_is_better": summary.greater_is_better,
                               "winner": summary.winner.name, "test_score": summary.test_score,
                               "leaderboard": rows}, indent=2))
    else:
        from autosearch.progress import print_leaderboard
        print_leaderboard(board, summary.metric, summary.winner.name)


@app.command()
@_metavars
def ui(
    folder: Optional[Path] = typer.Argument(None, help="A run folder: serve the store it used (default: "
                                            "$MLFLOW_TRACKING_URI, else ./mlflow.db)."),
    port: int = typer.Option(5000, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; 0.0.0.0 exposes the dashboard to the network."),
) -> None:
    """Open MLflow's dashboard on the runs: prints the URL, serves until Ctrl-C."""
    try:
        from autosearch.ui import serve, store_of
        uri, experiment = store_of(folder)
        code = serve(uri, host, port, lambda text: typer.echo(text, err=True), experiment)
    except AutosearchError as error:
        _fail(error)
    raise typer.Exit(code)


def _print(result, quiet: bool) -> None:
    if result is not None:  # None: a worker, whose chief prints the results
        from autosearch.progress import print_result
        print_result(result, warnings=quiet)  # not quiet: the progress lines said them


@app.command()
@_metavars
def predict(
    model: str = typer.Argument(..., metavar="MODEL", help="The model/ folder written by `autosearch fit`, or "
                                "an MLflow model URI: models:/NAME@champion, models:/NAME/VERSION, "
                                "runs:/RUN_ID/model."),
    data: Path = typer.Argument(..., help="Data in the form the model was fitted on: a table with the same "
                                "feature columns, an .npz with X, or a folder of images."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write predictions here (CSV); "
                                          "default: standard output."),
    tracking_uri: Optional[str] = typer.Option(None, help="The MLflow store a model URI is read from (default: "
                                               "$MLFLOW_TRACKING_URI, else the local store in this folder)."),
) -> None:
    """Predict with a saved model: a `prediction` column, and `proba_<class>` columns for classifiers."""
    try:
        from autosearch.api import predict as run_predict
        from autosearch.serving.bundle import UnseenCategoryWarning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnseenCategoryWarning)
            predictions = run_predict(model, data, tracking_uri=tracking_uri)
        for warning in caught:
            if issubclass(warning.category, UnseenCategoryWarning):
                typer.echo(f"warning: {warning.message}", err=True)
            else:  # the libraries' own (a model fitted with another scikit-learn version, say), as Python shows them
                warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    except AutosearchError as error:
        _fail(error)
    if output is None:
        predictions.to_csv(sys.stdout, index=False)
    else:
        predictions.to_csv(output, index=False)
        typer.echo(f"wrote {len(predictions)} predictions to {output}", err=True)


def main() -> None:
    global STARTED
    # --time-budget counts from here, imports included; or from the first start of a restarted command
    STARTED = restart.started_before() or time.monotonic()
    restart.inherit_lock()
    restart.allow()
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its database set-up notes are not the user's concern
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # nor its bars copying a model's files
    # MLflow logs a database error with its traceback before raising it; the error, raised, is said in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    try:
        app()
        code = 0
    except Restart as again:
        restart.replace_process(again.args_again, STARTED, again.lock)
    except SystemExit as done:
        code = done.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if "tensorflow" in sys.modules:
        # Everything is written by now. Python's own teardown of TensorFlow's objects takes ~3 s (measured)
        # after the last line is printed, so run the exit handlers and end the process here.
        sys.stdout.flush()
        sys.stderr.flush()
        atexit._run_exitfuncs()
        os._exit(code)
    sys.exit(code)
