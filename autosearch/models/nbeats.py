"""N-BEATS (Oreshkin et al., 2020), the generic architecture: a forecaster of fully connected blocks for the
windows of series (data/forecast.py), the first family a forecast searches.

Each block reads what the blocks before it left unexplained of the window, and gives back its own part of the
window (the backcast, taken away) and of the forecast (added up): a deep stack of residual MLPs that learns
trend and seasonality from the window alone, ahead of recurrent and convolutional nets and of ETS and ARIMA on
the M3/M4 competitions. Here it reads the flattened window (the target's lags, then the covariates' and the
calendar's: the vector view, preprocessing.WindowFeatures) and gives all H steps at once.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import regularizer
from autosearch.tasks import Head


def build_nbeats(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                 facts: Mapping[str, Any] | None = None) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> build_nbeats({"blocks": 3, "layers": 2, "units": 16}, (40,), head_for(Task.REGRESSION, 6)).output_shape
    (None, 6)
    """
    inputs = keras.Input(shape=input_shape, name="window")
    width, dropout = int(input_shape[-1]), float(params.get("dropout", 0.0))
    residual, parts = inputs, []
    for _ in range(int(params.get("blocks", 3))):
        x = residual
        for _ in range(int(params.get("layers", 2))):
            x = keras.layers.Dense(int(params.get("units", 256)), activation=params.get("activation", "relu"),
                                   kernel_regularizer=regularizer(params))(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout)(x)
        residual = keras.layers.Subtract()([residual, keras.layers.Dense(width)(x)])
        parts.append(keras.layers.Dense(head.units, dtype="float32")(x))
    # float32 even under mixed precision, as every head (models.heads); the head's activation where it has one
    forecast = keras.layers.Add(dtype="float32")(parts) if len(parts) > 1 else parts[0]
    if head.activation:  # read on other data than a forecast's (a table's classes): a residual MLP
        forecast = keras.layers.Activation(head.activation, dtype="float32")(forecast)
    return keras.Model(inputs, forecast, name="nbeats")
