"""Where the wall time of a `fit` goes: inside Keras `fit` versus everything else.

    python scripts/bench_overhead.py [--trials 20] [--epochs 80] [--batch-size 32]

Runs a real `fit` (scikit-learn's digits, 1,797 rows x 64 features, 10 classes) with the default dense
space, early stopping disabled and the batch size fixed so trials last several seconds, and prints the
wall time of the whole process (imports included), the time spent fitting models (inside Keras `fit` for
the trials and the refit, and the baselines' `fit`), and the overhead fraction: everything else (imports,
data preparation, model building, Optuna, MLflow logging, writing the bundle).
Target (issue 2): under 10 % for trials of 5 s or more.

The MLflow store is created before the clock starts, as it exists for every fit but a project's first;
its one-off creation time is printed separately.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    store = f"sqlite:///{work / 'mlflow.db'}"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    created = subprocess.run([sys.executable, "-c", f"import time; t = time.perf_counter(); "
                              f"from mlflow import MlflowClient; MlflowClient('{store}').search_experiments(); "
                              f"print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
    os.environ["MLFLOW_TRACKING_URI"] = store
    global STARTED
    STARTED = time.perf_counter()

    import_start = time.perf_counter()
    import pandas as pd
    from sklearn.datasets import load_digits

    import autosearch
    from autosearch.models import load_keras
    from autosearch.spaces import default_space_path
    load_keras()
    import mlflow  # noqa: F401  (imported by fit anyway; timed here with the rest)
    imports = time.perf_counter() - import_start

    bunch = load_digits()
    frame = pd.DataFrame(bunch.data, columns=[f"px{i}" for i in range(bunch.data.shape[1])])
    frame["digit"] = bunch.target
    data = work / "digits.csv"
    frame.to_csv(data, index=False)
    space = yaml.safe_load(default_space_path().read_text())
    space["training"] = {"max_epochs": args.epochs, "patience": args.epochs}  # no early stop: steady trials
    space["params"]["batch_size"] = args.batch_size
    space_file = work / "space.yaml"
    space_file.write_text(yaml.safe_dump(space, sort_keys=False))

    result = autosearch.fit(data, target="digit", trials=args.trials, space=space_file,
                            output=work / "out", quiet=True)
    wall = time.perf_counter() - STARTED
    s = result.summary.as_dict()
    seconds = s["seconds"]
    trial_fit = s["trial_fit_seconds"]
    baseline_fit = float(result.leaderboard.loc[result.leaderboard.kind == "baseline", "fit_seconds"].sum())
    fitting = trial_fit + seconds["refit_fit"] + baseline_fit
    n = sum(s["trials"].values())
    refit_rest = seconds["total"] - sum(v for k, v in seconds.items() if k not in ("total", "refit_fit"))
    print(f"data: digits {len(frame)} rows x {frame.shape[1] - 1} features; {n} trials "
          f"({s['trials']['complete']} complete, {s['trials']['pruned']} pruned), "
          f"{args.epochs} epochs max, batch {args.batch_size}; winner {result.winner.name}")
    print(f"one-off: creating the MLflow store {float(created.stdout):.2f} s (not in the wall time)")
    print(f"mean trial inside Keras fit:  {trial_fit / max(n, 1):7.2f} s")
    print(f"wall time (process):          {wall:7.2f} s")
    print(f"  imports (TF/Keras, MLflow): {imports:7.2f} s")
    print(f"  prepare data + MLflow run:  {seconds['prepare']:7.2f} s")
    print(f"  baselines:                  {seconds['baselines']:7.2f} s  (inside fit {baseline_fit:.2f} s)")
    print(f"  search:                     {seconds['search']:7.2f} s  (inside Keras fit {trial_fit:.2f} s, "
          f"per-trial overhead {(seconds['search'] - trial_fit) / max(n, 1):.3f} s)")
    print(f"  refit + save:               {seconds['refit'] + refit_rest:7.2f} s  "
          f"(inside fit {seconds['refit_fit']:.2f} s)")
    print(f"fitting models (all):         {fitting:7.2f} s")
    per_trial = (seconds["search"] - trial_fit) / max(trial_fit, 1e-9)
    print(f"per-trial overhead fraction:  {per_trial:7.1%}   (outside fit / inside fit, per trial)")
    print(f"overhead fraction:            {1 - fitting / wall:7.1%}   (target < 10%)")


if __name__ == "__main__":
    main()
