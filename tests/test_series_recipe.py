"""The series families (models.series): FCN, ResNet-1D and InceptionTime-style networks that average over
the observed steps of a padded series only, and the FCN recipe's defaults learning real series (UCR GunPoint)
in a few dozen epochs. Real Keras on the shipped data."""

from __future__ import annotations

import numpy as np
import pytest

from autosearch.models import load_keras
from autosearch.tasks import Task, head_for

keras = load_keras()

from autosearch.models.series import BLOCKS, build_series  # noqa: E402  (after Keras is loaded quietly)
from autosearch.spaces import load_space, walk  # noqa: E402
from autosearch.training import make_loss, make_optimizer  # noqa: E402

SMALL = {"filters": 4, "blocks": 2, "depth": 3, "kernel_size": 10, "bottleneck": 4}


@pytest.mark.slow
@pytest.mark.filterwarnings("error::UserWarning")  # Keras warns, per layer, when a layer drops a mask it got
@pytest.mark.parametrize("family", list(BLOCKS))
def test_padding_does_not_change_a_series_prediction(family, japanese_vowels_npz, tmp_path):
    """A 7-29 step recording padded to 29 steps or to 60 is the same recording: the network must say so."""
    data = np.load(japanese_vowels_npz)
    x = np.nan_to_num(data["X"][:8]).astype("float32")
    observed = (~np.isnan(data["X"][:8]).all(axis=-1, keepdims=True)).astype("float32")
    x = np.concatenate([x, observed], axis=-1)  # as preprocessing.ArrayFeatures makes padded series
    assert (observed[:, :, 0] == 0).any(axis=1).all()  # every one of these 8 is padded
    keras.utils.set_random_seed(0)
    model = build_series(family, SMALL, (None, 13), head_for(Task.MULTICLASS, 9))
    longer = np.concatenate([x, np.zeros((8, 31, 13), "float32")], axis=1)
    short, long = model.predict_on_batch(x), model.predict_on_batch(longer)
    assert np.allclose(short, long, atol=1e-5)
    assert not np.allclose(short, short[::-1], atol=1e-3)  # and the recordings do differ
    path = tmp_path / f"{family}.keras"  # the mask reaches the pooling by keyword: it must survive saving
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    assert np.allclose(loaded.predict_on_batch(longer), long, atol=1e-6)


def _defaults(family: str, task: str) -> dict:
    return walk(load_space(family=family), {"task": task, "imbalanced": False}, lambda spec, name: spec.start())


@pytest.mark.slow
def test_fcn_defaults_learn_gunpoint_and_predict_as_they_trained(gunpoint_npz):
    """50 training series, 40 epochs: the test series are classified well (a linear model: ~0.8), and the
    prediction-time batch normalisation matches training (with Keras's default momentum of 0.99 the same
    training series were predicted at chance, 0.48)."""
    data = np.load(gunpoint_npz)
    mean, std = data["X"].mean(), data["X"].std()
    x, x_test = ((data[k][..., None] - mean) / std for k in ("X", "X_test"))
    classes = np.unique(data["y"])
    y, y_test = (np.searchsorted(classes, data[k]).astype("float32") for k in ("y", "y_test"))
    params = _defaults("fcn", "binary")
    assert params["filters"] == 128 and params["optimizer"] == "adamw"
    head = head_for(Task.BINARY, 2)
    keras.utils.set_random_seed(0)
    model = build_series("fcn", params, x.shape[1:], head)
    epochs, batch = 40, int(params["batch_size"])
    model.compile(optimizer=make_optimizer(params, epochs * int(np.ceil(len(x) / batch))), loss=make_loss(head, params))
    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0)

    def accuracy(inputs, truth):
        return float(((model.predict_on_batch(inputs)[:, 0] > 0.5) == truth).mean())
    assert accuracy(x, y) >= 0.95
    assert accuracy(x_test, y_test) >= 0.9


def test_engine_callbacks_hear_of_warm_up_epochs_only_if_they_ask():
    """Optuna's pruning callback is not told of warm-up epochs (it would prune on them); Ray's reports are,
    flagged, so the scheduler's epochs stay the network's."""
    from autosearch.training import AfterWarmup

    class Heard(keras.callbacks.Callback):
        def __init__(self, reports_warmup: bool):
            super().__init__()
            self.reports_warmup, self.epochs = reports_warmup, []

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((epoch, bool((logs or {}).get("warming_up"))))

    pruner, reporter = Heard(False), Heard(True)
    gate = AfterWarmup([pruner, reporter], start=2)
    for epoch in range(4):
        gate.on_epoch_end(epoch, {"val_score": 0.5})
    assert pruner.epochs == [(2, False), (3, False)]
    assert reporter.epochs == [(0, True), (1, True), (2, False), (3, False)]
