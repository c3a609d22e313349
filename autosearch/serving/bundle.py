"""The saved winner: preprocessing + model + metadata in one folder that `autosearch predict` serves.

Layout of ``model/``::

    metadata.json       task, kind, targets, classes, the data profile (input schema), metric, scores, versions,
                        the members (name, kind, family, parameters, weight, file), and every other file's SHA-256
    preprocessor.skops  the fitted preprocessing (every member reads its views)
    target.skops        the fitted TargetCodec (labels, scaling)
    members/<name>.keras | members/<name>.skops   each member: a network or a scikit-learn estimator

A single candidate is a bundle of one member of weight 1; an ensemble's members are blended by weight; a
stacker (`stacking.py`, family `stack`) is a member of its own that reads the others' outputs. Nothing in
it is a pickle: `safe_files.py` writes and checks the skops files, Keras reads its own in safe mode.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import warnings
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from autosearch.data.load import RawData, load_data
from autosearch.data.profile import Profile, shape_features
from autosearch.ensemble import blend
from autosearch.errors import AutosearchError, describe
from autosearch.models import input_view
from autosearch.quantiles import column, forecasts
from autosearch.records import CandidateKind
from autosearch.serving import safe_files
from autosearch.summary import Candidate
from autosearch.targets import TargetCodec
from autosearch.tasks import network_scores

VERSIONED = ("autosearch", "keras", "tensorflow", "scikit-learn", "skops", "scipy", "statsmodels", "numpy", "pandas",
             "optuna", "mlflow")


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
    kind: CandidateKind  # a network or a baseline (given as its text too, as metadata.json holds it)
    family: str
    params: dict[str, Any]
    weight: float
    model: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CandidateKind(self.kind))

    @property
    def file(self) -> str:
        return f"{self.name}.keras" if self.kind is CandidateKind.NETWORK else f"{self.name}{safe_files.SKOPS_SUFFIX}"

    def view(self, profile: Profile) -> str:
        """The view of the preprocessed samples it reads."""
        if self.kind is CandidateKind.NETWORK:
            return input_view(self.family, self.params)
        from autosearch.data.kinds import KINDS
        return KINDS[profile.kind].baseline_view

    def output(self, views: dict, profile: Profile, n_outputs: int) -> np.ndarray:
        """Its output (training space) for the preprocessed samples."""
        x = views[self.view(profile)]
        if self.kind is CandidateKind.NETWORK:
            return network_scores(profile.task, self.model.predict(x, batch_size=4096, verbose=0))
        from autosearch.baselines import estimator_output
        return estimator_output(self.model, x, profile.task, n_outputs)

    def describe(self, folder: str = "members") -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "family": self.family, "params": self.params,
                "weight": self.weight, "file": f"{folder}/{self.file}"}

    def save(self, folder: Path) -> None:
        if self.kind is CandidateKind.NETWORK:
            self.model.save(folder / self.file)
        else:
            safe_files.dump(self.model, folder / self.file)


MODEL_URI_SCHEMES = ("models:/", "runs:/")  # MLflow's: the bundle inside a logged model (`mlflow_model.py`)


class UnseenCategoryWarning(UserWarning):
    """Samples to predict hold a category training never saw, or a date column values that are no dates
    (`autosearch predict` prints it as a warning)."""


def _shown(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values[:3]) + (f" and {len(values) - 3} more" if len(values) > 3 else "")


def is_model_uri(text: str | Path) -> bool:
    """
    >>> is_model_uri("models:/penguins@champion"), is_model_uri("runs:/0a1b/model"), is_model_uri("out/model")
    (True, True, False)
    """
    return isinstance(text, str) and text.startswith(MODEL_URI_SCHEMES)


FORMAT = 2  # 2: skops files and SHA-256s; 1: pickles (refused: loading one can run code)
META = "metadata.json"
PREPROCESSOR, CODEC = "preprocessor.skops", "target.skops"
MEMBERS = "members"
COMPARED = "compared"  # the best network and baseline beside the pick, refitted the same way, not served


@dataclass(frozen=True)
class BundleMeta:
    """What metadata.json says of the saved pick. The run gives what the pick is and how it was chosen
    (`results.py`); `save_bundle` adds the files: the members and the compared candidates (name, kind, family,
    parameters, weight, file), the library versions, every file's SHA-256 and the format."""

    profile: Mapping[str, Any]  # the data profile (`Profile.as_dict`): the input schema `predict` reads samples by
    winner: Candidate  # the pick, with its parameters
    task: str
    kind: str  # the kind of data
    targets: tuple[str, ...]
    classes: tuple[str, ...]
    metric: str
    test_score: float | None = None
    mlflow_run_id: str | None = None
    members: tuple[Mapping[str, Any], ...] = ()
    compared: tuple[Mapping[str, Any], ...] = ()  # the best network and baseline beside the pick, not served
    quantiles: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # a forecast's: levels and offsets
    versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    files: Mapping[str, str] = dataclasses.field(default_factory=dict)
    format: int = FORMAT

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BundleMeta:
        """metadata.json as read back; keys it does not know (a later version's) are left out."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("targets", "classes", "members", "compared"):
            values[key] = tuple(values.get(key, ()))
        candidate = {f.name for f in dataclasses.fields(Candidate)}
        return cls(**{**values, "winner": Candidate(**{k: v for k, v in data["winner"].items() if k in candidate})})

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "targets": list(self.targets), "classes": list(self.classes),
                "members": list(self.members), "compared": list(self.compared)}


def save_bundle(folder: Path, *, preprocessor, codec: TargetCodec, members: list[Member],
                meta: BundleMeta, compared: Sequence[Member] = ()) -> Path:
    """Write the bundle to `folder` atomically: a half-written bundle never sits at that path. `compared`:
    candidates kept to score beside the pick on new data (`Bundle.compared`), never part of its predictions."""
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / MEMBERS).mkdir(parents=True)
    safe_files.dump(preprocessor, partial / PREPROCESSOR)
    safe_files.dump(codec, partial / CODEC)
    for member in members:
        member.save(partial / MEMBERS)
    if compared:
        (partial / COMPARED).mkdir()
    for member in compared:
        member.save(partial / COMPARED)
    meta = dataclasses.replace(meta, members=tuple(m.describe() for m in members),
                               compared=tuple(m.describe(COMPARED) for m in compared), versions=versions(),
                               files=safe_files.checksums(partial, skip=META), format=FORMAT)
    (partial / META).write_text(json.dumps(meta.as_dict(), indent=2, default=str))
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
    if m["kind"] == CandidateKind.NETWORK:
        from autosearch.models import load_keras
        keras = load_keras()
        import autosearch.models.layers  # noqa: F401  registers the custom layers a model may hold
        try:
            model = keras.saving.load_model(path, compile=False, safe_mode=True)  # safe mode: no code from it
        except Exception as error:
            raise AutosearchError(f"'{path}' cannot be read as a Keras model ({type(error).__name__}); refit the "
                                  "model with this version of autosearch") from None
    else:
        model = safe_files.load(path)
    return Member(m["name"], m["kind"], m["family"], m["params"], m["weight"], model)


@dataclass
class Bundle:
    """A loaded bundle; `predict` turns raw samples into predictions (the members' weighted blend)."""

    folder: Path
    meta: BundleMeta
    preprocessor: Any
    codec: TargetCodec
    members: list[Member]

    @classmethod
    def load(cls, folder: str | Path) -> Bundle:
        """The bundle in `folder` (an MLflow model URI: `mlflow_model.load_bundle`, which downloads the model's
        folder and reads it here)."""
        folder = Path(folder)
        meta_path = folder / META
        if not meta_path.is_file():
            raise AutosearchError(f"'{folder}' is not a model bundle (no {META}); pass the model/ folder "
                                  "that `autosearch fit` wrote")
        try:
            meta = json.loads(meta_path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise AutosearchError(f"'{meta_path}' is damaged (not JSON); copy the model folder again, or refit "
                                  "the model") from None
        if not isinstance(meta, dict) or meta.get("format", 1) < FORMAT or "files" not in meta:
            raise AutosearchError(f"'{folder}' was saved by an earlier autosearch, in pickle files that can run "
                                  "code when loaded; refit it with this version (autosearch fit), which saves "
                                  "none")
        safe_files.verify(folder, meta["files"])  # before anything in it is read
        try:
            info = BundleMeta.from_dict(meta)
        except (KeyError, TypeError, AttributeError) as error:
            raise AutosearchError(f"'{meta_path}' is damaged ({describe(error)}); copy the model folder again, or "
                                  "refit the model") from None
        members = [_load_member(folder, m) for m in info.members]
        return cls(folder, info, safe_files.load(folder / PREPROCESSOR), safe_files.load(folder / CODEC), members)

    def compared(self) -> dict[str, Bundle]:
        """The best network and baseline saved beside the pick (those that are not its members), each as a
        bundle of its own on the same preprocessing: what `AutoSearch*.leaderboard(X, y)` scores."""
        return {m["name"]: dataclasses.replace(self, members=[_load_member(self.folder, {**m, "weight": 1.0})])
                for m in self.meta.compared}

    @property
    def profile(self) -> Profile:
        return Profile.from_dict(self.meta.profile)

    def predict(self, data: str | Path | pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """Predictions for each sample: `prediction`, plus `proba_<class>` columns for classification
        (and a `file` column first for a folder of images); a DataFrame's index is kept, so they join back."""
        if self.profile.forecast is not None:
            return self._forecast(data)
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

    def _forecast(self, data: str | Path | pd.DataFrame) -> pd.DataFrame:
        """The next H steps after each series of the history `data` ends (data/forecast.py)."""
        from autosearch.data.forecast import forecast_frame, last_windows

        spec = self.profile.forecast
        frame = data if isinstance(data, pd.DataFrame) else load_data(data, labelled=False).frame
        if frame is None:
            raise AutosearchError("a forecast reads a table of the series' history; give a CSV, TSV or Parquet file")
        windows, anchors = last_windows(frame.rename(columns=str), spec)
        relative, levels = self._blend(windows), self.meta.quantiles.get("levels", ())
        bands = forecasts(relative, np.asarray(self.meta.quantiles["offsets"])).transpose(1, 0, 2) if levels else ()
        return forecast_frame(relative, anchors, spec, dict(zip(map(column, levels), bands)))

    def _blend(self, features) -> np.ndarray:
        """The members' weighted blend for shaped samples, in the scoring space; or, where a stacker is among them
        (`stacking.py`), its output from the others'."""
        from autosearch.stacking import FAMILY
        from autosearch.stacking import output as stacked

        prof, n_outputs = self.profile, self.codec.n_outputs
        stacker = next((m for m in self.members if m.family == FAMILY), None)
        members = [m for m in self.members if m is not stacker]
        views = self.preprocessor.transform(features, views={m.view(prof) for m in members})
        outputs = {m.name: m.output(views, prof, n_outputs) for m in members}
        if stacker is not None:
            return self.codec.scores(stacked(stacker.model, outputs, stacker.params["inputs"], prof.task, n_outputs))
        return self.codec.scores(blend(outputs, {m.name: m.weight for m in members}))

    def _scored(self, data) -> tuple[RawData, np.ndarray]:
        prof = self.profile
        if isinstance(data, pd.DataFrame):
            raw = RawData("data", frame=data)
        elif isinstance(data, np.ndarray):  # images or series as an array, shaped like the training samples
            raw = RawData("data", X=data)
        else:
            raw = load_data(data, labelled=False, image_size=prof.image_size, color_mode=prof.color_mode)
        features = shape_features(raw, prof)
        for col, values in getattr(self.preprocessor, "unseen", lambda _: {})(features).items():
            warnings.warn(f"column '{col}' holds {len(values)} value(s) never seen in training ({_shown(values)}): "
                          "they are read as an unknown category, so those predictions rest on the other columns",
                          UnseenCategoryWarning, stacklevel=3)
        for col, values in getattr(self.preprocessor, "undated", lambda _: {})(features).items():
            warnings.warn(f"date column '{col}' holds {len(values)} value(s) that are no dates ({_shown(values)}): "
                          "they are read as missing; write them as the training data did", UnseenCategoryWarning,
                          stacklevel=3)
        return raw, self._blend(features)
