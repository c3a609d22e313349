"""Targets in, predictions out: encoding for training, the truth for scoring, decoding for the user."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    LabelEncoder,
    MultiLabelBinarizer,
    QuantileTransformer,
    StandardScaler,
)

from autosearch.data.target import LABEL_SEPARATOR
from autosearch.tasks import Task


class TargetCodec:
    """Encodes targets for training, gives the truth for scoring, and decodes predictions.

    - binary / multiclass: original labels <-> integer class indices (LabelEncoder);
    - multilabel: label sets (``a|b``) or several 0/1 columns <-> a 0/1 matrix;
    - regression: values <-> standardised values (the network trains on the scaled target), after an
      optional `transform`: log1p (for positive, right-skewed targets) or quantile-normal; or, `as_is`, values
      already in the units models learn (a forecast's windows, data/forecast.py).
    """

    TRANSFORMS = ("none", "log1p", "quantile", "as_is")

    def __init__(self, task: Task, targets: tuple[str, ...], transform: str = "none"):
        self.task = task
        self.targets = targets
        self.transform = transform

    def __setstate__(self, state: dict) -> None:
        """skops (`safe_files.py`) gives the task, a string-valued Enum, back as its string."""
        self.__dict__.update(state, task=Task(state["task"]))

    @property
    def _label_sets(self) -> bool:
        return self.task is Task.MULTILABEL and len(self.targets) == 1

    def _sets(self, y: pd.DataFrame) -> list[list[str]]:
        return [[p.strip() for p in str(v).split(LABEL_SEPARATOR) if p.strip()] for v in y.iloc[:, 0]]

    def fit(self, y: pd.DataFrame) -> TargetCodec:
        if self.task.single_label:
            self.encoder_ = LabelEncoder().fit(y.iloc[:, 0])
            self.classes_ = list(self.encoder_.classes_)
        elif self._label_sets:
            self.encoder_ = MultiLabelBinarizer().fit(self._sets(y))
            self.classes_ = list(self.encoder_.classes_)
        elif self.task is Task.MULTILABEL:
            self.classes_ = list(self.targets)
        else:
            values = y.to_numpy(dtype=np.float64)
            steps = {"log1p": [FunctionTransformer(_log1p, np.expm1, check_inverse=False)],
                     "quantile": [QuantileTransformer(n_quantiles=min(1000, len(values)), random_state=0,
                                                      output_distribution="normal")]}.get(self.transform, [])
            scaling = [FunctionTransformer()] if self.transform == "as_is" else [StandardScaler()]
            self.encoder_ = make_pipeline(*steps, *scaling).fit(values)
            self.classes_ = []
        return self

    @property
    def n_outputs(self) -> int:
        return len(self.targets) if self.task is Task.REGRESSION else len(self.classes_)

    def truth(self, y: pd.DataFrame) -> np.ndarray:
        """Targets in the scoring space (see metrics.py)."""
        if self.task.single_label:
            return self.encoder_.transform(y.iloc[:, 0])
        if self._label_sets:
            return self.encoder_.transform(self._sets(y))
        if self.task is Task.MULTILABEL:
            return y.to_numpy(dtype=np.int64)
        return y.to_numpy(dtype=np.float64)

    def encode(self, y: pd.DataFrame) -> np.ndarray:
        """Targets as the models train on them."""
        truth = self.truth(y)
        if self.task is Task.REGRESSION:
            return self.encoder_.transform(truth).astype(np.float32)
        return truth.astype(np.int64 if self.task.single_label else np.float32)

    def scores(self, output: np.ndarray) -> np.ndarray:
        """Model outputs (training space) in the scoring space: un-scales regression outputs."""
        if self.task is Task.REGRESSION:
            return self.encoder_.inverse_transform(np.asarray(output, dtype=np.float64).reshape(len(output), -1))
        return np.asarray(output, dtype=np.float64)

    def class_ratio(self, y: pd.DataFrame) -> float | None:
        """Smallest over largest class count, for single-label classification."""
        if not self.task.single_label:
            return None
        counts = np.bincount(self.truth(y), minlength=len(self.classes_))
        return float(counts.min() / counts.max())

    def decode(self, scores: np.ndarray) -> pd.DataFrame:
        """Predictions as the user reads them (see `autosearch predict`)."""
        if self.task is Task.REGRESSION:
            names = ["prediction"] if len(self.targets) == 1 else [f"prediction_{t}" for t in self.targets]
            return pd.DataFrame(scores, columns=names)
        if self.task.single_label:
            labels = self.encoder_.inverse_transform(scores.argmax(axis=1))
            frame = pd.DataFrame({"prediction": labels})
        else:
            chosen = (scores >= 0.5).astype(int)
            frame = pd.DataFrame(chosen, columns=[str(c) for c in self.classes_])
            joined = [LABEL_SEPARATOR.join(str(c) for c, on in zip(self.classes_, row) if on) for row in chosen]
            frame.insert(0, "prediction", joined)
        probas = pd.DataFrame(scores, columns=[f"proba_{c}" for c in self.classes_])
        return pd.concat([frame, probas], axis=1)


def _log1p(y: np.ndarray) -> np.ndarray:
    """log1p for targets chosen to be non-negative; a value at or below -1 (only ever in data the choice did
    not see, e.g. the test split) maps to the least value rather than to -inf or NaN."""
    return np.log1p(np.maximum(y, -1 + 1e-6))
