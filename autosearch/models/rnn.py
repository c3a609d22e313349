"""Recurrent networks for sequences: stacked GRU / LSTM layers, optionally bidirectional.

A step whose features are all exactly 0 is padding and is skipped (Keras masking): preprocessing turns
NaN-padded steps into that, with an ``observed`` feature that keeps real steps non-zero.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import add_top
from autosearch.tasks import Head

CELLS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "simple_rnn": keras.layers.SimpleRNN}


def rnn_stack(x, params: Mapping[str, Any]):
    """`layers` recurrent layers; every one but the last returns the whole sequence."""
    layers = int(params.get("layers", 1))
    cell = CELLS[params.get("cell", "gru")]
    for i in range(layers):
        layer = cell(int(params.get(f"units_{i}", params.get("units", 64))), return_sequences=i < layers - 1,
                     dropout=float(params.get("dropout", 0.0)),
                     recurrent_dropout=float(params.get("recurrent_dropout", 0.0)))
        x = keras.layers.Bidirectional(layer)(x) if params.get("bidirectional", False) else layer(x)
    return x


def build_rnn(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
              facts: Mapping[str, Any] | None = None) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> build_rnn({"layers": 2, "bidirectional": True}, (24, 1), head_for(Task.BINARY, 2)).output_shape
    (None, 1)
    """
    inputs = keras.Input(shape=input_shape, name="sequences")
    steps = keras.layers.Masking(mask_value=0.0)(inputs)  # padded steps: every feature 0 (preprocessing.py)
    return keras.Model(inputs, add_top(rnn_stack(steps, params), params, head), name="rnn")
