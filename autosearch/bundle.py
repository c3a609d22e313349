"""The saved winner: preprocessing + model + metadata in one folder that `autosearch predict` serves.

Layout of ``model/``::

    metadata.json       task, kind, targets, classes, the data profile (input schema), metric, scores, versions,
                        and the members: name, kind, family, parameters, weight, file
    preprocessor.joblib the fitted preprocessing (every member reads its views)
    target.joblib       the fitted TargetCodec (labels, scaling)
    members/<name>.keras | members/<name>.joblib   each member: a network or a scikit-learn estimator

A single candidate is a bundle of one member of weight 1; an ensemble's members are blended by weight.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Sequence

import joblib
import numpy as np
import pandas as pd

from autosearch.data.load import RawData, load_data
from autosearch.data.profile import Profile, shape_features
from autosearch.ensemble import blend
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


@dataclass(frozen=True)
class Member:
    """One model of the saved pick: a network or an estimator, its weight in the blend, and what it reads."""

    name: str
    kind: str  # nn | baseline
    family: str
    params: dict[str, Any]
    weight: float
    model: Any

    @property
    def file(self) -> str:
        return f"{self.name}.keras" if self.kind == "nn" else f"{self.name}.joblib"

    def output(self, views: dict, profile: Profile, n_outputs: int) -> np.ndarray:
        """Its output (training space) for the preprocessed samples."""
        if self.kind == "nn":
            x = views[input_view(self.family, self.params)]
            return network_scores(profile.task, self.model.predict(x, batch_size=4096, verbose=0))
        from autosearch.baselines import estimator_output
        from autosearch.data.kinds import KINDS
        return estimator_output(self.model, views[KINDS[profile.kind].baseline_view], profile.task, n_outputs)

    def describe(self, folder: str = "members") -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "family": self.family, "params": self.params,
                "weight": self.weight, "file": f"{folder}/{self.file}"}

    def save(self, folder: Path) -> None:
        if self.kind == "nn":
            self.model.save(folder / self.file)
        else:
            joblib.dump(self.model, folder / self.file)


MODEL_URI_SCHEMES = ("models:/", "runs:/")  # MLflow's: the bundle inside a logged model (`mlflow_model.py`)


def is_model_uri(text: str | Path) -> bool:
    """
    >>> is_model_uri("models:/penguins@champion"), is_model_uri("runs:/0a1b/model"), is_model_uri("out/model")
    (True, True, False)
    """
    return isinstance(text, str) and text.startswith(MODEL_URI_SCHEMES)


MEMBERS = "members"
COMPARED = "compared"  # the best network and baseline beside the pick, refitted the same way, not served


def save_bundle(folder: Path, *, preprocessor, codec: TargetCodec, members: list[Member],
                meta: dict[str, Any], compared: Sequence[Member] = ()) -> Path:
    """Write the bundle to `folder` atomically: a half-written bundle never sits at that path. `compared`:
    candidates kept to score beside the pick on new data (`Bundle.compared`), never part of its predictions."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / MEMBERS).mkdir(parents=True)
    joblib.dump(preprocessor, partial / "preprocessor.joblib")
    joblib.dump(codec, partial / "target.joblib")
    for member in members:
        member.save(partial / MEMBERS)
    if compared:
        (partial / COMPARED).mkdir()
    for member in compared:
        member.save(partial / COMPARED)
    meta = {**meta, "members": [m.describe() for m in members],
            "compared": [m.describe(COMPARED) for m in compared], "versions": versions()}
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


def _load_member(folder: Path, m: dict[str, Any]) -> Member:
    path = folder / m["file"]
    if m["kind"] == "nn":
        from autosearch.models import load_keras
        keras = load_keras()
        import autosearch.models.layers  # noqa: F401  registers the custom layers a model may hold
        model = keras.saving.load_model(path, compile=False)
    else:
        model = joblib.load(path)
    return Member(m["name"], m["kind"], m["family"], m["params"], m["weight"], model)


@dataclass
class Bundle:
    """A loaded bundle; `predict` turns raw samples into predictions (the members' weighted blend)."""

    folder: Path
    meta: dict[str, Any]
    preprocessor: Any
    codec: TargetCodec
    members: list[Member]

    @classmethod
    def load(cls, folder: str | Path, tracking_uri: str | None = None) -> Bundle:
        """The bundle in `folder`, or in the autosearch model at an MLflow model URI (`models:/NAME@champion`,
        `models:/NAME/3`, `runs:/<run id>/model`) of the store at `tracking_uri` (default: MLflow's)."""
        if is_model_uri(folder):
            from autosearch.mlflow_model import load_bundle
            return load_bundle(folder, tracking_uri)
        folder = Path(folder)
        meta_path = folder / "metadata.json"
        if not meta_path.is_file():
            raise AutosearchError(f"'{folder}' is not a model bundle (no metadata.json); pass the model/ folder "
                                  "that `autosearch fit` wrote")
        meta = json.loads(meta_path.read_text())
        if "members" not in meta:
            raise AutosearchError(f"'{folder}' was written by an earlier autosearch (one model, no members); "
                                  "refit it with this version: autosearch fit (or resume) writes a new one")
        members = [_load_member(folder, m) for m in meta["members"]]
        return cls(folder, meta, joblib.load(folder / "preprocessor.joblib"),
                   joblib.load(folder / "target.joblib"), members)

    def compared(self) -> dict[str, Bundle]:
        """The best network and baseline saved beside the pick (those that are not its members), each as a
        bundle of its own on the same preprocessing: what `AutoSearch*.leaderboard(X, y)` scores."""
        return {m["name"]: dataclasses.replace(self, members=[_load_member(self.folder, {**m, "weight": 1.0})])
                for m in self.meta.get("compared", [])}

    @property
    def profile(self) -> Profile:
        return Profile.from_dict(self.meta["profile"])

    def predict(self, data: str | Path | pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Predictions for each sample: `prediction`, plus `proba_<class>` columns for classification
        (and a `file` column first for a folder of images); a DataFrame's index is kept, so they join back."""
        raw, scores = self._scored(data)
        predictions = self.codec.decode(scores)
        if raw.files:
            predictions.insert(0, "file", list(raw.files))
        if isinstance(data, pd.DataFrame):
            predictions.index = data.index
        return predictions

    def scores(self, data: str | Path | pd.DataFrame) -> np.ndarray:
        """The blend's outputs in the scoring space, what the run's metric reads (`metrics.py`): class
        probabilities, or regression values in the target's units."""
        return self._scored(data)[1]

    def _scored(self, data) -> tuple[RawData, np.ndarray]:
        prof = self.profile
        if isinstance(data, pd.DataFrame):
            raw = RawData("data", frame=data)
        elif isinstance(data, np.ndarray):  # images or series as an array, shaped like the training samples
            raw = RawData("data", X=data)
        else:
            raw = load_data(data, labelled=False, image_size=prof.image_size, color_mode=prof.color_mode)
        views = self.preprocessor.transform(shape_features(raw, prof))
        output = blend({m.name: m.output(views, prof, self.codec.n_outputs) for m in self.members},
                       {m.name: m.weight for m in self.members})
        return raw, self.codec.scores(output)
