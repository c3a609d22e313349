"""Convolutional networks for time series: the deep baselines of time-series classification (Wang et al.,
2017; Ismail Fawaz et al., 2019 and 2020), each a family of its own.

- `fcn`: three convolution blocks (widths f, 2f, f; kernels 8, 5, 3), each Conv → BatchNorm → ReLU.
- `resnet1d`: up to three residual blocks of three such convolutions (widths f, 2f, 2f), shortcut added
  before the last ReLU.
- `inception`: InceptionTime's network — modules of a 1×1 bottleneck, then three convolutions of
  decreasing length (the longest `kernel_size`) beside a max-pooled 1×1 branch, concatenated; a residual
  shortcut every three modules.

All keep the series' length (no pooling along time) and end in global average pooling, then the head. A
padded step (all zeros: preprocessing.py) is kept out: every layer's output is zeroed there (`MaskSteps`),
so a convolution reads padding as it reads the space past the series' end, and batch statistics and the
final average are over the observed steps only. Batch normalisation as `layers.batch_norm` (momentum 0.9: a
few dozen series make an epoch of 2-4 batches). No early stop or pruning before 100 optimizer steps
(`min_steps` in their space files).
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import add_top, regularizer
from autosearch.models.layers import MaskSteps, StepMask, batch_norm
from autosearch.tasks import Head


def activate(x, mask, params: Mapping[str, Any]):
    """The activation, then padded steps zeroed."""
    return MaskSteps()([keras.layers.Activation(params.get("activation", "relu"))(x), mask])


def conv_norm(x, filters: int, kernel: int, params: Mapping[str, Any], mask):
    """Conv1D ('same' length, no bias) → BatchNorm (statistics over observed steps)."""
    x = keras.layers.Conv1D(filters, kernel, padding="same", use_bias=False,
                            kernel_regularizer=regularizer(params))(x)
    return batch_norm()(x, mask=mask)


def shortcut(x, residual, mask, params: Mapping[str, Any]):
    """`x` + the block's input (projected by a 1×1 convolution to `x`'s width when it differs), activated."""
    if residual.shape[-1] != x.shape[-1]:
        residual = conv_norm(residual, x.shape[-1], 1, params, mask)
    else:
        residual = batch_norm()(residual, mask=mask)
    return activate(keras.layers.Add()([x, residual]), mask, params)


def fcn_blocks(x, mask, params: Mapping[str, Any]):
    width = int(params.get("filters", 128))
    for filters, kernel in ((width, 8), (2 * width, 5), (width, 3)):
        x = activate(conv_norm(x, filters, kernel, params, mask), mask, params)
    return x


def resnet_blocks(x, mask, params: Mapping[str, Any]):
    width = int(params.get("filters", 64))
    for i in range(int(params.get("blocks", 3))):
        filters, block_input = width * (1 if i == 0 else 2), x
        for kernel in (8, 5):
            x = activate(conv_norm(x, filters, kernel, params, mask), mask, params)
        x = shortcut(conv_norm(x, filters, 3, params, mask), block_input, mask, params)
    return x


def inception_kernels(longest: int, steps: int | None) -> tuple[int, ...]:
    """InceptionTime's three kernel lengths (40 → 39, 19, 9), at least 3, none longer than the series.

    >>> inception_kernels(40, 150), inception_kernels(40, 29), inception_kernels(10, 29), inception_kernels(10, 2)
    ((39, 19, 9), (29, 19, 9), (9, 4, 3), (2, 2, 2))
    """
    kernels = (max(longest // 2 ** i - 1, 3) for i in range(3))
    return tuple(min(k, steps or k) for k in kernels)


def inception_blocks(x, mask, params: Mapping[str, Any]):
    filters, bottleneck = int(params.get("filters", 32)), int(params.get("bottleneck", 32))
    kernels = inception_kernels(int(params.get("kernel_size", 40)), x.shape[1])
    block_input = x
    for i in range(int(params.get("depth", 6))):
        narrow = x
        if x.shape[-1] > 1 and bottleneck > 0:
            narrow = keras.layers.Conv1D(bottleneck, 1, padding="same", use_bias=False)(x)
        branches = [keras.layers.Conv1D(filters, k, padding="same", use_bias=False,
                                        kernel_regularizer=regularizer(params))(narrow) for k in kernels]
        pooled = keras.layers.MaxPooling1D(3, strides=1, padding="same")(x)
        branches.append(keras.layers.Conv1D(filters, 1, padding="same", use_bias=False)(pooled))
        x = activate(batch_norm()(keras.layers.Concatenate()(branches), mask=mask),
                     mask, params)
        if i % 3 == 2:
            x = block_input = shortcut(x, block_input, mask, params)
    return x


BLOCKS = {"fcn": fcn_blocks, "resnet1d": resnet_blocks, "inception": inception_blocks}


def build_series(family: str, params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head) -> keras.Model:
    """
    >>> from autosearch.tasks import Task, head_for
    >>> [build_series(f, {"filters": 8}, (29, 13), head_for(Task.MULTICLASS, 9)).output_shape for f in BLOCKS]
    [(None, 9), (None, 9), (None, 9)]
    """
    inputs = keras.Input(shape=input_shape, name="sequences")
    mask = StepMask()(inputs)
    x = keras.layers.GlobalAveragePooling1D()(BLOCKS[family](inputs, mask, params), mask=mask)
    if float(params.get("dropout", 0.0)) > 0:
        x = keras.layers.Dropout(float(params["dropout"]))(x)
    return keras.Model(inputs, add_top(x, params, head), name=family)


def build_fcn(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
              facts: Mapping[str, Any] | None = None) -> keras.Model:
    return build_series("fcn", params, input_shape, head)


def build_resnet1d(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                   facts: Mapping[str, Any] | None = None) -> keras.Model:
    return build_series("resnet1d", params, input_shape, head)


def build_inception(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                    facts: Mapping[str, Any] | None = None) -> keras.Model:
    return build_series("inception", params, input_shape, head)
