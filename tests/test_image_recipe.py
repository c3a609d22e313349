"""The resnet2d family (models.resnet2d): augmentation that changes training batches only, and its
defaults learning real 8x8 digits (scikit-learn's) in a few epochs. Real Keras on the shipped data."""

from __future__ import annotations

import numpy as np
import pytest

from autosearch.models import load_keras
from autosearch.tasks import Task, head_for

keras = load_keras()

from autosearch.models.resnet2d import build_resnet2d  # noqa: E402  (after Keras is loaded quietly)
from autosearch.spaces import load_space, walk  # noqa: E402
from autosearch.training import make_loss, make_optimizer  # noqa: E402


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = ((digits.images - 8.0) / 8.0).astype("float32")[..., None]
    return x, digits.target


def test_augmentation_changes_training_batches_only():
    x, _ = _digits()
    keras.utils.set_random_seed(0)
    model = build_resnet2d({"filters": 8, "stages": 2, "shift": 0.2, "flip": True, "contrast": True}, (8, 8, 1),
                           head_for(Task.MULTICLASS, 10))
    batch = x[:16]
    predicted = model.predict_on_batch(batch)
    assert np.array_equal(predicted, model.predict_on_batch(batch))  # predictions are deterministic
    trained_view = keras.ops.convert_to_numpy(model(batch, training=True))
    assert not np.allclose(trained_view, keras.ops.convert_to_numpy(model(batch, training=False)), atol=1e-4)


@pytest.mark.slow
def test_resnet2d_defaults_learn_digits():
    """800 images, 8 epochs: the held-out 400 are classified well (chance: 0.1), augmentation on."""
    x, y = _digits()
    params = walk(load_space(family="resnet2d"), {"task": "multiclass", "imbalanced": False},
                  lambda spec, name: spec.start())
    assert params["augment"] is True and params["flip"] is False and params["optimizer"] == "adamw"
    head = head_for(Task.MULTICLASS, 10)
    keras.utils.set_random_seed(0)
    model = build_resnet2d(params, (8, 8, 1), head)
    epochs, batch = 8, int(params["batch_size"])
    model.compile(optimizer=make_optimizer(params, epochs * int(np.ceil(800 / batch))), loss=make_loss(head, params))
    model.fit(x[:800], y[:800], epochs=epochs, batch_size=batch, verbose=0)
    assert (model.predict_on_batch(x[800:1200]).argmax(axis=1) == y[800:1200]).mean() >= 0.9
