"""How to choose among forecasters on a few backtests: the selection rules compared at many forecast origins.

    pip install -e ".[benchmark]"
    python scripts/study_forecast_selection.py [--origins 4] [--sets elecdaily …] [--lookback-times 1 3]
                                               [--known] [--candidates linear extra_trees …]

No search and no networks: the classical forecasters of a forecast run (the common-sense ones, damped smoothing,
theta, ridge, extra trees, gradient boosting) on scripts/bench_forecast.py's ten sets, each cut at `--origins`
points (its last H steps, the H before them, …). At each cut the run's own split (data/forecast.py) gives each
candidate's backtest forecasts (its validation) and its forecast of the H steps after the cut (its test). Each
selection rule sees the backtests only and names a forecast; the test scores it. Prints MASE (the windows'
units) per set, the geometric mean over origins and sets relative to the seasonal naive's, per rule. With
--known, bench_forecast's KNOWN covariates are read as known ahead (`--known`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_forecast import KNOWN, SETS, earlier, load_set  # noqa: E402

from autosearch import ensemble  # noqa: E402
from autosearch.baselines import make_estimator  # noqa: E402
from autosearch.data.forecast import forecast_spec, make_windows, split_windows  # noqa: E402
from autosearch.preprocessing import WindowFeatures  # noqa: E402
from autosearch.tasks import Task  # noqa: E402

CANDIDATES = ("seasonal_naive", "naive", "window_mean", "ets", "theta", "linear", "extra_trees", "gradient_boosting")
LOCAL = {"seasonal_naive", "naive", "window_mean", "ets", "theta"}


def mase(truth: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(truth - forecast)))


def candidates_at(frame, horizon: int, several: bool, lookback_times: float, seed: int = 0,
                  known: tuple[str, ...] = (), candidates: tuple[str, ...] = CANDIDATES):
    """Per candidate: (backtest forecasts over the validation windows, test forecast), and the truths."""
    spec, _ = forecast_spec(frame, "y", "time", "id" if several else None, horizon, ("time",), known)
    if lookback_times != 1:
        from dataclasses import replace
        length = frame.groupby("id").size().median() if several else len(frame)
        spec = replace(spec, lookback=int(min(spec.lookback * lookback_times, max(8, (length - horizon) * 0.75))))
    windows, _ = make_windows(frame, spec, None, seed)
    train, val, test, folds, _ = split_windows(windows, horizon, None)
    dev = train + val
    features = WindowFeatures(spec.lookback, spec.season, horizon, len(spec.calendar)).fit(dev.features)
    X = features.transform(dev.features, ["vector"])["vector"]
    X_test = features.transform(test.features, ["vector"])["vector"]
    y = dev.target.to_numpy()
    scored = np.concatenate([s for _, s in folds])
    out = {}
    layout = (spec.lookback, spec.season, horizon)
    for name in candidates:
        oof = np.full_like(y, np.nan)
        for fit, score in folds:
            model = make_estimator(name, Task.REGRESSION, False, seed, rows=len(fit), layout=layout)
            if name in LOCAL:
                model.fit(X[score[:1]], y[score[:1]])
            else:
                model.fit(X[fit], y[fit])
            oof[score] = model.predict(X[score])
        model = make_estimator(name, Task.REGRESSION, False, seed, rows=len(y), layout=layout)
        model.fit(X[:1] if name in LOCAL else X, y[:1] if name in LOCAL else y)
        out[name] = (oof[scored], model.predict(X_test))
    return out, y[scored], test.target.to_numpy(), dev.series[scored], spec


def rules(preds, truth, series):
    """Each selection rule's choice: name -> weights over candidates, from the backtests alone."""
    names = list(preds)
    val = {n: mase(truth, preds[n][0]) for n in names}
    ranked = sorted(names, key=lambda n: val[n])
    chosen = {"best": {ranked[0]: 1.0}}

    def score(p):
        return mase(truth, p)

    chosen["greedy"] = ensemble.select({n: preds[n][0] for n in names}, ranked, score, False)
    for k in (2, 3, 5):
        chosen[f"mean top {k}"] = {n: 1 / k for n in ranked[:k]}
    chosen["mean all"] = {n: 1 / len(names) for n in names}
    if {"ets", "theta"} <= set(names):
        chosen["ets+theta"] = {"ets": 0.5, "theta": 0.5}
    # bagged greedy selection (Caruana et al. 2006): the greedy selection on bootstrap draws of the validation
    # windows' blocks (series x horizon stretch), the weights averaged
    rng = np.random.default_rng(0)
    blocks = np.unique(series)
    bag = {}
    draws = 20
    for _ in range(draws):
        rows = np.concatenate([np.flatnonzero(series == b) for b in rng.choice(blocks, len(blocks))]) \
            if len(blocks) > 1 else rng.choice(len(truth), len(truth))
        w = ensemble.select({n: preds[n][0][rows] for n in names}, ranked,
                            lambda p, rows=rows: mase(truth[rows], p), False)
        for n, v in w.items():
            bag[n] = bag.get(n, 0) + v / draws
    chosen["bagged greedy"] = bag
    # the greedy ensemble only where it beats the best alone by more than the noise between windows
    g = chosen["greedy"]
    blended = sum(w * preds[n][0] for n, w in g.items())
    diff = np.abs(truth - preds[ranked[0]][0]).mean(axis=1) - np.abs(truth - blended).mean(axis=1)
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
    chosen["greedy if clear"] = g if diff.mean() > se else {ranked[0]: 1.0}
    return chosen, val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--origins", type=int, default=4)
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--lookback-times", type=float, default=1.0)
    parser.add_argument("--known", action="store_true", help="read bench_forecast.KNOWN's covariates as known ahead")
    parser.add_argument("--candidates", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--json", type=Path, help="also write every score (set -> forecaster -> per origin) here")
    args = parser.parse_args()
    table: dict[str, dict[str, list[float]]] = {}
    for name in args.sets:
        frame, horizon, _, several = load_set(name)
        started = time.monotonic()
        for cut in range(args.origins):
            part = earlier(frame, cut * horizon)
            preds, truth, test_truth, series, spec = candidates_at(
                part.reset_index(drop=True), horizon, several, args.lookback_times,
                known=tuple(KNOWN.get(name, ())) if args.known else (), candidates=tuple(args.candidates))
            chosen, val = rules(preds, truth, series)
            row = table.setdefault(name, {})
            for n in preds:
                row.setdefault(n, []).append(mase(test_truth, preds[n][1]))
            for rule, weights in chosen.items():
                forecast = sum(w * preds[n][1] for n, w in weights.items())
                row.setdefault(f"[{rule}]", []).append(mase(test_truth, forecast))
        print(f"{name}: lookback {spec.lookback}, {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(table))
    columns = list(next(iter(table.values())))
    print("| set | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{np.mean(row[c]):.3f}" for c in columns) + " |")
    rel = {c: np.exp(np.mean(np.concatenate([np.log(np.maximum(row[c], 1e-9) / np.maximum(row["seasonal_naive"], 1e-9))
                                             for row in table.values()]))) for c in columns}
    print("| **geometric mean / seasonal naive** | " + " | ".join(f"{rel[c]:.3f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
