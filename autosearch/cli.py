"""The `autosearch` command: parse flags, make one library call, print the result.

Heavy libraries are imported inside the commands, so `--help` and input errors answer fast.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from autosearch.errors import AutosearchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find the best model for a dataset: searched neural networks ranked against classical "
                       "baselines, tracked in MLflow.")


def _fail(error: AutosearchError) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2)


@app.command()
def fit(
    data: Path = typer.Argument(..., help="CSV/TSV/Parquet table, .npz with arrays X and y (and optionally "
                                "X_test, y_test), or a folder of images with one subfolder per class."),
    target: Optional[list[str]] = typer.Option(None, "--target", "-t", help="Target column; repeat for several "
                                               "(multilabel 0/1 columns or multi-output regression)."),
    test: Optional[Path] = typer.Option(None, help="Separate held-out file used as the test split."),
    task: str = typer.Option("auto", help="auto|binary|multiclass|multilabel|regression"),
    kind: str = typer.Option("auto", help="auto|tabular|image|sequence|text: the kind of data (inferred if auto)."),
    trials: int = typer.Option(20, help="Number of network trials."),
    time_budget: Optional[str] = typer.Option(None, help="Wall-clock budget for the whole fit, e.g. 90s, 20m, 8h."),
    space: Optional[list[Path]] = typer.Option(None, help="Search-space YAML file; repeat it to search the family "
                                               "among several (default: the packaged spaces for the kind of data)."),
    metric: Optional[str] = typer.Option(None, help="Selection metric: accuracy, balanced_accuracy, roc_auc, "
                                         "f1_macro, log_loss, rmse, mae, r2 (default: chosen from the task)."),
    output: Optional[Path] = typer.Option(None, help="Folder for results (default: a new one under "
                                          "./autosearch-runs/)."),
    experiment: Optional[str] = typer.Option(None, help="MLflow experiment (default: the data file's name)."),
    tracking_uri: Optional[str] = typer.Option(None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                                               "else a local store in this folder)."),
    seed: int = typer.Option(0, help="Random seed for the split and the search."),
    max_epochs: Optional[int] = typer.Option(None, help="Cap on epochs per trial (overrides the space file)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the final leaderboard."),
) -> None:
    """Search for the best model of DATA's target and save it."""
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its database set-up notes are not the user's concern
    try:
        from autosearch.config import make_config
        config = make_config(target=target, test=test, task=task, kind=kind, trials=trials, time_budget=time_budget,
                             space=space, metric=metric, output=output, experiment=experiment,
                             tracking_uri=tracking_uri, seed=seed, max_epochs=max_epochs, quiet=quiet)
        from autosearch.api import run_fit
        result = run_fit(data, config)
    except AutosearchError as error:
        _fail(error)
    from autosearch.progress import print_result
    print_result(result)


@app.command()
def predict(
    model_dir: Path = typer.Argument(..., help="The model/ folder written by `autosearch fit`."),
    data: Path = typer.Argument(..., help="Data in the form the model was fitted on: a table with the same "
                                "feature columns, an .npz with X, or a folder of images."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write predictions here (CSV); "
                                          "default: standard output."),
) -> None:
    """Predict with a saved model: a `prediction` column, and `proba_<class>` columns for classifiers."""
    try:
        from autosearch.api import predict as run_predict
        predictions = run_predict(model_dir, data)
    except AutosearchError as error:
        _fail(error)
    if output is None:
        predictions.to_csv(sys.stdout, index=False)
    else:
        predictions.to_csv(output, index=False)
        typer.echo(f"wrote {len(predictions)} predictions to {output}", err=True)


def main() -> None:
    app()
