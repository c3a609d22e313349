"""Trials per hour on Ray with 1 and 2 concurrent single-threaded trials, against the in-process Optuna engine.

    python scripts/bench_parallel.py [--trials 24] [--epochs 10] [--repeats 1]

The same search (digits as a table, 1,797 rows) runs three times, each in a fresh process with TensorFlow
held to one thread per trial: `--engine optuna` (in process), `--engine ray --concurrency 1`, and
`--engine ray --concurrency 2` (FIFO: Ray stops no trial). Every trial costs the same: the space fixes
the network's size and batch (two Dense layers of 128, batch 32, `--epochs` epochs, no early stopping)
and searches only settings that do not change the compute (activation, dropout, L2, optimizer, learning
rate), so the runs differ only in how trials are run, not in which trials TPE happened to pick.

The machine's own limit comes first: the same trials (`training.train_network` on the same network) run
in plain processes, no engine and no logging, one process alone and then two at once. Its efficiency is
the most any engine can reach here (on shared or throttled cores it is well below 1.0).

From the MLflow runs of each search it prints:
- steady state: trials per hour from the first trial's start to the last trial's end (what a long sweep
  sees), and the parallel efficiency of two trials at once: rate with 2 / (2 x rate with 1), 1.0 perfect;
- start-up: the search's seconds outside that window (starting Ray and its workers, importing TensorFlow
  in each, shutting down), paid once per `fit`;
- end to end: trials per hour over the whole search, start-up included, and its efficiency;
- the Ray engine's overhead against the in-process engine as time per trained epoch, in steady state and
  end to end (the in-process engine's median pruner ends some trials early, so compare per epoch).
With `--repeats N` each figure is the median of N rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

SPACE = """family: dense
training: {{max_epochs: {epochs}, patience: {epochs}}}
params:
  layers: 2
  units: {{type: int, low: 128, high: 128, per_layer: layers}}
  batch_size: 32
  batch_norm: false
  activation: {{type: categorical, choices: [relu, gelu, swish, tanh]}}
  dropout: {{type: float, low: 0.0, high: 0.5}}
  l2: {{type: float, low: 1.0e-6, high: 1.0e-2, log: true}}
  optimizer: {{type: categorical, choices: [adam, rmsprop]}}
  learning_rate: {{type: float, low: 1.0e-4, high: 1.0e-2, log: true}}
"""
ENGINES = {
    "optuna in process": [],
    "ray, concurrency 1": ["--engine", "ray", "--scheduler", "fifo", "--cpus-per-trial", "1", "--concurrency", "1"],
    "ray, concurrency 2": ["--engine", "ray", "--scheduler", "fifo", "--cpus-per-trial", "1", "--concurrency", "2"],
}


def run(work: Path, name: str, data: Path, space: Path, trials: int, extra: list[str]) -> dict:
    import mlflow

    uri = f"sqlite:///{work / 'mlflow.db'}"
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "MLFLOW_TRACKING_URI": uri,
           "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0"}
    out = work / name
    cmd = [sys.executable, "-m", "autosearch", "fit", str(data), "--target", "target", "--trials", str(trials),
           "--space", str(space), "--output", str(out), "--quiet", *extra]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "summary.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    nn = board[board.kind == "nn"]
    runs = mlflow.MlflowClient(uri).get_run  # each trial's MLflow run: when it started and ended
    times = [runs(run_id).info for run_id in nn.mlflow_run_id]
    window = (max(t.end_time for t in times) - min(t.start_time for t in times)) / 1000
    search, epochs = summary["seconds"]["search"], int(nn.epochs.sum())
    return {"search_s": search, "window_s": window, "startup_s": search - window, "trials": len(nn),
            "epochs": epochs, "steady_per_hour": len(nn) / window * 3600, "per_hour": len(nn) / search * 3600,
            "steady_s_per_epoch": window / epochs, "s_per_epoch": search / epochs}


def ceiling_child(data: Path, space: Path, trials: int) -> None:
    """Train `trials` networks of the bench's space in this process; print the seconds they took."""
    import time

    from autosearch.config import make_config
    from autosearch.prepare import prepare
    from autosearch.progress import Progress
    from autosearch.training import train_network

    prep = prepare(data, make_config(target="target", space=[str(space)]), Progress(quiet=True))
    space_ = prep.space("dense")
    params = {"activation": "relu", "dropout": 0.1, "l2": 1e-5, "optimizer": "adam", "learning_rate": 1e-3,
              "layers": 2, "units_0": 128, "units_1": 128, "batch_size": 32, "batch_norm": False}
    started = time.perf_counter()
    for seed in range(trials):
        train_network(params, space_, prep.problem, seed=seed)
    print(time.perf_counter() - started)


def ceiling(data: Path, space: Path, trials: int) -> dict:
    """Seconds for `trials` plain trainings in one process alone, then in each of two at once."""
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, __file__, "--ceiling-child", str(data), str(space), str(trials)]

    def seconds(*procs: subprocess.Popen) -> list[float]:
        return [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]

    def start() -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    alone = seconds(start())[0]
    pair = seconds(start(), start())
    return {"alone_s": alone, "pair_s": statistics.mean(pair)}


def median(rounds: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--ceiling-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ceiling_child:
        data, space, trials = args.ceiling_child
        return ceiling_child(Path(data), Path(space), int(trials))
    from sklearn.datasets import load_digits

    work = Path(tempfile.mkdtemp(prefix="bench-parallel-"))
    data, space = work / "digits.csv", work / "dense.yaml"
    load_digits(as_frame=True).frame.to_csv(data, index=False)
    space.write_text(SPACE.format(epochs=args.epochs))
    rounds: dict[str, list[dict]] = {name: [] for name in ENGINES}
    limits = []
    for repeat in range(args.repeats):
        limits.append(ceiling(data, space, max(2, args.trials // 4)))
        for i, (name, extra) in enumerate(ENGINES.items()):
            rounds[name].append(run(work, f"run{repeat}-{i}", data, space, args.trials, extra))
    results = {name: median(r) for name, r in rounds.items()}
    limit = median(limits)

    print(f"{os.cpu_count()} cores; {args.trials} trials of 2x128 Dense, batch 32, {args.epochs} epochs "
          f"(digits as a table); medians of {args.repeats} round(s)")
    machine = limit["alone_s"] / limit["pair_s"]
    each = ", ".join(f"{r['alone_s'] / r['pair_s']:.2f}" for r in limits)
    print(f"  the machine's limit: {max(2, args.trials // 4)} plain trainings take {limit['alone_s']:.1f} s in one "
          f"process alone, {limit['pair_s']:.1f} s in each of two at once: efficiency {machine:.2f} (rounds: {each})")
    for name, r in results.items():
        print(f"  {name:20s} steady {r['steady_per_hour']:6.0f} trials/h ({r['window_s']:5.1f} s)   start-up "
              f"{r['startup_s']:5.1f} s   end to end {r['per_hour']:6.0f} trials/h ({r['search_s']:5.1f} s)   "
              f"{r['trials']:.0f} trials, {r['epochs']:.0f} epochs")
    one, two = results["ray, concurrency 1"], results["ray, concurrency 2"]
    for label, key in (("steady state", "steady_per_hour"), ("end to end  ", "per_hour")):
        efficiency = two[key] / (2 * one[key])
        each = ", ".join(f"{b[key] / (2 * a[key]):.2f}" for a, b in zip(rounds["ray, concurrency 1"],
                                                                    rounds["ray, concurrency 2"]))
        print(f"parallel efficiency (2 at once), {label}: {efficiency:.2f}  (speed-up {two[key] / one[key]:.2f}x; "
              f"{efficiency / machine:.2f} of the machine's limit; rounds: {each})")
    base = results["optuna in process"]
    for label, key in (("steady state", "steady_s_per_epoch"), ("end to end  ", "s_per_epoch")):
        print(f"Ray engine overhead at concurrency 1, {label}: {one[key] / base[key] - 1:+.0%} time per trained "
              "epoch against the in-process engine")


if __name__ == "__main__":
    main()
