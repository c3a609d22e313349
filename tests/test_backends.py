"""The same search on another Keras backend: model code must stay backend-neutral (keras.ops, no tf.)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # every test here trains or starts processes

SCRIPT = r"""
import json, sys
from pathlib import Path

import keras

import autosearch
from autosearch.prepare import prepare
from autosearch.serving.bundle import Bundle, BundleMeta, Member, save_bundle
from autosearch.config import make_config
from autosearch.problem import make_problem
from autosearch.progress import Progress
from autosearch.summary import Candidate
from autosearch.training import train_network

data, out = sys.argv[1], Path(sys.argv[2])

# A network trained on this backend, saved as a bundle and served back.
prep = prepare(data, make_config(target="species", max_epochs=30, holdout=True), Progress(quiet=True))
params = {"layers": 2, "units_0": 32, "units_1": 16, "batch_norm": True, "dropout": 0.1, "l2": 1e-4,
          "learning_rate": 0.01, "embedding": "piecewise", "embedding_dim": 4, "ensemble_size": 4,
          "optimizer": "adamw", "weight_decay": 1e-3, "schedule": "cosine", "label_smoothing": 0.1,
          "clip_inputs": True, "scaling": "quantile"}  # TabM and RealMLP's recipe
trained = train_network(params, prep.space("dense"), prep.problem, seed=0)
_, preprocessor = make_problem(prep.split.train, prep.split.val, prep.profile, prep.codec, prep.metric, 0)
meta = BundleMeta(prep.profile.as_dict(), Candidate("dense-000", "nn", "dense", trained.val_score, params),
                  prep.profile.task.value, prep.profile.kind.value, tuple(prep.profile.targets),
                  tuple(map(str, prep.codec.classes_)), prep.metric.name)
folder = save_bundle(out / "model", preprocessor=preprocessor, codec=prep.codec, meta=meta,
                     members=[Member("dense-000", "nn", "dense", params, 1.0, trained.model)])
predictions = Bundle.load(folder).predict(prep.split.test.features)

# Every other family: fcn and inception through a search; the other series families, resnet2d and conv2d
# (augmented; separable) and the text architectures trained directly.
sequences = autosearch.fit(sys.argv[3], trials=2, max_epochs=2, holdout=True, baselines="linear", quiet=True,
                           output=out / "sequences")
other = {"tabm-periodic": train_network({"embedding": "periodic", "embedding_dim": 4}, prep.space("tabm"),
                                       prep.problem, seed=0).state.value}
series = prepare(sys.argv[3], make_config(max_epochs=2, holdout=True), Progress(quiet=True))
for family in ("resnet1d", "rnn", "conv1d"):
    other[family] = train_network({}, series.space(family), series.problem, seed=0).state.value
images = prepare(sys.argv[4], make_config(max_epochs=2), Progress(quiet=True))
other["resnet2d"] = train_network({"flip": True, "contrast": True, "stages": 2}, images.space("resnet2d"),
                                  images.problem, seed=0).state.value
other["conv2d"] = train_network({"augment": True, "conv_type": "separable", "blocks": 2}, images.space("conv2d"),
                                images.problem, seed=0).state.value
text = prepare(sys.argv[5], make_config(max_epochs=2), Progress(quiet=True))
other["tfidf"] = train_network({"layers": 1, "dropout": 0.2}, text.space("tfidf"), text.problem, seed=0).state.value
for architecture in ("conv1d", "rnn", "bag_of_ngrams"):
    other[f"text-{architecture}"] = train_network({"architecture": architecture}, text.space("text"),
                                                  text.problem, seed=0).state.value
print(json.dumps({"backend": keras.backend.backend(), "state": trained.state.value,
                  "val_score": trained.val_score, "labels": sorted(set(predictions.prediction)),
                  "sequence_trials": sequences.leaderboard.loc[sequences.leaderboard.kind == "nn",
                                                               ["family", "state"]].values.tolist(),
                  "other": other}))
"""


def test_every_family_searches_trains_and_predicts_on_jax(iris_csv, basic_motions_npz, digits_npz, topics_csv,
                                                         tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    digits = np.load(digits_npz)  # 300 images are enough to train on; JAX compiles the same graphs for them
    small_digits = tmp_path / "digits_300.npz"
    np.savez(small_digits, X=digits["X"][:300], y=digits["y"][:300])
    args = [str(p) for p in (iris_csv, tmp_path, basic_motions_npz, small_digits, topics_csv)]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["state"] == "complete" and report["val_score"] > 0.7  # iris: 0.33 by chance
    assert set(report["labels"]) <= {"setosa", "versicolor", "virginica"}
    assert sorted(report["sequence_trials"]) == [["fcn", "complete"], ["inception", "complete"]]
    assert report["other"] == {"tabm-periodic": "complete", "resnet1d": "complete", "rnn": "complete",
                               "conv1d": "complete", "resnet2d": "complete", "conv2d": "complete", "tfidf": "complete",
                               "text-conv1d": "complete", "text-rnn": "complete",
                               "text-bag_of_ngrams": "complete"}
