"""A small residual network for images (He et al., 2016), with data augmentation: the `resnet2d` family.

Random shifts, zooms and contrast changes while training (`augment`; horizontal flips only with `flip`,
since digits and text are not mirror-symmetric), a 3×3 stem, then `stages` stages of `blocks` basic residual
blocks (two 3×3 convolutions with batch normalisation, the input added back), each stage after the first
halving the image's sides (while they are at least 4 pixels) and doubling the filters; global average
pooling, dropout and the head. Trained with AdamW, a cosine schedule and label smoothing (its space file).
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import add_top, regularizer
from autosearch.models.layers import batch_norm
from autosearch.tasks import Head


def augmentation(x, params: Mapping[str, Any]):
    """Random changes to each training image (none when predicting)."""
    if params.get("flip", False):
        x = keras.layers.RandomFlip("horizontal")(x)
    shift = float(params.get("shift", 0.1))
    if shift > 0:
        x = keras.layers.RandomTranslation(shift, shift, fill_mode="constant")(x)
        x = keras.layers.RandomZoom(shift, fill_mode="constant")(x)
    return keras.layers.RandomContrast(0.1)(x) if params.get("contrast", False) else x


def conv_bn(x, filters: int, params: Mapping[str, Any], strides: int = 1, kernel: int = 3):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                            kernel_regularizer=regularizer(params))(x)
    return batch_norm()(x)


def residual_block(x, filters: int, strides: int, params: Mapping[str, Any]):
    activation = params.get("activation", "relu")
    y = keras.layers.Activation(activation)(conv_bn(x, filters, params, strides))
    y = conv_bn(y, filters, params)
    if strides != 1 or x.shape[-1] != filters:
        x = conv_bn(x, filters, params, strides, kernel=1)
    return keras.layers.Activation(activation)(keras.layers.Add()([x, y]))


def build_resnet2d(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                   facts: Mapping[str, Any] | None = None) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> model = build_resnet2d({"stages": 3, "flip": True}, (8, 8, 1), head_for(Task.MULTICLASS, 10))
    >>> model.output_shape, model.get_layer(index=-3).output.shape  # sides 8 → 4 → 2 over the stages
    ((None, 10), (None, 2, 2, 128))
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = augmentation(inputs, params) if params.get("augment", True) else inputs
    filters = int(params.get("filters", 32))
    x = keras.layers.Activation(params.get("activation", "relu"))(conv_bn(x, filters, params))
    for stage in range(int(params.get("stages", 3))):
        width = filters * 2 ** stage
        for block in range(int(params.get("blocks", 1))):
            halve = stage > 0 and block == 0 and min(x.shape[1:3]) >= 4
            x = residual_block(x, width, 2 if halve else 1, params)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if float(params.get("dropout", 0.0)) > 0:
        x = keras.layers.Dropout(float(params["dropout"]))(x)
    return keras.Model(inputs, add_top(x, params, head), name="resnet2d")
