"""The saved winner: preprocessing + model + metadata in one folder that `autosearch predict` serves.

Layout of ``model/``::

    metadata.json       task, kind, targets, classes, the data profile (input schema), metric, scores, versions
    preprocessor.joblib the fitted scikit-learn ColumnTransformer
    target.joblib       the fitted TargetCodec (labels, scaling)
    model.keras | model.joblib   the network, or the scikit-learn estimator
"""

from __future__ import annotations

import json
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from autosearch.data.load import RawData, load_data
from autosearch.data.profile import Profile, shape_features
from autosearch.errors import AutosearchError
from autosearch.models import input_view
from autosearch.targets import TargetCodec
from autosearch.tasks import network_scores

VERSIONED = ("autosearch", "keras", "tensorflow", "scikit-learn", "numpy", "pandas", "optuna", "mlflow")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return found


def save_bundle(folder: Path, *, preprocessor, codec: TargetCodec, model: Any, is_network: bool,
                meta: dict[str, Any]) -> Path:
    """Write the bundle to `folder` atomically: a half-written bundle never sits at that path."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    joblib.dump(preprocessor, partial / "preprocessor.joblib")
    joblib.dump(codec, partial / "target.joblib")
    if is_network:
        model.save(partial / "model.keras")
    else:
        joblib.dump(model, partial / "model.joblib")
    meta = {**meta, "model_file": "model.keras" if is_network else "model.joblib", "versions": versions()}
    (partial / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
    if folder.exists():  # a resumed run replaces its earlier bundle
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
        partial.rename(folder)
        shutil.rmtree(old)
    else:
        partial.rename(folder)
    return folder


@dataclass
class Bundle:
    """A loaded bundle; `predict` turns raw samples into predictions."""

    folder: Path
    meta: dict[str, Any]
    preprocessor: Any
    codec: TargetCodec
    model: Any

    @classmethod
    def load(cls, folder: str | Path) -> Bundle:
        folder = Path(folder)
        meta_path = folder / "metadata.json"
        if not meta_path.is_file():
            raise AutosearchError(f"'{folder}' is not a model bundle (no metadata.json); pass the model/ folder "
                                  "that `autosearch fit` wrote")
        meta = json.loads(meta_path.read_text())
        model_path = folder / meta["model_file"]
        if model_path.suffix == ".keras":
            from autosearch.models import load_keras
            model = load_keras().saving.load_model(model_path, compile=False)
        else:
            model = joblib.load(model_path)
        return cls(folder, meta, joblib.load(folder / "preprocessor.joblib"),
                   joblib.load(folder / "target.joblib"), model)

    @property
    def profile(self) -> Profile:
        return Profile.from_dict(self.meta["profile"])

    @property
    def is_network(self) -> bool:
        return self.meta["model_file"].endswith(".keras")

    def predict(self, data: str | Path | pd.DataFrame) -> pd.DataFrame:
        """Predictions for each sample: `prediction`, plus `proba_<class>` columns for classification
        (and a `file` column first for a folder of images)."""
        prof = self.profile
        raw = (RawData("data", frame=data) if isinstance(data, pd.DataFrame)
               else load_data(data, labelled=False, image_size=prof.image_size, color_mode=prof.color_mode))
        views = self.preprocessor.transform(shape_features(raw, prof))
        if self.is_network:
            winner = self.meta["winner"]
            x = views[input_view(winner["family"], winner["params"])]
            output = network_scores(prof.task, self.model.predict(x, batch_size=4096, verbose=0))
        else:
            from autosearch.baselines import estimator_output
            from autosearch.data.kinds import KINDS
            output = estimator_output(self.model, views[KINDS[prof.kind].baseline_view], prof.task,
                                      self.codec.n_outputs)
        predictions = self.codec.decode(self.codec.scores(np.asarray(output)))
        if raw.files:
            predictions.insert(0, "file", list(raw.files))
        return predictions
