"""Model builders, one module per architecture family, all backend-neutral Keras 3.

This package's namespace stays free of Keras so that reading a space file does not import it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from autosearch.tasks import Head

# Parameters read when compiling and fitting, whichever the family.
TRAINING_PARAMS = frozenset({"optimizer", "learning_rate", "momentum", "weight_decay", "schedule", "batch_size",
                             "loss", "label_smoothing", "class_weight"})
DENSE_PARAMS = frozenset({"layers", "units", "activation", "dropout", "l2", "batch_norm", "kernel_initializer"})
TABULAR_PARAMS = frozenset({"scaling", "clip_inputs", "embedding", "frequencies", "embedding_dim", "frequency_scale",
                            "ensemble_size", "categories"})
CONV_PARAMS = frozenset({"blocks", "filters", "kernel_size", "conv_type", "activation", "batch_norm", "dropout",
                         "l2", "pooling", "dense_units"})
RNN_PARAMS = frozenset({"cell", "layers", "units", "bidirectional", "dropout", "recurrent_dropout",
                        "dense_units", "activation"})
RESNET2D_PARAMS = frozenset({"filters", "stages", "blocks", "augment", "shift", "flip", "contrast", "activation",
                             "dropout", "l2"})
SERIES_PARAMS = frozenset({"filters", "blocks", "depth", "kernel_size", "bottleneck", "activation", "dropout", "l2"})
NBEATS_PARAMS = frozenset({"blocks", "layers", "units", "activation", "dropout", "l2"})
TFIDF_PARAMS = frozenset({"layers", "units", "activation", "dropout", "l2"})
TEXT_PARAMS = frozenset({"architecture", "embedding_dim"}) | DENSE_PARAMS | CONV_PARAMS | RNN_PARAMS


@dataclass(frozen=True)
class Family:
    """An architecture family: the parameters its space may declare, the view of the data it reads, and its
    builder, `module:function` in this package, imported when a model is built (reading a space file imports
    no Keras). Every builder takes (params, input_shape, head, facts), `facts` being what the fitted
    preprocessing says of the data (`problem.model_facts`). A family whose view depends on its parameters
    names the function of them that gives it (`views`).

    A new family is a module here with its builder, a `search_spaces/<family>.yaml` of its parameters, an entry
    in `FAMILIES`, and its name in the kinds of data it suits (`data/kinds.py`)."""

    name: str
    params: frozenset[str]
    view: str  # see preprocessing.py
    builder: str
    views: Callable[[Mapping[str, Any]], str] | None = None


def table_view(params: Mapping[str, Any]) -> str:
    """A table's view for the `dense` and `tabm` families: the vector, or the vector then the high-cardinality
    columns' codes (`categories: embed`, models.dense); numeric columns standard-scaled or, with `scaling:
    quantile`, quantile-normalised (preprocessing.TableFeatures)."""
    view = "table" if params.get("categories") == "embed" else "vector"
    return f"quantile_{view}" if params.get("scaling") == "quantile" else view


def text_view(params: Mapping[str, Any]) -> str:
    """The view a `text` network's architecture reads: n-gram TF-IDF, or word ids."""
    return "ngrams" if params.get("architecture", "bag_of_ngrams") == "bag_of_ngrams" else "tokens"


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("dense", DENSE_PARAMS | TABULAR_PARAMS | TRAINING_PARAMS, "vector", "dense:build_dense", table_view),
    # the same builder, TabM's space
    Family("tabm", DENSE_PARAMS | TABULAR_PARAMS | TRAINING_PARAMS, "vector", "dense:build_dense", table_view),
    Family("conv2d", CONV_PARAMS | {"augment"} | TRAINING_PARAMS, "image", "conv:build_conv2d"),
    Family("resnet2d", RESNET2D_PARAMS | TRAINING_PARAMS, "image", "resnet2d:build_resnet2d"),
    Family("conv1d", CONV_PARAMS | TRAINING_PARAMS, "sequence", "conv:build_conv1d"),
    Family("rnn", RNN_PARAMS | TRAINING_PARAMS, "sequence", "rnn:build_rnn"),
    Family("fcn", SERIES_PARAMS | TRAINING_PARAMS, "sequence", "series:build_fcn"),
    Family("resnet1d", SERIES_PARAMS | TRAINING_PARAMS, "sequence", "series:build_resnet1d"),
    Family("inception", SERIES_PARAMS | TRAINING_PARAMS, "sequence", "series:build_inception"),
    Family("nbeats", NBEATS_PARAMS | TRAINING_PARAMS, "vector", "nbeats:build_nbeats"),  # forecasts: the window
    Family("tfidf", TFIDF_PARAMS | TRAINING_PARAMS, "ngrams", "text:build_tfidf"),
    Family("text", TEXT_PARAMS | TRAINING_PARAMS, "text", "text:build_text", text_view),
)}
FAMILY_PARAMS = {name: f.params for name, f in FAMILIES.items()}


def input_view(family: str, params: Mapping[str, Any]) -> str:
    """The view of the data a network of `family` with `params` reads."""
    spec = FAMILIES[family]
    return spec.views(params) if spec.views is not None else spec.view


def build_model(family: str, params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head,
                facts: Mapping[str, Any] | None = None):
    """An uncompiled Keras model of `family` for inputs of `input_shape` (without the batch axis); `facts`
    are the fitted preprocessing's (`problem.model_facts`)."""
    module, function = FAMILIES[family].builder.split(":")
    builder = getattr(importlib.import_module(f"autosearch.models.{module}"), function)
    return builder(params, input_shape, head, facts or {})


MIXED_PRECISION_ENV = "AUTOSEARCH_MIXED_PRECISION"


def load_keras():
    """Import Keras (and its backend) once, with the backend's C++ start-up chatter silenced.

    TensorFlow 2.21 logs through abseil before abseil is initialised, which ignores
    TF_CPP_MIN_LOG_LEVEL; the only way to keep those lines off the user's screen is to point
    file descriptor 2 elsewhere for the duration of the import. Python errors still propagate.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    # GPU hygiene, whatever the backend: no trial grabs the whole card (several share one GPU on Ray).
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
        keras.ops.zeros(1)  # the backend's devices initialise here, and log too
        if keras.backend.backend() != "tensorflow" and importlib.util.find_spec("tensorflow"):
            import tensorflow  # noqa: F401  Keras's data utilities load it on other backends too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    # TensorFlow's own Python logger warns about retracing, which a search does by design (a new model
    # per trial).
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras


def set_precision() -> None:
    """Float16 compute with float32 weights (--mixed-precision) or plain float32 for the models this thread
    builds from here on, as the environment says (Ray workers get the driver's setting this way)."""
    mixed = os.environ.get(MIXED_PRECISION_ENV) == "1"
    load_keras().mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")


@contextlib.contextmanager
def precision(mixed: bool):
    """--mixed-precision (or not) for the block, in this process and the Ray workers it starts (each
    `train_network` applies it); then the policy and the environment as they were."""
    keras = load_keras()
    policy, before = keras.mixed_precision.global_policy(), os.environ.get(MIXED_PRECISION_ENV)
    os.environ[MIXED_PRECISION_ENV] = "1" if mixed else "0"
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        if before is None:
            os.environ.pop(MIXED_PRECISION_ENV, None)
        else:
            os.environ[MIXED_PRECISION_ENV] = before


_DEVICE: list[str] = []


def device_name() -> str:
    """What Keras trains on in this process, e.g. "cpu" or "gpu:NVIDIA H100 80GB HBM3 (mixed_float16)"
    (recorded on trials)."""
    if not _DEVICE:
        backend = load_keras().backend.backend()
        if backend == "jax":
            import jax
            device = jax.devices()[0]
            name = "cpu" if device.platform == "cpu" else f"gpu:{device.device_kind}"
        elif backend == "torch":
            import torch
            name = f"gpu:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
        else:
            import tensorflow as tf
            gpus = tf.config.list_physical_devices("GPU")
            name = f"gpu:{tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')}" if gpus \
                else "cpu"
        _DEVICE.append(name)
    policy = load_keras().mixed_precision.global_policy().name
    return _DEVICE[0] if policy == "float32" else f"{_DEVICE[0]} ({policy})"
