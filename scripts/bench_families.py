"""Each network family's first trial (its space file's defaults) alone, on the benchmark's sets.

    python scripts/bench_families.py [--seed 0] [--sets gunpoint basic_motions japanese_vowels digits]
        [--families tabm] [--set tabm.embedding=piecewise ...] [--trials 20]

Sets are `scripts/benchmark.py`'s (series, digits, tables, topics; the series and digits by default).
`--set family.param=value` changes a default (the first trial) of a family's space, to compare recipes.
`--trials N` searches N trials of each family instead (the best of them is reported), to compare a new
family's first trial with what an old family finds in N.

For every family the data's kind searches, runs `autosearch fit --space <family>.yaml --trials 1 --holdout`
(one network trained with early stopping on the validation split, refitted on train+validation) and prints
its validation score, its test score, the epochs it trained, the seconds per epoch (training and the
per-epoch validation scoring; 2-core CPU here) and the search's seconds. The question it answers (issue
16): does a family's first trial alone beat what the old families found, and what does an epoch cost?
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import suite  # noqa: E402  the benchmark's sets and splits

SETS = ("gunpoint", "basic_motions", "japanese_vowels", "digits_images")
KIND = {"table": "tabular", "image": "image", "sequence": "sequence", "text": "text"}


def space_file(family: str, changes: dict[str, str], work: Path) -> Path:
    """The family's space file, or a copy of it with some defaults changed."""
    from autosearch.spaces import default_space_path

    path = default_space_path(family)
    if not changes:
        return path
    space = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        value = yaml.safe_load(value)
        entry = space["params"].get(key)
        if isinstance(entry, dict):
            entry["default"] = value
        else:
            space["params"][key] = value
    out = work / f"{family}-{'-'.join(f'{k}={v}' for k, v in changes.items())}.yaml"
    out.write_text(yaml.safe_dump(space))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sets", nargs="+", choices=list(suite()), default=list(SETS))
    parser.add_argument("--families", nargs="+", help="only these families (default: all of the data's kind)")
    parser.add_argument("--set", action="append", default=[], metavar="FAMILY.PARAM=VALUE",
                        help="a changed default, e.g. tabm.embedding=piecewise (repeatable)")
    parser.add_argument("--trials", type=int, default=1, help="trials per family (default: its first only)")
    args = parser.parse_args()
    changes: dict[str, dict[str, str]] = {}
    for item in args.set:
        name, value = item.split("=", 1)
        family, key = name.split(".", 1)
        changes.setdefault(family, {})[key] = value
    work = Path(tempfile.mkdtemp(prefix="bench-families-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import autosearch
    from autosearch.data.kinds import KINDS, DataKind

    print("| set | family | changed | trials | val | test | epochs | s/epoch | search s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        data = suite()[name]()
        files = data.files(work)
        for family in KINDS[DataKind(KIND[data.kind])].families:
            if args.families and family not in args.families:
                continue
            changed = changes.get(family, {})
            label = " ".join(f"{k}={v}" for k, v in changed.items())
            out = work / f"{name}-{family}-{len(list(work.iterdir()))}"
            result = autosearch.fit(files["data"], target=files.get("target"), test=files.get("test"),
                                    metric=data.metric, space=space_file(family, changed, work), trials=args.trials,
                                    holdout=True, seed=args.seed, quiet=True, output=out)
            nn = result.summary.as_dict()["best_nn"]
            if nn is None:
                print(f"| {name} | {family} | {label} | {args.trials} | failed | | | | |", flush=True)
                continue
            test = nn.get("test_score")
            test = autosearch.test_candidate(out, nn["name"]) if test is None else test
            row = result.leaderboard.set_index("name").loc[nn["name"]]
            print(f"| {name} | {family} | {label} | {args.trials} | {nn['val_score']:.4f} | {test:.4f} | "
                  f"{int(row.epochs)} | {row.fit_seconds / max(row.epochs, 1):.3f} | "
                  f"{result.summary.seconds.get('search', float('nan')):.0f} |", flush=True)


if __name__ == "__main__":
    main()
