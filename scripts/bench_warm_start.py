"""Does a warm start pay? A search, then the same search again started from the first one's best trials.

    python scripts/bench_warm_start.py [--budget 2m] [--sets breast_cancer,wine,diabetes,digits]
    python scripts/bench_warm_start.py --from breast_cancer --sets wine,digits     # from other data

For each of scikit-learn's bundled tables, a first `fit` (seed 0) and a second one on the same data and seed
with `--warm-start` naming the first run's folder, each with the same time budget. It prints, from the trials'
MLflow runs (their end times, counted from the start of the search: its first trial's start):

- first: when the first search reached its best validation score, of how many seconds of search in all;
- warm: when the second search first matched that score (a trial retrained with another seed may not), and
  the second search's best score by a quarter of the first one's search time;
- both picks' test scores, scored once, for information only (nothing is chosen on them).

With `--from SET`, the first search runs on SET alone, and each of `--sets` is searched twice: as usual, and
warm-started from SET's MLflow experiment (configurations other data found); it prints each one's best
validation score, its best within a quarter of the search, its network trials and its test score.

The issue's goal (#34) reads "reaches the first search's best validation score in at most a quarter of the
first one's time".
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

SETS = ("breast_cancer", "wine", "diabetes", "digits")


def table(name: str, folder: Path) -> tuple[Path, str]:
    import pandas as pd
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])  # x0…x12 read as a series
    frame["target"] = bunch.target if name == "diabetes" else [f"c{v}" for v in bunch.target]
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path, "target"


def timeline(folder: Path) -> tuple[list[tuple[float, float]], float, bool]:
    """(seconds from the search's start, its first trial's, to each complete trial's end, its val score), the
    search's seconds, and whether greater is better."""
    from mlflow import MlflowClient

    from autosearch.api import leaderboard

    board, summary = leaderboard(folder)
    client = MlflowClient()
    nets = board[board.kind == "nn"]
    infos = [client.get_run(run_id).info for run_id in nets.mlflow_run_id]
    start = min(info.start_time for info in infos)
    points = sorted(((info.end_time - start) / 1000, float(score)) for info, score, state in
                    zip(infos, nets.val_score, nets.state) if state == "complete")
    return points, summary.seconds["search"], summary.greater_is_better


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--from", dest="source", help="warm-start each set from this set's experiment instead")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    import autosearch
    from autosearch.api import leaderboard

    print(f"budget {args.budget}; work folder {work}")
    if args.source:
        from_other_data(args.source, args.sets.split(","), args.budget, work)
        return
    print(f"{'set':<14} {'first best':>10} {'at s':>6} {'of s':>6} {'warm match s':>12} {'warm best@1/4':>13} "
          f"{'first test':>10} {'warm test':>9}")
    for name in args.sets.split(","):
        path, target = table(name, work)
        first, warm = work / f"{name}-first", work / f"{name}-warm"
        autosearch.fit(path, target=target, time_budget=args.budget, seed=0, quiet=True, output=first,
                       experiment=name)
        autosearch.fit(path, target=target, time_budget=args.budget, seed=0, quiet=True, output=warm,
                       experiment=f"{name}-warm", warm_start=str(first))
        points, seconds, greater = timeline(first)
        better = (lambda a, b: a >= b) if greater else (lambda a, b: a <= b)
        best = max(points, key=lambda p: p[1] if greater else -p[1])
        warm_points, _, _ = timeline(warm)
        match = next((t for t, v in warm_points if better(v, best[1])), None)
        early = [v for t, v in warm_points if t <= seconds / 4]
        quarter = (max(early) if greater else min(early)) if early else None
        tests = [leaderboard(f)[1].test_score for f in (first, warm)]
        print(f"{name:<14} {best[1]:>10.4f} {best[0]:>6.0f} {seconds:>6.0f} "
              f"{'never' if match is None else f'{match:.0f}':>12} "
              f"{'none' if quarter is None else f'{quarter:.4f}':>13} {tests[0]:>10.4f} {tests[1]:>9.4f}", flush=True)


def from_other_data(source: str, sets: list[str], budget: str, work: Path) -> None:
    import autosearch
    from autosearch.api import leaderboard

    path, target = table(source, work)
    autosearch.fit(path, target=target, time_budget=budget, seed=0, quiet=True, output=work / source,
                   experiment=source)
    print(f"{'set':<14} {'variant':<22} {'best val':>9} {'best @1/4':>9} {'trials':>6} {'test':>7}")
    for name in sets:
        path, target = table(name, work)
        for variant, warm in (("defaults first", None), (f"warm from {source}", source)):
            out = work / f"{name}-{variant.split()[0]}"
            autosearch.fit(path, target=target, time_budget=budget, seed=0, quiet=True, output=out,
                           experiment=out.name, warm_start=warm)
            points, seconds, greater = timeline(out)
            pick = max if greater else min
            early = [v for t, v in points if t <= seconds / 4]
            board, summary = leaderboard(out)
            print(f"{name:<14} {variant:<22} {pick(v for _, v in points):>9.4f} "
                  f"{'none' if not early else f'{pick(early):.4f}':>9} {int((board.kind == 'nn').sum()):>6} "
                  f"{summary.test_score:>7.4f}", flush=True)


if __name__ == "__main__":
    main()
