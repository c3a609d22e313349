"""Networks for documents: the `tfidf` family (a linear or one-hidden-layer model of n-gram
TF-IDF, first), and the `text` family: a bag-of-n-grams dense model, or word embeddings read by a 1D convnet
or a GRU/LSTM. The words were turned into ids or n-gram TF-IDF before the model (Keras' TextVectorization,
preprocessing.py), so the model itself stays backend-neutral; n-gram TF-IDF is log-scaled and normalised
per document in the model (`SublinearNorm`)."""

from __future__ import annotations

from typing import Any, Mapping

import keras

from autosearch.models.conv import conv_stack, flatten_or_pool
from autosearch.models.dense import dense_stack
from autosearch.models.heads import add_head, add_top
from autosearch.models.layers import SublinearNorm
from autosearch.models.rnn import rnn_stack
from autosearch.tasks import Head

ARCHITECTURES = ("bag_of_ngrams", "conv1d", "rnn")


def build_text(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
               facts: Mapping[str, Any] | None = None) -> keras.Model:
    """The `text` family; word embeddings take the vocabulary's size from the fitted preprocessing's `facts`
    (`vocabulary_size`, else 20,000). Its view: `models.text_view`.

    >>> from autosearch.tasks import Task, head_for
    >>> build_text({"architecture": "rnn"}, (40,), head_for(Task.BINARY, 2), {"vocabulary_size": 500}).output_shape
    (None, 1)
    """
    vocabulary_size = (facts or {}).get("vocabulary_size") or 20000
    architecture = params.get("architecture", "bag_of_ngrams")
    if architecture == "bag_of_ngrams":
        inputs = keras.Input(shape=input_shape, name="ngrams")
        return keras.Model(inputs, add_head(dense_stack(SublinearNorm()(inputs), params), head),
                           name="text_bag_of_ngrams")
    inputs = keras.Input(shape=input_shape, dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocabulary_size, int(params.get("embedding_dim", 64)),
                               mask_zero=architecture == "rnn")(inputs)
    if architecture == "rnn":
        x = rnn_stack(x, params)
    else:
        x = flatten_or_pool(conv_stack(x, params, rank=1), params, rank=1)
    return keras.Model(inputs, add_top(x, params, head), name=f"text_{architecture}")


def build_tfidf(params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                facts: Mapping[str, Any] | None = None) -> keras.Model:
    """n-gram TF-IDF (log-scaled, unit length) → [dropout] → `layers` hidden layers (0: a linear model, the
    network twin of the logistic/ridge baseline) → the head.

    >>> from autosearch.tasks import Task, head_for
    >>> build_tfidf({"layers": 0}, (300,), head_for(Task.MULTICLASS, 5)).count_params()  # 300 x 5 + 5
    1505
    """
    inputs = keras.Input(shape=input_shape, name="ngrams")
    x = SublinearNorm()(inputs)
    if float(params.get("dropout", 0.0)) > 0:
        x = keras.layers.Dropout(float(params["dropout"]))(x)
    return keras.Model(inputs, add_head(dense_stack(x, {**params, "dropout": 0.0}), head), name="tfidf")
