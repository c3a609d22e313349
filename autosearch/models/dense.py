"""Stacked Dense layers for vectors (tabular data): the first family to search (SEED_NOTES §2)."""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import add_head, regularizer
from autosearch.tasks import Head


def dense_stack(x, params: Mapping[str, Any]):
    """Dense → [BatchNorm] → activation → [Dropout], `layers` times (units per layer: `units_<i>`)."""
    batch_norm = bool(params.get("batch_norm", False))
    dropout = float(params.get("dropout", 0.0))
    for i in range(int(params.get("layers", 1))):
        x = keras.layers.Dense(
            int(params.get(f"units_{i}", params.get("units", 64))),
            use_bias=not batch_norm,
            kernel_initializer=params.get("kernel_initializer", "glorot_uniform"),
            kernel_regularizer=regularizer(params),
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(params.get("activation", "relu"))(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return x


def build_dense(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> build_dense({"layers": 2, "units_0": 8, "units_1": 4}, (5,), head_for(Task.BINARY, 2)).output_shape
    (None, 1)
    """
    inputs = keras.Input(shape=input_shape, name="features")
    return keras.Model(inputs, add_head(dense_stack(inputs, params), head), name="dense")
