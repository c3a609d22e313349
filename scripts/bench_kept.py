"""What serving a network from its kept fold models takes, against what its trial estimated (`kept_seconds`).

    python scripts/bench_kept.py                      # penguins, BasicMotions and the digits, 5 folds

For each family: one trial trained on 5 folds (`train_trial`, which measures its estimate), then its fold models
built from their weights (`kept_bag`) and predicting the test split, as `fit` serves them, timed. The budget counts
the estimate (× `stopping.REFIT_FACTOR`) for every kept network it may serve.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from sklearn import datasets

ROOT = Path(__file__).resolve().parents[1]
DEEP_RNN = {"layers": 2, "bidirectional": True}  # four recurrent loops
SETS = {  # data, target, (family, parameters beside its defaults)
    "penguins": (ROOT / "examples" / "penguins.csv", "species", (("dense", {}), ("tabm", {}))),
    "basic_motions": (ROOT / "tests" / "data" / "basic_motions.npz", None,
                      (("rnn", {}), ("rnn", DEEP_RNN), ("conv1d", {}), ("fcn", {}), ("resnet1d", {}))),
    "digits": (None, None, (("conv2d", {}), ("resnet2d", {}))),
}


def main() -> None:
    from autosearch.config import make_config
    from autosearch.prepare import prepare
    from autosearch.progress import Progress
    from autosearch.training import predict_network
    from autosearch.trial_runner import kept_bag, train_trial

    print(f"{'set':14} {'network':22} {'estimated':>9} {'served':>7}  ratio")
    for name, (path, target, families) in SETS.items():
        if path is None:  # scikit-learn's 8x8 digits as an image array
            digits = datasets.load_digits()
            path = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp") / "digits.npz"
            np.savez(path, X=digits.images.astype(np.float32), y=digits.target)
        prep = prepare(path, make_config(target=target, max_epochs=3, cv_folds=5), Progress(quiet=True))
        problem = prep.folds.against(prep.split.test, prep.preprocessor)
        for family, params in families:
            space = prep.space(family)
            trained = train_trial(space, params, prep.folds, seed=0)
            began = time.monotonic()
            model, error = kept_bag(space, params, problem, trained.fold_weights, seed=0)
            predict_network(model, problem, family, params)
            served = time.monotonic() - began
            estimated = trained.record.kept_seconds
            network = family + (" 2 bidirectional" if params else "")
            print(f"{name:14} {network:22} {estimated:8.2f}s {served:6.2f}s  {estimated / served:.2f}", flush=True)


if __name__ == "__main__":
    main()
