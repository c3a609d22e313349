"""Convnets: 2D for images, 1D for sequences.

Blocks of convolution (plain or depthwise-separable) → [BatchNorm] → activation → max-pooling
→ [Dropout], the filters doubling per block; then Flatten or global pooling, and the top.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import add_top, regularizer
from autosearch.models.layers import batch_norm
from autosearch.tasks import Head

LAYERS = {
    1: {"conv": keras.layers.Conv1D, "separable": keras.layers.SeparableConv1D, "pool": keras.layers.MaxPooling1D,
        "global_average": keras.layers.GlobalAveragePooling1D, "global_max": keras.layers.GlobalMaxPooling1D},
    2: {"conv": keras.layers.Conv2D, "separable": keras.layers.SeparableConv2D, "pool": keras.layers.MaxPooling2D,
        "global_average": keras.layers.GlobalAveragePooling2D, "global_max": keras.layers.GlobalMaxPooling2D},
}


def conv_stack(x, params: Mapping[str, Any], rank: int):
    """`blocks` convolution blocks; a block pools only while every spatial side is at least 2."""
    kind = LAYERS[rank]
    normalise = bool(params.get("batch_norm", False))
    dropout = float(params.get("dropout", 0.0))
    separable = params.get("conv_type", "conv") == "separable"
    conv = kind["separable" if separable else "conv"]
    weight_decay = {"pointwise_regularizer" if separable else "kernel_regularizer": regularizer(params)}
    for i in range(int(params.get("blocks", 2))):
        x = conv(int(params.get("filters", 32)) * 2 ** i, int(params.get("kernel_size", 3)), padding="same",
                 use_bias=not normalise, **weight_decay)(x)
        if normalise:
            x = batch_norm()(x)
        x = keras.layers.Activation(params.get("activation", "relu"))(x)
        if min(x.shape[1:-1]) >= 2:
            x = kind["pool"](2)(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return x


def flatten_or_pool(x, params: Mapping[str, Any], rank: int):
    pooling = params.get("pooling", "global_average")
    return keras.layers.Flatten()(x) if pooling == "flatten" else LAYERS[rank][pooling]()(x)


def build_conv2d(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                 facts: Mapping[str, Any] | None = None) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> build_conv2d({"blocks": 4, "augment": True}, (8, 8, 1), head_for(Task.MULTICLASS, 10)).output_shape
    (None, 10)
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if params.get("augment", False):
        x = keras.layers.RandomFlip("horizontal")(x)
        x = keras.layers.RandomRotation(0.05)(x)
    x = flatten_or_pool(conv_stack(x, params, rank=2), params, rank=2)
    return keras.Model(inputs, add_top(x, params, head), name="conv2d")


def build_conv1d(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                 facts: Mapping[str, Any] | None = None) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> build_conv1d({"blocks": 3}, (100, 6), head_for(Task.MULTICLASS, 4)).output_shape
    (None, 4)
    """
    inputs = keras.Input(shape=input_shape, name="sequences")
    x = flatten_or_pool(conv_stack(inputs, params, rank=1), params, rank=1)
    return keras.Model(inputs, add_top(x, params, head), name="conv1d")
