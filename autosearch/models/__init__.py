"""Model builders, one module per architecture family, all backend-neutral Keras 3.

This package's namespace stays free of Keras so that reading a space file does not import it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any, Mapping

from autosearch.tasks import Head

# Parameters read when compiling and fitting, whichever the family.
TRAINING_PARAMS = frozenset({"optimizer", "learning_rate", "momentum", "batch_size", "loss", "class_weight"})
DENSE_PARAMS = frozenset({"layers", "units", "activation", "dropout", "l2", "batch_norm", "kernel_initializer"})

# The parameters a space file of each family may declare.
FAMILY_PARAMS: dict[str, frozenset[str]] = {"dense": DENSE_PARAMS | TRAINING_PARAMS}


def build_model(family: str, params: Mapping[str, Any], input_shape: tuple[int, ...], head: Head):
    """An uncompiled Keras model of `family` for inputs of `input_shape` (without the batch axis)."""
    if family == "dense":
        from autosearch.models.dense import build_dense
        return build_dense(params, input_shape, head)
    raise ValueError(f"no builder for family '{family}'")


def load_keras():
    """Import Keras (and its backend) once, with the backend's C++ start-up chatter silenced.

    TensorFlow 2.21 logs through abseil before abseil is initialised, which ignores
    TF_CPP_MIN_LOG_LEVEL; the only way to keep those lines off the user's screen is to point
    file descriptor 2 elsewhere for the duration of the import. Python errors still propagate.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
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
