"""The learning tasks and the output head + loss each one needs (docs/guide/how-fit-works.md, step 4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from autosearch.errors import AutosearchError


class Task(str, Enum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"
    REGRESSION = "regression"

    @property
    def is_classification(self) -> bool:
        return self is not Task.REGRESSION

    @property
    def single_label(self) -> bool:
        """Binary or multiclass: one integer class per row."""
        return self in (Task.BINARY, Task.MULTICLASS)


@dataclass(frozen=True)
class Head:
    """The last layer and the loss that trains it."""

    units: int
    activation: str | None
    loss: str


REGRESSION_LOSSES = ("mse", "mae", "huber")  # huber: squared near zero, linear beyond (outliers pull less)


def head_for(task: Task, n_outputs: int, loss: str | None = None) -> Head:
    """The head for `task` with `n_outputs` classes, labels or target values.

    >>> head_for(Task.BINARY, 2)
    Head(units=1, activation='sigmoid', loss='binary_crossentropy')
    """
    if task is Task.BINARY:
        return Head(1, "sigmoid", "binary_crossentropy")
    if task is Task.MULTICLASS:
        return Head(n_outputs, "softmax", "sparse_categorical_crossentropy")
    if task is Task.MULTILABEL:
        return Head(n_outputs, "sigmoid", "binary_crossentropy")
    loss = loss or "mse"
    if loss not in REGRESSION_LOSSES:
        raise AutosearchError(f"regression loss '{loss}' is unknown; use one of {', '.join(REGRESSION_LOSSES)}")
    return Head(n_outputs, None, loss)


def network_scores(task: Task, raw):
    """A network's raw output in the shape metrics expect: binary's single sigmoid unit becomes (n, 2)."""
    import numpy as np

    raw = np.asarray(raw, dtype=np.float64)
    if task is Task.BINARY:
        p = raw.reshape(len(raw))
        return np.stack([1.0 - p, p], axis=1)
    return raw
