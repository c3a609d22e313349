"""AutoETS and AutoARIMA (statsforecast) on one set of scripts/bench_forecast.py, run by a Python that has
statsforecast (it pins pandas < 3: kept in a virtual environment of its own, never autosearch's).

    python bench_forecast_stats.py FOLDER     # reads FOLDER/history.csv and task.json, writes FOLDER/stats.csv

Steps are numbered per series (statsforecast's integer frequency): the models see the same values autosearch
does, in the same order (the last SEASONS seasons of each, at least MIN_STEPS: AutoARIMA with a season of 48
ran over 5 minutes on the year of half-hours); forecasts come out per series in sorted order, as
bench_forecast.py reads them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from statsforecast import StatsForecast
from statsforecast.models import AutoARIMA, AutoETS

SEASONS, MIN_STEPS = 20, 200


def main(folder: Path) -> None:
    task = json.loads((folder / "task.json").read_text())
    history = pd.read_csv(folder / "history.csv")
    if "id" not in history.columns:
        history = history.assign(id="series")
    history = history.sort_values(["id", "time"], kind="stable")
    frame = pd.DataFrame({"unique_id": history["id"].astype(str), "y": history["y"].astype(float)})
    frame["ds"] = frame.groupby("unique_id").cumcount()
    keep = frame.groupby("unique_id").cumcount(ascending=False) < max(SEASONS * task["season"], MIN_STEPS)
    frame = frame[keep]
    models = [AutoETS(season_length=task["season"]), AutoARIMA(season_length=task["season"])]
    forecast = StatsForecast(models=models, freq=1, n_jobs=1).forecast(df=frame, h=task["horizon"])
    forecast.sort_values(["unique_id", "ds"], kind="stable")[["AutoETS", "AutoARIMA"]].to_csv(
        folder / "stats.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
