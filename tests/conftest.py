"""Shared fixtures: an isolated home, MLflow store and working folder; real datasets as CSV files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

# Set before anything imports TensorFlow, MLflow or Keras.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> Path:
    """One MLflow store for the session (creating its tables costs ~2 s), and a private HOME."""
    root = tmp_path_factory.mktemp("sandbox")
    (root / "home").mkdir()
    return root


@pytest.fixture(autouse=True)
def isolated(sandbox: Path, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HOME", str(sandbox / "home"))
    monkeypatch.setenv("KERAS_HOME", str(sandbox / "home" / ".keras"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{sandbox / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _frame(bunch, target_name: str = "target") -> pd.DataFrame:
    frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
    frame[target_name] = bunch.target
    return frame


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def breast_cancer_csv(data_dir: Path) -> Path:
    """Binary, 569 rows, 30 numeric features; labels as words to check they come back as words."""
    bunch = datasets.load_breast_cancer()
    frame = _frame(bunch, "diagnosis")
    frame["diagnosis"] = np.where(bunch.target == 1, "benign", "malignant")
    path = data_dir / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def iris_csv(data_dir: Path) -> Path:
    """Multiclass, 150 rows, string labels, plus a categorical column and missing values."""
    bunch = datasets.load_iris()
    frame = _frame(bunch, "species")
    frame["species"] = np.asarray(bunch.target_names)[bunch.target]
    rng = np.random.default_rng(0)
    frame["field_site"] = rng.choice(["north", "south", "east"], size=len(frame))
    frame.loc[rng.choice(len(frame), 10, replace=False), "sepal length (cm)"] = np.nan
    path = data_dir / "iris.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def diabetes_csv(data_dir: Path) -> Path:
    """Regression, 442 rows."""
    path = data_dir / "diabetes.csv"
    _frame(datasets.load_diabetes(), "progression").to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def wine_labels_csv(data_dir: Path) -> Path:
    """Multilabel from real data: each wine's cultivar set as 'a|b' label sets (cultivar, and 'strong' if
    its alcohol is above the median)."""
    bunch = datasets.load_wine()
    frame = pd.DataFrame(bunch.data, columns=bunch.feature_names)
    strong = frame["alcohol"] > frame["alcohol"].median()
    frame["tags"] = [f"cultivar_{t}" + ("|strong" if s else "") for t, s in zip(bunch.target, strong)]
    path = data_dir / "wine_tags.csv"
    frame.to_csv(path, index=False)
    return path
