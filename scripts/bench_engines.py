"""Best validation score of the searched networks per engine, at the same wall-clock budget.

    python scripts/bench_engines.py [--budget 60s] [--seeds 0 1 2]

Runs `autosearch fit` on two real tabular sets that ship with scikit-learn — digits (1,797 rows of 64
pixel columns, 10 classes, balanced accuracy) and diabetes (442 rows, regression, RMSE) — with
Optuna TPE + median pruning (the default engine), keras-tuner Hyperband and keras-tuner random search,
each at the same budget and seeds, and prints per set and engine the median over seeds of the best
network's validation score (the baselines are left out of the comparison), with the trials run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

ENGINES = {"optuna-tpe": {"engine": "optuna"},
           "kt-hyperband": {"engine": "keras-tuner", "tuner": "hyperband"},
           "kt-random": {"engine": "keras-tuner", "tuner": "random"}}


def datasets(work: Path) -> dict[str, tuple[Path, str]]:
    from sklearn.datasets import load_diabetes, load_digits

    digits = load_digits(as_frame=True).frame
    digits.to_csv(work / "digits.csv", index=False)
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    diabetes.to_csv(work / "diabetes.csv", index=False)
    return {"digits": (work / "digits.csv", "target"), "diabetes": (work / "diabetes.csv", "target")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="60s")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import keras_tuner  # noqa: F401  imported once up front, so no engine's budget pays for it

    import autosearch

    print(f"budget {args.budget} per run, seeds {args.seeds}; median best network validation score")
    for name, (path, target) in datasets(work).items():
        for engine, options in ENGINES.items():
            scores, trials, metric = [], [], ""
            for seed in args.seeds:
                result = autosearch.fit(path, target=target, trials=100_000, time_budget=args.budget, seed=seed,
                                        quiet=True, output=work / f"{name}-{engine}-{seed}", **options)
                s = result.summary.as_dict()
                metric = s["metric"]
                scores.append(s["best_nn"]["val_score"] if s["best_nn"] else float("nan"))
                trials.append(sum(s["trials"].values()))
            shown = ", ".join(f"{v:.4f}" for v in scores)
            print(f"{name:9s} {metric:18s} {engine:13s} median {statistics.median(scores):.4f}  "
                  f"(seeds: {shown}; trials {statistics.median(trials):.0f})", flush=True)


if __name__ == "__main__":
    main()
