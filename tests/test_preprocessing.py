"""Targets in and predictions out, per task; the feature preprocessor fitted on training rows only."""

import numpy as np
import pandas as pd

from autosearch.data.load import RawData
from autosearch.data.profile import profile
from autosearch.problem import build_preprocessor
from autosearch.targets import TargetCodec
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
    prof, data, _, _ = profile(RawData("t", frame=frame), ("y",))
    train, later = data.take(np.arange(30)), data.take(np.arange(30, 40))
    pre = build_preprocessor(prof).fit(train.features)
    x = pre.transform(train.features)["vector"]
    assert x.dtype == np.float32 and np.isfinite(x).all()
    assert abs(x[:, 0].mean()) < 1e-6  # scaled with the training rows' statistics
    unseen = later.features.assign(colour="purple")  # a category never seen in training
    assert np.isfinite(pre.transform(unseen)["vector"]).all()


def test_a_named_view_is_the_same_made_alone_as_among_all():
    """Serving a pick makes only the views its members read (no quantile transform, codes or n-grams it
    does not need), and each is the array the full transform makes."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.lognormal(3, 1, 200), "town": rng.choice([f"t{i}" for i in range(40)], 200),
                          "y": rng.normal(size=200)})
    prof, data, _, _ = profile(RawData("t", frame=frame), ("y",))
    pre = build_preprocessor(prof).fit(data.features)
    every = pre.transform(data.features)
    assert {"vector", "table", "quantile_vector", "quantile_table"} <= set(every)
    assert every["table"].shape[1] == every["vector"].shape[1] + 1  # the wide column's codes
    for name in every:
        alone = pre.transform(data.features, views={name})
        assert set(alone) == {name} and np.array_equal(alone[name], every[name])
    docs = pd.DataFrame({"text": ["the cat sat on the mat", "a dog barked at the cat"]})
    assert set(build_preprocessor_for("text").fit(docs).transform(docs, views={"tfidf"})) == {"tfidf"}


def test_arrays_are_standardised_per_channel_and_flattened_too():
    rng = np.random.default_rng(0)
    images = np.stack([rng.normal(100, 5, (30, 8, 8)), rng.normal(-3, 1, (30, 8, 8))], axis=-1)
    views = build_preprocessor_for("image").fit(images).transform(images)
    assert views["image"].shape == (30, 8, 8, 2) and views["vector"].shape == (30, 128)
    assert np.allclose(views["image"].mean(axis=(0, 1, 2)), 0, atol=1e-5)
    assert np.allclose(views["image"].std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_text_views_use_the_training_vocabulary_only():
    docs = pd.DataFrame({"text": ["the cat sat on the mat", "a dog barked at the cat", "cats and dogs play"]})
    pre = build_preprocessor_for("text").fit(docs)
    views = pre.transform(pd.DataFrame({"text": ["the cat sat", "zebras graze quietly"]}))
    assert views["tokens"].dtype == np.int32 and views["tokens"].shape[0] == 2
    assert (views["tokens"][1] <= 1).all()  # unseen words map to the out-of-vocabulary id (or padding)
    assert views["ngrams"].shape[0] == 2 and views["tfidf"].shape[0] == 2
    assert pre.vocabulary_size_ > 2


def build_preprocessor_for(kind: str):
    from autosearch.data.kinds import DataKind
    from autosearch.data.profile import Profile
    prof = Profile(("y",), "", Task.BINARY, "", DataKind(kind), "", n_rows=0, n_columns=0,
                   text=("text",) if kind == "text" else ())
    return build_preprocessor(prof)


def test_slash_dates_are_read_day_first_where_the_training_rows_say_so():
    from autosearch.preprocessing import TableFeatures, _date_parts

    days = pd.DataFrame({"d": ["25/12/2024", "01/02/2024", "13/01/2025", "9999-12-31"]})  # and "no end date"
    features = TableFeatures(dates=("d",)).fit(days)
    reader = features.columns_.named_transformers_["dates"].named_steps["parts"]
    assert reader.kw_args == {"day_first": [True]}  # 25/12: the day comes first in this column
    months = _date_parts(days, **reader.kw_args)[:, 1].tolist()
    assert months == [12.0, 2.0, 1.0, 12.0]  # 01/02/2024 is the 1st of February here
    assert np.isfinite(features.transform(days)["vector"]).all()
    assert features.undated(pd.DataFrame({"d": ["2024-03-01", "soon", None]})) == {"d": ["soon"]}
