"""The saved winner: preprocessing + model + metadata in one folder that `autosearch predict` serves.

Layout of ``model/``::

    metadata.json       task, targets, classes, input schema, metric, scores, versions
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
from pandas.api import types as ptypes

from autosearch.errors import AutosearchError
from autosearch.preprocessing import TargetCodec, to_matrix
from autosearch.tasks import Task, network_scores

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
    partial.rename(folder)
    return folder


@dataclass
class Bundle:
    """A loaded bundle; `predict` turns raw rows into predictions."""

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
    def task(self) -> Task:
        return Task(self.meta["task"])

    def check_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns of `frame`, checked against the saved schema."""
        schema = self.meta["input_schema"]
        missing = [c for c in schema["numeric"] + schema["categorical"] if c not in frame.columns]
        if missing:
            raise AutosearchError(f"the data lacks column(s) the model needs: {', '.join(missing)}; add them")
        for col in schema["numeric"]:
            if not ptypes.is_numeric_dtype(frame[col]):
                parsed = pd.to_numeric(frame[col], errors="coerce")
                bad = frame[col][parsed.isna() & frame[col].notna()]
                if len(bad):
                    raise AutosearchError(f"column '{col}' must be numeric but holds '{bad.iloc[0]}'; "
                                          "fix or blank those values")
                frame = frame.assign(**{col: parsed})
        return frame[schema["numeric"] + schema["categorical"]]

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for each row: `prediction`, plus `proba_<class>` columns for classification."""
        x = to_matrix(self.preprocessor, self.check_input(frame))
        if self.meta["model_file"].endswith(".keras"):
            output = network_scores(self.task, self.model.predict(x, batch_size=4096, verbose=0))
        else:
            from autosearch.baselines import estimator_output
            output = estimator_output(self.model, x, self.task, self.codec.n_outputs)
        return self.codec.decode(self.codec.scores(np.asarray(output)))
