"""Trials per hour on Ray with 1 and 2 concurrent single-threaded trials, against the in-process Optuna engine.

    python scripts/bench_parallel.py [--trials 16] [--epochs 10]

The same search (digits as a table, 1,797 rows, the dense space, a fixed number of trials and epochs, no
scheduler stopping trials) runs three times, each in a fresh process with TensorFlow held to one thread
per trial: `--engine optuna` (in process), `--engine ray --concurrency 1`, `--engine ray --concurrency 2`.
It prints the search's wall time and trials per hour for each, the parallel efficiency of two trials at
once (rate with 2 / (2 x rate with 1); 1.0 is perfect), and the Ray engine's overhead against the
in-process engine at concurrency 1 as time per trained epoch (Ray's start-up included; the in-process
engine's median pruner ends some trials early, so trials per hour alone would flatter it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd


def run(work: Path, name: str, data: Path, trials: int, epochs: int, extra: list[str]) -> dict:
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "MLFLOW_DISABLE_TELEMETRY": "true",
           "RAY_USAGE_STATS_ENABLED": "0"}
    out = work / name
    cmd = [sys.executable, "-m", "autosearch", "fit", str(data), "--target", "target", "--trials", str(trials),
           "--max-epochs", str(epochs), "--output", str(out), "--quiet", *extra]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    search = summary["seconds"]["search"]
    board = pd.read_csv(out / "leaderboard.csv")
    epochs = int(board[board.kind == "nn"].epochs.sum())  # engines stop trials differently: compare per epoch too
    return {"search_s": search, "per_hour": trials / search * 3600, "trials": sum(summary["trials"].values()),
            "epochs": epochs, "epochs_per_s": epochs / search}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    work = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    data = work / "digits.csv"
    load_digits(as_frame=True).frame.to_csv(data, index=False)
    ray = ["--engine", "ray", "--scheduler", "fifo", "--cpus-per-trial", "1"]
    results = {
        "optuna in process": run(work, "optuna", data, args.trials, args.epochs, []),
        "ray, concurrency 1": run(work, "ray1", data, args.trials, args.epochs, [*ray, "--concurrency", "1"]),
        "ray, concurrency 2": run(work, "ray2", data, args.trials, args.epochs, [*ray, "--concurrency", "2"]),
    }
    print(f"{os.cpu_count()} cores; {args.trials} trials of up to {args.epochs} epochs (digits, dense)")
    for name, r in results.items():
        print(f"  {name:20s} search {r['search_s']:6.1f} s   {r['per_hour']:7.0f} trials/hour   "
              f"{r['epochs']:4d} epochs, {r['epochs_per_s']:5.1f} epochs/s   ({r['trials']} ran)")
    one, two = results["ray, concurrency 1"]["per_hour"], results["ray, concurrency 2"]["per_hour"]
    print(f"parallel efficiency (2 at once): {two / (2 * one):.2f}  (speed-up {two / one:.2f}x)")
    base = results["optuna in process"]["epochs_per_s"]
    print(f"Ray engine overhead at concurrency 1: {base / results['ray, concurrency 1']['epochs_per_s'] - 1:+.0%} "
          "time per trained epoch against the in-process engine (which also prunes, so compare per epoch)")


if __name__ == "__main__":
    main()
