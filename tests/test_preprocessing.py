"""Targets in and predictions out, per task; the feature preprocessor fitted on training rows only."""

import numpy as np
import pandas as pd

from autosearch.data.profile import profile
from autosearch.preprocessing import TargetCodec, build_preprocessor, to_matrix
from autosearch.tasks import Task


def test_single_label_round_trip_keeps_original_labels():
    y = pd.DataFrame({"y": ["yes", "no", "yes", "maybe"]})
    codec = TargetCodec(Task.MULTICLASS, ("y",)).fit(y)
    assert codec.classes_ == ["maybe", "no", "yes"]
    assert codec.encode(y).tolist() == [2, 1, 2, 0]
    proba = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    decoded = codec.decode(codec.scores(proba))
    assert decoded.prediction.tolist() == ["yes", "maybe"]
    assert list(decoded.columns) == ["prediction", "proba_maybe", "proba_no", "proba_yes"]


def test_class_ratio_is_smallest_over_largest():
    y = pd.DataFrame({"y": [0] * 90 + [1] * 10})
    assert TargetCodec(Task.BINARY, ("y",)).fit(y).class_ratio(y) == 10 / 90


def test_label_sets_become_a_zero_one_matrix_and_back():
    y = pd.DataFrame({"tags": ["a|b", "b", "", "c|a"]})
    codec = TargetCodec(Task.MULTILABEL, ("tags",)).fit(y)
    assert codec.classes_ == ["a", "b", "c"]
    assert codec.encode(y).tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0], [1, 0, 1]]
    decoded = codec.decode(np.array([[0.9, 0.2, 0.6]]))
    assert decoded.prediction.tolist() == ["a|c"]
    assert decoded[["a", "b", "c"]].iloc[0].tolist() == [1, 0, 1]


def test_several_zero_one_columns_keep_their_names():
    y = pd.DataFrame({"spam": [0, 1, 1], "urgent": [1, 0, 1]})
    codec = TargetCodec(Task.MULTILABEL, ("spam", "urgent")).fit(y)
    decoded = codec.decode(np.array([[0.2, 0.8]]))
    assert decoded[["spam", "urgent"]].iloc[0].tolist() == [0, 1]
    assert "proba_urgent" in decoded


def test_regression_trains_on_a_scaled_target_and_predicts_in_its_units():
    y = pd.DataFrame({"price": [100.0, 200.0, 300.0], "area": [10.0, 30.0, 50.0]})
    codec = TargetCodec(Task.REGRESSION, ("price", "area")).fit(y)
    encoded = codec.encode(y)
    assert np.allclose(encoded.mean(axis=0), 0) and np.allclose(encoded.std(axis=0), 1)
    back = codec.decode(codec.scores(encoded))
    assert list(back.columns) == ["prediction_price", "prediction_area"]
    assert np.allclose(back.to_numpy(), y.to_numpy())


def test_preprocessor_imputes_scales_one_hots_and_learns_from_training_rows_only():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "size": rng.normal(50, 10, 40), "colour": rng.choice(["red", "blue", None], 40),
        "member": rng.choice([True, False], 40), "y": rng.choice(["a", "b"], 40),
    })
    frame.loc[:4, "size"] = np.nan
    prof, frame, _ = profile(frame, ("y",))
    train, later = frame.iloc[:30], frame.iloc[30:]
    pre = build_preprocessor(prof).fit(train[list(prof.features)])
    x = to_matrix(pre, train[list(prof.features)])
    assert x.dtype == np.float32 and np.isfinite(x).all()
    assert abs(x[:, 0].mean()) < 1e-6  # scaled with the training rows' statistics
    unseen = later[list(prof.features)].assign(colour="purple")  # a category never seen in training
    assert np.isfinite(to_matrix(pre, unseen)).all()
