"""Memory over a long search: the resident set size (RSS) after every trial.

    python scripts/bench_memory.py [--trials 200] [--engine optuna] [--command [--limit MB]] [--out rss.csv]

Runs a search on the bundled penguins example (holdout, one epoch per trial: short trials, so per-trial leaks
show over hundreds of them), reads the RSS when each trial ends, and prints the growth per trial after a
warm-up (the first WARMUP trials: TensorFlow's kernels and caches fill then), fitted by least squares, with
the RSS at a few points and the peak. Goal (issue 19): at most 0.3 MB per trial after warm-up.

By default the search is `autosearch.fit` in this process, as from Python, where nothing restarts. With
`--command` it is `autosearch fit` in a child process, as from the command line, which replaces its process
with a fresh one once it has grown `--limit` MB (AUTOSEARCH_MAX_GROWTH_MB; `autosearch.restart`): its RSS is
read at each trial line it prints, on the same PID across restarts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "penguins.csv"
WARMUP = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--engine", default="optuna")
    parser.add_argument("--command", action="store_true", help="run `autosearch fit` in a child process, which "
                        "restarts past --limit")
    parser.add_argument("--limit", type=float, default=1024.0, help="with --command: AUTOSEARCH_MAX_GROWTH_MB")
    parser.add_argument("--out", type=Path, help="write trial, seconds, rss_mb as CSV")
    args = parser.parse_args()
    if args.trials <= WARMUP + 2:
        parser.error(f"--trials must be more than {WARMUP + 2}: the growth is fitted after {WARMUP} warm-up trials")
    out = args.out.resolve() if args.out else None  # before the search changes the working folder

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as work:
        rows, restarts = (in_command if args.command else in_process)(args, Path(work))
    if len(rows) <= WARMUP + 2:
        raise SystemExit(f"only {len(rows)} trials finished: too few to fit the growth after {WARMUP}")

    trials = np.array([r[0] for r in rows], dtype=float)
    rss = np.array([r[2] for r in rows])
    after = trials > WARMUP
    slope = np.polyfit(trials[after], rss[after], 1)[0] if after.sum() > 2 else float("nan")
    how = f"`autosearch fit`, limit {args.limit:g} MB, {restarts} restarts" if args.command else "in this process"
    print(f"{len(rows)} trials in {rows[-1][1]:.0f} s ({how}; {args.engine} engine, holdout, 1 epoch each)")
    print("| trial | RSS (MB) |\n|---|---|")
    for point in sorted({1, WARMUP, len(rows) // 2, len(rows)}):
        print(f"| {point} | {rss[point - 1]:.0f} |")
    print(f"growth after trial {WARMUP}: {slope:.3f} MB per trial (least squares; goal <= 0.3); "
          f"peak {rss.max():.0f} MB")
    if out:
        out.write_text("trial,seconds,rss_mb\n" + "".join(f"{t},{s:.2f},{m:.1f}\n" for t, s, m in rows))


def in_process(args, work: Path) -> tuple[list[tuple[int, float, float]], int]:
    """`autosearch.fit` in this process: (trial, seconds, RSS MB) when each trial ends."""
    from autosearch.api import run_fit
    from autosearch.config import make_config
    from autosearch.progress import Progress

    process, rows, started = psutil.Process(), [], time.monotonic()

    class Measured(Progress):
        def trial_finished(self, record, counted=True, study_done=None):
            super().trial_finished(record, counted, study_done)
            rows.append((len(rows) + 1, time.monotonic() - started, process.memory_info().rss / 2**20))

    home = Path.cwd()
    os.chdir(work)
    try:
        config = make_config(target="species", trials=args.trials, max_epochs=1, holdout=True, engine=args.engine,
                             output=work / "run", tracking_uri=f"sqlite:///{work}/mlflow.db", quiet=True)
        run_fit(EXAMPLE, config, Measured(quiet=True))
    finally:
        os.chdir(home)
    return rows, 0


def in_command(args, work: Path) -> tuple[list[tuple[int, float, float]], int]:
    """`autosearch fit` in a child process: its RSS at each trial line it prints, and how often it restarted."""
    env = {**os.environ, "AUTOSEARCH_MAX_GROWTH_MB": f"{args.limit:g}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db"}
    command = [sys.executable, "-m", "autosearch", "fit", str(EXAMPLE), "--target", "species", "--trials",
               str(args.trials), "--max-epochs", "1", "--holdout", "--engine", args.engine, "--output",
               str(work / "run")]
    rows, restarts, started = [], 0, time.monotonic()
    child = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    process = psutil.Process(child.pid)  # the same PID after each restart (os.execv)
    for line in child.stderr:
        if line.startswith("  trial "):
            rows.append((len(rows) + 1, time.monotonic() - started, process.memory_info().rss / 2**20))
        restarts += "restarting the process" in line
    if child.wait():
        raise SystemExit(f"autosearch fit exited with {child.returncode}")
    return rows, restarts


if __name__ == "__main__":
    main()
