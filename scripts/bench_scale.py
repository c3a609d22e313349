"""`autosearch fit` at one budget on data from a thousand rows to a million, as a user would run it: does the run
end inside its budget, how much memory does it take, how many network trials does each family get, when does the
first network start, and how does the pick test against scikit-learn's histogram gradient boosting fitted on
every training row (the classical model a budget must not make worse)?

    python scripts/bench_scale.py [--budget 2m] [--sets table_1k table_10k …] [--work DIR]

The tables are synthetic and ship nowhere: Friedman's #1 regression (10 of 20 numeric features matter,
non-linearly) plus a categorical column that shifts the target, at 1k, 10k, 100k and 1M rows; the image sets
are scikit-learn's 8×8 digits upsampled to 28×28 with noise and shifts, 5k and 50k samples. Each is split
80/20 with the same seed for `--test`, so the reference and the pick are scored on the same rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SETS = {"table_1k": ("table", 1_000), "table_10k": ("table", 10_000), "table_100k": ("table", 100_000),
        "table_1m": ("table", 1_000_000), "images_5k": ("images", 5_000), "images_50k": ("images", 50_000)}


def table(rows: int, seed: int = 0) -> pd.DataFrame:
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(rows, 20, noise=1.0, random_state=seed)
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"f{i}" for i in range(20)])
    group = np.random.default_rng(seed).choice(list("abcdefgh"), rows)
    frame["group"] = group
    frame["y"] = y + 2.0 * (group == "a") - 1.0 * (group == "b")
    return frame


def images(samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(digits.images), samples)
    big = zoom(digits.images[chosen], (1, 3.5, 3.5), order=1) + rng.normal(0, 1.0, (samples, 28, 28))
    shifts = rng.integers(-2, 3, (samples, 2))
    x = np.stack([np.roll(image, tuple(s), (0, 1)) for image, s in zip(big, shifts)]).astype(np.float32)
    return x, digits.target[chosen]


def write(name: str, work: Path) -> tuple[Path, Path, str | None, float, float]:
    """The set's training and test files, its target column (None: arrays) and the reference's test score
    (RMSE for tables, accuracy for images) with its fitting seconds."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, mean_squared_error

    kind, size = SETS[name]
    cut = int(size * 0.8)
    if kind == "table":
        frame = table(size)
        train, test = work / f"{name}.csv", work / f"{name}-test.csv"
        frame.iloc[:cut].to_csv(train, index=False)
        frame.iloc[cut:].to_csv(test, index=False)
        x = pd.get_dummies(frame.drop(columns="y"), dtype=np.float32).to_numpy()
        started = time.monotonic()
        model = HistGradientBoostingRegressor(random_state=0).fit(x[:cut], frame.y[:cut])
        score = float(np.sqrt(mean_squared_error(frame.y[cut:], model.predict(x[cut:]))))
        return train, test, "y", score, time.monotonic() - started
    x, y = images(size)
    train, test = work / f"{name}.npz", work / f"{name}-test.npz"
    np.savez(train, X=x[:cut], y=y[:cut])
    np.savez(test, X=x[cut:], y=y[cut:])
    flat = x.reshape(len(x), -1)
    started = time.monotonic()
    model = HistGradientBoostingClassifier(random_state=0).fit(flat[:cut], y[:cut])
    return train, test, None, float(accuracy_score(y[cut:], model.predict(flat[cut:]))), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--work", type=Path, help="folder for the files and runs (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"| set | seconds (budget {args.budget}) | peak RSS MB (process / children) | first network at s | "
          "trials by family | classical: fitted / sampled / skipped / cut | pick test | HGB on all rows (s) |\n"
          "|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        train, test, target, reference, reference_seconds = write(name, work)
        out = work / f"run-{name}"
        command = [sys.executable, "-m", "autosearch", "fit", str(train), "--test", str(test), "--time-budget",
                   args.budget, "--output", str(out), "--quiet"] + (["--target", target] if target else [])
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - started
        try:
            s = json.loads((out / "summary.json").read_text())
            board = pd.read_csv(out / "leaderboard.csv")
        except (OSError, ValueError):
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"| {name} | {seconds:.0f} (exit {done.returncode}) | | | | | {last} | {reference:.4g} |",
                  flush=True)
            continue
        nets = board[board.kind == "nn"]
        trials = ", ".join(f"{family} {count}" for family, count in nets.family.value_counts().items()) or "none"
        lines = s["plan"].get("lines", [])
        counts = [sum(line["action"] == "fit" and line["outcome"] == "complete" for line in lines),
                  sum(line["action"] == "sample" for line in lines),
                  sum(line["action"] == "skip" for line in lines),
                  sum(line["outcome"] == "cut short" for line in lines)]
        rss = s.get("peak_rss_mb", {})
        first = s["seconds"].get("prepare", 0) + s["seconds"].get("baselines", 0)
        print(f"| {name} | {seconds:.0f} | {rss.get('process', 0):.0f} / {rss.get('children', 0):.0f} | {first:.0f} "
              f"| {trials} | {' / '.join(map(str, counts))} | {s['metric']} {s['test_score']:.4g} "
              f"({s['winner']['name']}) | {reference:.4g} ({reference_seconds:.1f}) |", flush=True)


if __name__ == "__main__":
    main()
