"""Validation scores of the searched networks against the best baseline, on real data of each kind.

    python scripts/bench_kinds.py [--budget 2m] [--seed 0]

Runs `autosearch fit` with the default spaces at the same wall-clock budget on:
- digits (scikit-learn, 1,797 8x8 images, 10 classes) as an image array: conv2d;
- BasicMotions (UEA, 80 series of 100 steps x 6 channels, 4 classes; tests/data): the series families;
- GunPoint (UCR, 200 series of 150 steps, 2 classes; tests/data): the series families;
- chatterbot-corpus dialogues (661 documents, 5 topics; needs `pip install chatterbot-corpus`): text;
and prints, per set, the best network's and the best baseline's validation score, the winner and its
test score, and how many trials ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def datasets(work: Path) -> dict[str, Path]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savez(work / "digits.npz", X=digits.images.astype(np.float32), y=digits.target)
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import _topic_documents  # the same text set the tests use

    _topic_documents()[["text", "topic"]].to_csv(work / "topics.csv", index=False)
    return {"digits (image)": work / "digits.npz", "BasicMotions (sequence)": ROOT / "tests/data/basic_motions.npz",
            "GunPoint (sequence)": ROOT / "tests/data/gunpoint.npz", "chatterbot topics (text)": work / "topics.csv"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-kinds-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import autosearch

    rows = []
    for name, path in datasets(work).items():
        result = autosearch.fit(path, trials=10_000, time_budget=args.budget, seed=args.seed, quiet=True,
                                output=work / name.split()[0])
        s = result.summary.as_dict()
        nn, base = s["best_nn"] or {}, s["best_baseline"] or {}
        rows.append((name, s["metric"], ",".join(s["families"]), f"{nn.get('val_score', float('nan')):.4f}",
                     nn.get("name", "-"), f"{base.get('val_score', float('nan')):.4f}", base.get("name", "-"),
                     s["winner"]["name"], f"{s['test_score']:.4f}", str(sum(s["trials"].values())),
                     f"{s['seconds']['total']:.0f}"))
    header = ("data", "metric", "families", "best nn val", "(trial)", "best baseline val", "(model)", "winner",
              "winner test", "trials", "seconds")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
