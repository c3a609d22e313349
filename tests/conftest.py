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
if "PYTEST_XDIST_WORKER" in os.environ:
    # Two test processes on two cores: one thread each for TensorFlow, XLA and OpenMP (scikit-learn's gradient
    # boosting). Each library's default — a thread per core — oversubscribed the cores: the suite took 13.5 min.
    os.environ.update({"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                       "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"})


FITTED_RUNS = {"diabetes_run", "iris_run", "fitted", "registered"}  # fixtures that fit a run: their tests are slow


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(items) -> None:
    """Under pytest-xdist (`-n 2 --dist loadgroup`), the tests that start Ray run one after another in one
    worker: two Ray clusters at once would fight over the two cores. A test that reads a run a fixture fitted
    is slow (the fast tier, `-m "not slow"`, trains nothing)."""
    for item in items:
        if FITTED_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
        params = getattr(item, "callspec", None)
        if item.path.name == "test_ray.py" or (params and "ray" in params.params.values()):
            item.add_marker(pytest.mark.xdist_group("ray"))


@pytest.fixture
def ray_sandbox(monkeypatch):
    """Ray without usage reports, its sockets under /tmp (their paths must stay short), shut down after."""
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_TMPDIR", "/tmp")
    yield
    import ray
    if ray.is_initialized():
        ray.shutdown()


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


DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def digits_npz(data_dir: Path) -> Path:
    """Images: scikit-learn's 8x8 digits as an (N, 8, 8) array, 10 classes."""
    bunch = datasets.load_digits()
    path = data_dir / "digits.npz"
    np.savez(path, X=bunch.images.astype(np.float32), y=bunch.target)
    return path


@pytest.fixture(scope="session")
def digits_folder(data_dir: Path) -> Path:
    """Images as files: the digits as 8-bit grayscale PNGs, one subfolder per class (300 of them)."""
    from PIL import Image

    bunch = datasets.load_digits()
    root = data_dir / "digit_images"
    for i in range(300):
        folder = root / str(bunch.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (bunch.images[i] * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def basic_motions_npz() -> Path:
    """Multivariate sequences: UEA BasicMotions, (N, 100, 6), 4 activities; X_test/y_test included."""
    return DATA / "basic_motions.npz"


@pytest.fixture(scope="session")
def japanese_vowels_npz() -> Path:
    """Variable-length multivariate sequences: UEA JapaneseVowels, 7-29 steps of 12 features padded at the end
    with NaN to (N, 29, 12), 9 speakers; X_test/y_test included."""
    return DATA / "japanese_vowels.npz"


@pytest.fixture(scope="session")
def mpg_csv() -> Path:
    return DATA / "mpg.csv"  # 234 cars; `model` has 38 values (tests/data/README.md)


@pytest.fixture(scope="session")
def gunpoint_npz() -> Path:
    """Univariate sequences: UCR GunPoint, (N, 150), 2 classes; X_test/y_test included."""
    return DATA / "gunpoint.npz"


def _topic_documents() -> pd.DataFrame:
    """chatterbot-corpus's English dialogues, one document per conversation, labelled by topic."""
    from importlib import resources

    import yaml

    root = resources.files("chatterbot_corpus") / "data" / "english"
    rows = []
    for topic in ("ai", "coding", "emotion", "psychology", "trivia"):
        for conversation in yaml.safe_load((root / f"{topic}.yml").read_text())["conversations"]:
            rows.append({"text": " ".join(map(str, conversation)), "lines": len(conversation), "topic": topic})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def topics_csv(data_dir: Path) -> Path:
    """Text: 661 dialogues in 5 topics (skewed: 48 to 261 per topic); columns text, topic."""
    path = data_dir / "topics.csv"
    _topic_documents()[["text", "topic"]].to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def topics_mixed_csv(data_dir: Path) -> Path:
    """A table with one free-text column beside a numeric one: must stay tabular."""
    path = data_dir / "topics_mixed.csv"
    _topic_documents().to_csv(path, index=False)
    return path
