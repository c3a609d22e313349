"""MLPs for vectors (tabular data): the first family searched on tables (`data/kinds.py`).

Plain stacked Dense layers (the `dense` family), or today's tabular recipe (the `tabm` family; TabM, RealMLP):
inputs clipped smoothly to ±3 standard deviations (`clip_inputs`), a table's numbers embedded
piecewise-linearly or periodically (`embedding: piecewise | periodic`; the other columns pass through), its
high-cardinality categorical columns embedded from their codes (`categories: embed`, the table view) and a
BatchEnsemble of `ensemble_size` members sharing the hidden layers, see `models.layers`. Without those options
it is a plain MLP.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.heads import add_head, regularizer
from autosearch.models.layers import (
    CategoryEmbedding,
    EnsembleHead,
    EnsembleInput,
    EnsembleMean,
    PeriodicEmbedding,
    PiecewiseLinearEmbedding,
    SmoothClip,
    TakeColumns,
    batch_norm,
    category_dim,
)
from autosearch.tasks import Head


def dense_stack(x, params: Mapping[str, Any]):
    """Dense → [BatchNorm] → activation → [Dropout], `layers` times (units per layer: `units_<i>`).
    Works on (batch, features) and on a BatchEnsemble's (batch, members, features)."""
    normalise = bool(params.get("batch_norm", False))
    dropout = float(params.get("dropout", 0.0))
    for i in range(int(params.get("layers", 1))):
        x = keras.layers.Dense(
            int(params.get(f"units_{i}", params.get("units", 64))),
            use_bias=not normalise,
            kernel_initializer=params.get("kernel_initializer", "glorot_uniform"),
            kernel_regularizer=regularizer(params),
        )(x)
        if normalise:
            x = batch_norm()(x)
        x = keras.layers.Activation(params.get("activation", "relu"))(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return x


def embed_numbers(x, params: Mapping[str, Any], numeric_bins: list[list[float]] | None):
    """The `embedding` of a table's numeric columns (`numeric_bins`: their bin edges, the first columns of the
    vector view); without a table's facts, periodic embeddings take every column."""
    embedding = params.get("embedding", "none")
    if embedding == "none" or numeric_bins == []:
        return x
    dim = int(params.get("embedding_dim", 16))
    if embedding == "piecewise":
        if numeric_bins is None:
            raise ValueError("piecewise-linear embeddings need a table's numeric columns; use embedding: none "
                             "or periodic for this data")
        return PiecewiseLinearEmbedding(numeric_bins, dim)(x)
    if embedding == "periodic":
        return PeriodicEmbedding(int(params.get("frequencies", 16)), dim, float(params.get("frequency_scale", 0.1)),
                                 numeric=None if numeric_bins is None else len(numeric_bins))(x)
    raise ValueError(f"unknown embedding '{embedding}': use none, piecewise or periodic")


def build_dense(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                facts: Mapping[str, Any] | None = None) -> keras.Model:
    """The `dense` and `tabm` families. From the fitted preprocessing's `facts`: the bin edges of a table's
    numeric columns (`numeric_bins`, or `quantile_bins` with `scaling: quantile`), for piecewise-linear
    embeddings; with `categories: embed`, the number of codes of each column at the end of the inputs
    (`category_sizes`).

    >>> from autosearch.tasks import Task, head_for
    >>> build_dense({"layers": 2, "units_0": 8, "units_1": 4}, (5,), head_for(Task.BINARY, 2)).output_shape
    (None, 1)
    >>> build_dense({"layers": 1, "units_0": 8, "embedding": "periodic", "ensemble_size": 4}, (5,),
    ...             head_for(Task.MULTICLASS, 3)).output_shape
    (None, 3)
    >>> build_dense({"layers": 1, "embedding": "piecewise", "ensemble_size": 4}, (5,),
    ...             head_for(Task.REGRESSION, 1), {"numeric_bins": [[0.0, 1.0], [-1.0, 0.0, 1.0]]}).output_shape
    (None, 1)
    >>> build_dense({"layers": 1, "categories": "embed", "ensemble_size": 4}, (7,), head_for(Task.BINARY, 2),
    ...             {"category_sizes": [30, 25]}).output_shape
    (None, 1)
    """
    facts = facts or {}
    numeric_bins = facts.get("quantile_bins" if params.get("scaling") == "quantile" else "numeric_bins")
    category_sizes = facts.get("category_sizes")
    inputs = keras.Input(shape=input_shape, name="features")
    x, codes = inputs, None
    if params.get("categories") == "embed" and category_sizes:  # the table view (models.table_view)
        width, n = int(input_shape[-1]), len(category_sizes)
        # float32 whatever the precision policy: float16 holds whole numbers exactly only up to 2,048
        codes = TakeColumns(width - n, width, dtype="float32")(inputs)
        codes = CategoryEmbedding(category_sizes, category_dim(category_sizes), dtype="float32")(codes)
        x = TakeColumns(0, width - n)(inputs)
    if params.get("clip_inputs", False):
        clip = SmoothClip()
        x = clip(x)
        if numeric_bins:  # the bins as the clipped numbers fall in them (clipping keeps their order)
            numeric_bins = [clip.bound(column) for column in numeric_bins]
    x = embed_numbers(x, params, numeric_bins)
    if codes is not None:
        x = keras.layers.Concatenate()([x, codes])
    members = int(params.get("ensemble_size", 1))
    if members <= 1:
        return keras.Model(inputs, add_head(dense_stack(x, params), head), name="dense")
    x = dense_stack(EnsembleInput(members)(x), params)
    # float32 even under mixed precision, as every head (models.heads)
    outputs = EnsembleMean(dtype="float32")(EnsembleHead(head.units, head.activation, dtype="float32")(x))
    return keras.Model(inputs, outputs, name="tabm")
