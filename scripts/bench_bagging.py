"""Repeated k-fold bagging (autosearch/bagging.py): each bagged network against the network it bags, validation
and test, on runs whose trial cap leaves time in their budget.

    python scripts/bench_bagging.py [--sets diabetes breast_cancer penguins_mass wine] [--trials 6]
                                    [--budget 150s] [--work DIR]

For each set, `autosearch fit --trials N --time-budget B` (the search ends at its cap, the time left bags its best
networks), then every bagged candidate and its network are refitted and scored once on the run's test split
(`autosearch.test_candidate`: measurement after the fact, never a choice). Prints validation and test scores of
each pair and of the run's pick. The same comparison a long budget makes once its search settles.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sklearn import datasets

ROOT = Path(__file__).resolve().parents[1]


def write(name: str, work: Path) -> tuple[Path, str]:
    if name == "penguins_mass":
        return ROOT / "examples" / "penguins.csv", "body_mass_g"
    loader = {"diabetes": datasets.load_diabetes, "breast_cancer": datasets.load_breast_cancer,
              "wine": datasets.load_wine}[name]
    path = work / f"{name}.csv"
    loader(as_frame=True).frame.to_csv(path, index=False)
    return path, "target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["diabetes", "breast_cancer", "penguins_mass", "wine"])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--budget", default="150s")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    import autosearch
    from autosearch.bagging import SUFFIX

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-bagging-"))
    work.mkdir(parents=True, exist_ok=True)
    print("| set | metric | candidate | validation | test | bagged over | validation | test |\n"
          "|---|---|---|---|---|---|---|---|", flush=True)
    for name in args.sets:
        data, target = write(name, work)
        result = autosearch.fit(data, target=target, trials=args.trials, time_budget=args.budget, seed=args.seed,
                                output=work / f"run-{name}", quiet=True)
        board = result.leaderboard.set_index("name")
        for bagged in [n for n in board.index if SUFFIX in n]:
            base = bagged.rsplit(SUFFIX, 1)[0]
            tests = {n: autosearch.test_candidate(result.output_dir, n) for n in (base, bagged)}
            print(f"| {name} | {result.metric} | {base} | {board.val_score[base]:.4f} | {tests[base]:.4f} | "
                  f"{bagged.rsplit(SUFFIX, 1)[1]} splits | {board.val_score[bagged]:.4f} | {tests[bagged]:.4f} |",
                  flush=True)
        pick = result.winner
        print(f"| {name} | {result.metric} | pick: {pick.name} | {pick.val_score:.4f} | {result.test_score:.4f} | "
              f"{result.summary.seconds['total']:.0f} s | | |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
