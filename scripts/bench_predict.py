"""Serving and start-up times: `autosearch predict` and the estimator's `predict` on 1,000 rows, in a cold
process and a warm one; `import autosearch` and `autosearch --help`.

    python scripts/bench_predict.py [--run DIR] [--repeats 5]

Without --run it first fits the bundled penguins example (2 trials, a network and the baselines; the pick is
whatever wins), then times its model. Prints a Markdown table of medians; 2-core CPU here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "penguins.csv"


def timed(command: list[str], repeats: int, cwd: Path) -> float:
    """The median wall time of a fresh process running `command`."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=cwd)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def warm_median(call, repeats: int) -> float:
    """The median time of `call` in this process, already warmed up."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def thousand_rows(run: Path, work: Path):
    """1,000 samples of the run's own data (repeated): as given to `predict` (a frame or an array), as the
    estimator takes them (features only), and as a file for the CLI."""
    import json

    source = Path(json.loads((run / "run.json").read_text())["data"])
    if source.suffix == ".npz":
        X = np.load(source)["X"]
        X = np.concatenate([X] * (1000 // len(X) + 1))[:1000]
        np.savez(work / "rows.npz", X=X)
        return X, (X if X.ndim == 2 else None), work / "rows.npz"
    frame = pd.read_csv(source)
    frame = pd.concat([frame] * (1000 // len(frame) + 1), ignore_index=True).iloc[:1000]
    frame.to_csv(work / "rows.csv", index=False)
    targets = json.loads((run / "summary.json").read_text())["target"]
    return frame, frame.drop(columns=[targets] if isinstance(targets, str) else targets), work / "rows.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished run folder (default: fit the penguins example)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    python = sys.executable
    run = args.run
    if run is None:
        run = work / "run"
        subprocess.run([python, "-m", "autosearch", "fit", str(EXAMPLE), "--target", "species", "--trials", "2",
                        "--output", str(run), "--quiet"], check=True, capture_output=True, cwd=work)
    rows, features, data = thousand_rows(run, work)

    numbers = {
        "`import autosearch` (fresh process)": timed([python, "-c", "import autosearch"], args.repeats, work),
        "`autosearch --help` (fresh process)": timed([python, "-m", "autosearch", "--help"], args.repeats, work),
        "`autosearch predict` on 1,000 rows (fresh process: imports, load, predict)": timed(
            [python, "-m", "autosearch", "predict", str(run / "model"), str(data), "-o", str(work / "p.csv")],
            max(1, args.repeats // 2), work),
    }
    import autosearch
    from autosearch.serving.bundle import Bundle

    started = time.perf_counter()
    bundle = Bundle.load(run / "model")
    numbers["`Bundle.load` (warm process)"] = time.perf_counter() - started
    started = time.perf_counter()
    bundle.predict(rows)
    numbers["first `predict` on 1,000 rows after loading"] = time.perf_counter() - started
    numbers["`predict` on 1,000 rows (warm)"] = warm_median(lambda: bundle.predict(rows), args.repeats)
    if features is not None:  # the estimators take tables (2-D arrays or frames)
        estimator = autosearch.load(run)
        estimator.predict(features)
        numbers["estimator `predict` on 1,000 rows (warm)"] = warm_median(lambda: estimator.predict(features),
                                                                          args.repeats)

    winner = bundle.meta.winner
    print(f"model: {winner.name} ({winner.kind}, {len(bundle.members)} member(s)) from {run}\n")
    print("| what | seconds |")
    print("|---|---|")
    for name, seconds in numbers.items():
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
