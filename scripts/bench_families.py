"""Each network family's first trial (its space file's defaults) alone, on the shipped series sets and digits.

    python scripts/bench_families.py [--seed 0] [--sets gunpoint basic_motions japanese_vowels digits]

For every family the data's kind searches, runs `autosearch fit --space <family>.yaml --trials 1 --holdout`
(one network trained with early stopping on the validation split, refitted on train+validation) and prints
its validation score, its test score, the epochs it trained and the seconds per epoch (training and the
per-epoch validation scoring; 2-core CPU here). The question it answers (issue 16): does a family's first
trial alone beat what the old families found, and what does an epoch of it cost?
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETS = ("gunpoint", "basic_motions", "japanese_vowels", "digits")


def dataset(name: str, work: Path) -> Path:
    if name != "digits":
        return ROOT / "tests" / "data" / f"{name}.npz"
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()  # the benchmark's split of it: 75 % to search on, 25 % test
    X, X_test, y, y_test = train_test_split(digits.images.astype(np.float32), digits.target, test_size=0.25,
                                            random_state=0, stratify=digits.target)
    np.savez(work / "digits.npz", X=X, y=y, X_test=X_test, y_test=y_test)
    return work / "digits.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-families-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import autosearch
    from autosearch.data.kinds import KINDS, DataKind
    from autosearch.spaces import default_space_path

    print("| set | family | val | test | epochs | s/epoch |")
    print("|---|---|---|---|---|---|")
    for name in args.sets:
        path = dataset(name, work)
        kind = DataKind.IMAGE if name == "digits" else DataKind.SEQUENCE
        for family in KINDS[kind].families:
            out = work / f"{name}-{family}"
            result = autosearch.fit(path, space=default_space_path(family), trials=1, holdout=True,
                                    seed=args.seed, quiet=True, output=out)
            nn = result.summary.as_dict()["best_nn"]
            if nn is None:
                print(f"| {name} | {family} | failed | | | |", flush=True)
                continue
            test = nn.get("test_score")
            test = autosearch.test_candidate(out, nn["name"]) if test is None else test
            row = result.leaderboard.set_index("name").loc[nn["name"]]
            print(f"| {name} | {family} | {nn['val_score']:.4f} | {test:.4f} | {int(row.epochs)} | "
                  f"{row.fit_seconds / max(row.epochs, 1):.3f} |", flush=True)


if __name__ == "__main__":
    main()
