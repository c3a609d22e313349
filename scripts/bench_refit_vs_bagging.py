"""Refit on all rows, or average the fold models (bagging)? Test score and seconds of both, per candidate.

    python scripts/bench_refit_vs_bagging.py [--datasets penguins_mass digits_images …] [--folds 5]

For each dataset of `benchmark.py`'s suite (its train/test split), the training rows are split into k folds
as `fit` splits them. For the first family's defaults (the first trial a search trains) and the SVM and
gradient-boosting baselines:

- bagging: one model per fold, trained on the other folds (a network with early stopping on its fold's own
  rows, as the first fold of a trial trains), their test outputs averaged;
- refit: one model on all training rows (a network for the folds' mean best epoch count), as `fit` refits
  its pick today.

Both start from the same folds, so the comparison is of the last step only; the seconds are each one's
training time. Prints one line per candidate and a summary.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_SETS = ("breast_cancer", "diabetes", "penguins_mass", "digits_images", "basic_motions", "japanese_vowels")


def compare(name: str, folds_k: int, seed: int = 0) -> list[tuple]:
    import dataclasses

    from benchmark import suite

    from autosearch.baselines import fit_baseline
    from autosearch.config import RunConfig
    from autosearch.prepare import prepare
    from autosearch.problem import make_problem
    from autosearch.progress import Progress
    from autosearch.spaces import walk
    from autosearch.training import Network, predict_network, train_network

    d = suite()[name]()
    work = Path(tempfile.mkdtemp(prefix="bagging-"))
    files = d.files(work)
    config = RunConfig(targets=(files["target"],) if "target" in files else (), test=files.get("test"),
                       metric=d.metric, cv_folds=folds_k, seed=seed, output=work / "run", quiet=True)
    prep = prepare(files["data"], config, Progress(quiet=True))
    split, folds = prep.split, prep.folds
    test, _ = make_problem(split.train + split.val, split.test, prep.profile, prep.codec, prep.metric, seed)
    rows = []

    space = prep.spaces[0]
    params = walk(space, folds.first.context, lambda spec, _: spec.start())
    network, outputs, epochs, bag_seconds = Network(params, space, folds.fold(0), seed), [], [], 0.0
    for i in range(folds.k):
        result = network.train(folds.fold(i), seed=seed + i)
        bag_seconds += result.fit_seconds
        epochs.append(result.best_epoch + 1)
        outputs.append(network.predict(test))
    bagged = test.score(np.mean(outputs, axis=0))
    refitted = train_network(params, space, test, seed=seed, epochs=round(float(np.mean(epochs))))
    refit = test.score(predict_network(refitted.model, test, space.family, params))
    rows.append((name, f"{space.family} defaults", bagged, bag_seconds, refit, refitted.fit_seconds))

    for family in ("svm", "gradient_boosting"):
        outputs, bag_seconds = [], 0.0
        for i in range(folds.k):
            fold = dataclasses.replace(folds.fold(i), score_views=test.score_views, y_score=test.y_score,
                                       truth=test.truth)  # fitted on the fold's rows, predicting the test rows
            record, _, output = fit_baseline(family, fold)
            bag_seconds += record.fit_seconds
            outputs.append(output)
        record, _, output = fit_baseline(family, test)
        rows.append((name, family, test.score(np.mean(outputs, axis=0)), bag_seconds, record.val_score,
                     record.fit_seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_SETS))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'dataset':16s} {'candidate':18s} {'bagged':>9s} {'s':>6s} {'refit':>9s} {'s':>6s}", flush=True)
    better, total = 0, 0
    for name in args.datasets:
        from benchmark import suite

        higher = suite()[name]().metric != "rmse"
        for row in compare(name, args.folds):
            _, candidate, bagged, bag_s, refit, refit_s = row
            print(f"{name:16s} {candidate:18.18s} {bagged:9.4f} {bag_s:6.1f} {refit:9.4f} {refit_s:6.1f}", flush=True)
            total += 1
            better += (bagged > refit) if higher else (bagged < refit)
    print(f"bagging scored better on test in {better} of {total} candidates")


if __name__ == "__main__":
    main()
