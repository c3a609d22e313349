"""The top of every network: an optional dense layer, then the output layer from the task's head."""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.tasks import Head


def regularizer(params: Mapping[str, Any]):
    l2 = float(params.get("l2", 0.0))
    return keras.regularizers.L2(l2) if l2 > 0 else None


def add_head(x, head: Head):
    # float32 even under mixed precision: the loss and the scores need the output's full precision
    return keras.layers.Dense(head.units, activation=head.activation, name="head", dtype="float32")(x)


def add_top(x, params: Mapping[str, Any], head: Head):
    """`dense_units` > 0 adds one hidden Dense layer (with dropout) between the features and the head."""
    units = int(params.get("dense_units", 0))
    if units > 0:
        x = keras.layers.Dense(units, activation=params.get("activation", "relu"),
                               kernel_regularizer=regularizer(params))(x)
        if float(params.get("dropout", 0.0)) > 0:
            x = keras.layers.Dropout(float(params["dropout"]))(x)
    return add_head(x, head)
