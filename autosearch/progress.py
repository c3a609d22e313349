"""What the user sees while `fit` runs: messages, one line per trial, a live bar in a terminal.

Everything goes to stderr, so stdout carries only results.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from autosearch.metrics import Metric
from autosearch.records import PORTFOLIO_MARK as PORTFOLIO
from autosearch.records import State, TrialRecord
from autosearch.redact import redact

WIDE = 160  # columns for output that goes to a file or pipe


def format_score(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


class Progress:
    def __init__(self, quiet: bool = False, console: Console | None = None):
        self.quiet = quiet
        self.console = console or Console(stderr=True, highlight=False)
        if not self.console.is_terminal:
            self.console.width = WIDE
        self._bar: RichProgress | None = None
        self._task = None
        self._total = 0
        self._deadline: Callable[[], float | None] | None = None
        self._metric: Metric | None = None
        self._reference: TrialRecord | None = None  # the best baseline, to beat
        self._best: TrialRecord | None = None  # the best network so far

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, markup=False, soft_wrap=True)

    def warn(self, text: str) -> None:
        """A line the user must not miss (a guessed target, a pick no better than chance): set apart, in
        bold where the terminal has colour."""
        if not self.quiet:
            self.console.print(f"[bold yellow]warning:[/] {escape(text)}", soft_wrap=True)

    @contextmanager
    def search(self, trials: int | None, deadline: Callable[[], float | None] | None, metric: Metric,
               reference: TrialRecord | None, done: list[TrialRecord] = ()) -> Iterator[None]:
        """A live bar over the trials (in a terminal; plain lines elsewhere); `done`: trials already run;
        `trials` None: no count ends the search (the budget does); `deadline()`: when it must end, which moves
        as candidates whose refits the budget keeps back are found."""
        self._total, self._deadline, self._metric, self._reference = trials, deadline, metric, reference
        self._best, self._done = None, 0
        for record in done:
            self._count(record)
        if self.quiet or not self.console.is_terminal:
            yield
            return
        self._bar = RichProgress(SpinnerColumn(), TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[status]}"),
                                 console=self.console, transient=True)
        self._task = self._bar.add_task("search", total=trials, completed=self._done, status=self._status(""))
        try:
            with self._bar:
                yield
        finally:
            self._bar = None

    def _status(self, running: str) -> str:
        parts = []
        if self._best is not None:
            parts.append(f"best {format_score(self._best.val_score)} ({self._best.name})")
        if self._reference is not None:
            parts.append(f"to beat: {self._reference.name} {format_score(self._reference.val_score)}")
        if running:
            parts.append(f"running {running}")
        deadline = self._deadline() if self._deadline is not None else None
        if deadline is not None:
            parts.append(f"{max(deadline - time.monotonic(), 0):.0f}s left")
        return " · ".join(parts)

    def trial_started(self, name: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, status=self._status(name))

    def _count(self, record: TrialRecord) -> None:
        self._done += 1
        if record.state is State.COMPLETE and (
                self._best is None or self._metric.better(record.val_score, self._best.val_score)):
            self._best = record

    def trial_finished(self, record: TrialRecord, counted: bool = True, study_done: int | None = None) -> None:
        """A trial ended; `counted`: it counts toward the total (not one stopped before its first epoch);
        `study_done`: trials done in the whole run, when other processes share it."""
        if counted:
            self._count(record)
        if study_done is not None:
            self._done = study_done
        if self._bar is not None:
            self._bar.update(self._task, completed=self._done, status=self._status(""))
        detail = {State.COMPLETE: f"val {self._metric.name} {format_score(record.val_score)}",
                  State.PRUNED: f"pruned at epoch {record.epochs}",
                  State.FAILED: f"failed: {record.error}"}[record.state]
        note = f" ({record.note})" if record.note else ""
        if record.warm_start:  # a warm start's source, or the portfolio's entry ("portfolio #3")
            note += f" ({'' if record.warm_start.startswith(PORTFOLIO) else 'warm start: '}{record.warm_start})"
        position = (f"{self._done}/{self._total} " if self._total else f"{self._done} ") if counted else ""
        self.say(f"  trial {position}{record.name}: {detail}{note}, {record.epochs} epochs, "
                 f"{record.fit_seconds:.1f}s  [{self._status('')}]")


def print_leaderboard(board: pd.DataFrame, metric: str, winner: str) -> None:
    """The leaderboard as a table on stdout, the winner highlighted."""
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = WIDE
    table = Table(title=f"leaderboard ({metric}, validation split; test scored once for the winner)")
    for col in ("rank", "name", "kind", "family", "state", "val_score", "test_score", "fit_seconds", "epochs"):
        table.add_column(col, justify="right" if col in ("rank", "val_score", "test_score", "fit_seconds",
                                                         "epochs") else "left")
    folds = int(board["folds"].max()) if "folds" in board and board["folds"].notna().any() else 1
    for row in board.itertuples(index=False):
        cells = []
        for col in table.columns:
            value = getattr(row, col.header)
            if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
                cells.append("")
            elif col.header == "val_score" and 0 < getattr(row, "folds", folds) < folds:  # ranked after the rest
                cells.append(f"{format_score(value)} ({int(row.folds)} of {folds} folds)")
            elif col.header in ("val_score", "test_score"):
                cells.append(format_score(value))
            elif col.header == "fit_seconds":
                cells.append(f"{value:.2f}")
            else:
                cells.append(str(int(value)) if col.header in ("rank", "epochs") else str(value))
        table.add_row(*cells, style="bold green" if row.name == winner else None)
    console.print(table)


def print_result(result, warnings: bool = True) -> None:
    """The leaderboard, then where everything went, then the run's warnings (`warnings`: unless the progress
    lines said them already)."""
    print_leaderboard(result.leaderboard, result.metric, result.winner.name)
    console = Console(highlight=False)
    s = result.summary
    console.print(f"winner: {result.winner.name} ({result.winner.family}); test {result.metric} "
                  f"{format_score(result.test_score)}", markup=False)
    console.print(f"model: {result.bundle_path}   summary: {result.output_dir / 'summary.json'}", markup=False,
                  soft_wrap=True)
    console.print(f"MLflow: experiment '{s.mlflow_experiment}', run {s.mlflow_run_id} at {redact(s.tracking_uri)}",
                  markup=False, soft_wrap=True)
    for warning in s.warnings if warnings else ():  # last, where the eye lands when the run ends
        console.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def print_sweep(summary: pd.DataFrame) -> None:
    """The sweep's runs as a table on stdout."""
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = WIDE
    table = Table(title="sweep")
    columns = ("run", "status", "kind", "task", "metric", "winner", "val_score", "test_score", "trials", "minutes")
    for col in columns:
        table.add_column(col, justify="right" if col in ("val_score", "test_score", "trials", "minutes") else "left")
    for row in summary.itertuples(index=False):
        cells = []
        for col in columns:
            value = getattr(row, col)
            if value is None or (isinstance(value, float) and value != value):
                cells.append("")
            elif col in ("val_score", "test_score"):
                cells.append(format_score(value))
            else:
                cells.append(str(int(value)) if col == "trials" else str(value))
        table.add_row(*cells, style="red" if row.status == "failed" else None)
    console.print(table)
    for row in summary.itertuples(index=False):
        if row.status == "failed":
            console.print(f"{row.run}: {row.error}", markup=False, soft_wrap=True)
