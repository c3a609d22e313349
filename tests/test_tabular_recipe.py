"""The tabular recipe's pieces (models.layers, training's optimizer and loss): a BatchEnsemble whose members
train on their own losses and predict as their mean, piecewise-linear and periodic embeddings of a table's
numeric columns, embeddings of its high-cardinality categorical columns, AdamW with a cosine schedule, label
smoothing, and a saved model that loads under Keras' safe mode. Real Keras on tiny arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autosearch.models import build_model, input_view, load_keras
from autosearch.tasks import Task, head_for

keras = load_keras()

from autosearch.models.dense import build_dense  # noqa: E402  (after Keras is loaded quietly)
from autosearch.models.layers import CategoryEmbedding, MemberLoss, PiecewiseLinearEmbedding  # noqa: E402
from autosearch.preprocessing import TableFeatures, quantile_edges  # noqa: E402
from autosearch.training import make_loss, make_optimizer  # noqa: E402

TABM = {"layers": 2, "units": 16, "embedding": "periodic", "embedding_dim": 4, "frequencies": 3,
        "ensemble_size": 4, "dropout": 0.0}
rng = np.random.default_rng(0)
X = rng.normal(size=(12, 5)).astype("float32")


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_members_differ_and_the_prediction_is_their_mean():
    model = build_dense(TABM, (5,), head_for(Task.MULTICLASS, 3))
    members = as_numpy(model(X, training=True))  # what the loss sees: every member's probabilities
    assert members.shape == (12, 4, 3)
    assert np.allclose(members.sum(axis=-1), 1.0, atol=1e-5)
    assert np.abs(members[:, 0] - members[:, 1]).max() > 1e-3  # the adapters make the members differ
    assert np.allclose(as_numpy(model(X, training=False)), members.mean(axis=1), atol=1e-6)
    assert np.allclose(as_numpy(model.predict_on_batch(X)), members.mean(axis=1), atol=1e-6)


TARGETS = {"sparse_categorical_crossentropy": (rng.integers(0, 3, 12), 3),
           "binary_crossentropy": (rng.integers(0, 2, 12).astype("float32"), 1),
           "mse": (rng.normal(size=(12, 1)).astype("float32"), 1),
           "huber": (rng.normal(size=(12, 2)).astype("float32"), 2)}


@pytest.mark.parametrize("base", list(TARGETS))
def test_the_member_loss_is_the_mean_of_each_members_own_loss(base):
    y, units = TARGETS[base]
    activation = {"sparse_categorical_crossentropy": "softmax", "binary_crossentropy": "sigmoid"}.get(base)
    raw = rng.normal(size=(12, 4, units)).astype("float32")
    pred = as_numpy(keras.activations.get(activation)(raw)) if activation else raw
    plain = {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy(),
             "binary_crossentropy": keras.losses.BinaryCrossentropy(), "mse": keras.losses.MeanSquaredError(),
             "huber": keras.losses.Huber()}[base]
    each = [float(as_numpy(plain(y, pred[:, m]))) for m in range(4)]
    loss = MemberLoss(base, units)
    assert float(as_numpy(loss(y, pred))) == pytest.approx(np.mean(each), rel=1e-5)
    assert float(as_numpy(loss(y, pred[:, 2]))) == pytest.approx(each[2], rel=1e-5)  # one prediction per sample


def test_label_smoothing_for_integer_classes_and_none_for_regression():
    y, p = np.array([0, 2, 1]), np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], "float32")
    smoothed = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[y], p)
    loss = make_loss(head_for(Task.MULTICLASS, 3), {"label_smoothing": 0.1})
    assert float(as_numpy(loss(y, p))) == pytest.approx(float(as_numpy(smoothed)), rel=1e-5)
    assert float(as_numpy(loss(y, p))) > float(as_numpy(keras.losses.SparseCategoricalCrossentropy()(y, p)))
    assert make_loss(head_for(Task.REGRESSION, 1), {"label_smoothing": 0.1}).label_smoothing == 0.0


def test_adamw_decays_weights_and_the_cosine_schedule_reaches_zero_at_the_last_step():
    optimizer = make_optimizer({"optimizer": "adamw", "weight_decay": 0.01, "learning_rate": 0.02,
                                "schedule": "cosine"}, steps=10)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == pytest.approx(0.01)
    rates = []
    for step in (0, 5, 10):
        optimizer.iterations.assign(step)
        rates.append(float(as_numpy(optimizer.learning_rate)))
    assert rates == pytest.approx([0.02, 0.01, 0.0], abs=1e-7)
    constant = make_optimizer({"optimizer": "adam", "learning_rate": 0.02}, steps=10)
    constant.iterations.assign(10)
    assert float(as_numpy(constant.learning_rate)) == pytest.approx(0.02)


EMBEDDINGS = {"periodic": {"embedding": "periodic", "embedding_dim": 8, "frequencies": 8, "frequency_scale": 0.5},
              "piecewise": {"embedding": "piecewise", "embedding_dim": 8, "clip_inputs": True}}


@pytest.mark.slow
@pytest.mark.parametrize("embedding", list(EMBEDDINGS))
def test_an_embedded_number_learns_a_threshold_a_linear_model_cannot(tmp_path, embedding):
    """y = 1 where |x| < 0.5: no single weight per feature separates it; an embedded number does."""
    x = np.linspace(-2, 2, 400, dtype="float32").reshape(-1, 1)
    y = (np.abs(x[:, 0]) < 0.5).astype("float32")
    head = head_for(Task.BINARY, 2)
    keras.utils.set_random_seed(0)
    embedded = build_dense({"layers": 0, "ensemble_size": 4, **EMBEDDINGS[embedding]}, (1,), head,
                           {"numeric_bins": quantile_edges(x, bins=8)})
    embedded.compile(optimizer=keras.optimizers.Adam(0.02), loss=make_loss(head, {}))
    embedded.fit(x, y, epochs=60, batch_size=64, verbose=0)
    accuracy = ((as_numpy(embedded.predict_on_batch(x))[:, 0] > 0.5) == y).mean()
    assert accuracy > 0.9  # a linear model on x: 0.75 at best (all "no")

    path = tmp_path / "tabm.keras"
    embedded.save(path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)
    assert np.allclose(as_numpy(loaded.predict_on_batch(x)), as_numpy(embedded.predict_on_batch(x)), atol=1e-6)


def test_a_tables_numbers_are_embedded_on_bins_of_the_training_rows_and_other_columns_pass_through():
    train = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0, 100.0, np.nan], "empty": [np.nan] * 6, "flag": [0, 1] * 3,
                          "colour": list("rgbrgb")})
    features = TableFeatures(numeric=("size", "empty", "flag"), categorical=("colour",)).fit(train)
    vector = features.transform(train)["vector"]
    bins = features.model_facts_["numeric_bins"]
    assert len(bins) == 2  # size and flag; the all-missing column is dropped
    assert len(bins[1]) == 2  # a 0/1 column: one bin
    assert bins[0][0] == pytest.approx(vector[:, 0].min()) and bins[0][-1] == pytest.approx(vector[:, 0].max())
    assert vector.shape[1] == 2 + 2 + 3  # size, flag, missing-indicators of size and empty, one-hot colour

    test = pd.DataFrame({"size": [1000.0], "empty": [1.0], "flag": [1], "colour": ["g"]})
    assert features.transform(test)["vector"][0, 0] > bins[0][-1]  # new rows do not move the bins
    model = build_dense({"layers": 1, "units": 4, "embedding": "piecewise", "embedding_dim": 3},
                        (vector.shape[1],), head_for(Task.REGRESSION, 1), {"numeric_bins": bins})
    embedding = next(layer for layer in model.layers if isinstance(layer, PiecewiseLinearEmbedding))
    assert embedding.compute_output_shape((None, 7)) == (None, 2 * 3 + 5)  # the indicator and one-hot as they are
    out = as_numpy(embedding(vector))
    assert np.array_equal(out[:, 6:], vector[:, 2:])


MPG = pd.read_csv(Path(__file__).parent / "data" / "mpg.csv")  # 234 cars, 38 models (tests/data/README.md)


def test_quantile_views_squeeze_a_heavy_tail_read_new_extremes_as_the_training_ones_and_leave_the_rest():
    draw = np.random.default_rng(5)  # its own: the module's generator's draws depend on which tests ran before
    size = np.exp(draw.normal(size=200)) * 100  # a right-skewed column, as a house's area or a price (skew 3.3)
    train = pd.DataFrame({"size": size, "flag": draw.integers(0, 2, 200), "colour": draw.choice(list("rgb"), 200)})
    features = TableFeatures(numeric=("size", "flag"), categorical=("colour",)).fit(train)
    views = features.transform(train)
    standard, quantile = views["vector"], views["quantile_vector"]
    assert quantile.shape == standard.shape and views["quantile_table"] is quantile  # no codes: one array
    assert np.array_equal(quantile[:, 2:], standard[:, 2:])  # one-hot columns as they were
    assert (np.diff(quantile[np.argsort(size), 0]) >= 0).all()  # the same order…
    skew = lambda x: float(((x - x.mean()) ** 3).mean() / x.std() ** 3)  # noqa: E731
    assert skew(standard[:, 0]) > 2 and abs(skew(quantile[:, 0])) < 0.3  # …with the tail squeezed to a normal shape
    far = features.transform(train.head(1).assign(size=size.max() * 50))
    assert far["quantile_vector"][0, 0] == pytest.approx(quantile[:, 0].max())  # read as the training extreme
    assert far["vector"][0, 0] > 10 * standard[:, 0].max()  # where standard scaling reads it far beyond
    bins = features.model_facts_["quantile_bins"]
    assert len(bins) == 2 and bins[0][0] == pytest.approx(quantile[:, 0].min())  # embeddings' bins of this view
    assert bins[0][-1] == pytest.approx(quantile[:, 0].max())
    facts = features.model_facts_
    for scaling, edges in (("quantile", bins), ("standard", facts["numeric_bins"])):
        params = {"layers": 1, "units": 4, "embedding": "piecewise", "scaling": scaling, "clip_inputs": False}
        assert input_view("tabm", params) == f"{'quantile_' * (scaling == 'quantile')}vector"
        model = build_model("tabm", params, (standard.shape[1],), head_for(Task.REGRESSION, 1), facts)
        embedding = next(layer for layer in model.layers if isinstance(layer, PiecewiseLinearEmbedding))
        assert embedding.edges == edges  # the bins of the view the network reads

    wide = TableFeatures(numeric=("displ", "cty"), categorical=("model",)).fit(MPG)
    views = wide.transform(MPG)
    assert np.array_equal(views["quantile_table"][:, -1], views["table"][:, -1])  # the same codes after it
    assert np.array_equal(views["quantile_table"][:, :-1], views["quantile_vector"])


def test_a_high_cardinality_column_gets_a_code_per_frequent_value_one_for_rare_or_unseen_and_zero_if_missing():
    train = MPG.iloc[:200].copy()
    train.loc[0, "model"] = np.nan
    features = TableFeatures(numeric=("displ", "cty"), categorical=("manufacturer", "model", "drv")).fit(train)
    counts = train["model"].value_counts()
    assert len(counts) > 20 >= train["manufacturer"].nunique()  # only `model` is wide
    rare = counts[counts < 3]
    assert len(rare) and features.model_facts_["category_sizes"] == [1 + (counts >= 3).sum() + 1]

    views = features.transform(train)
    vector, table = views["vector"], views["table"]
    assert np.array_equal(table[:, :-1], vector) and table.shape[1] == vector.shape[1] + 1
    codes = pd.Series(table[:, -1], index=train.index)
    assert codes[0] == 0  # missing
    by_model = codes[1:].groupby(train["model"][1:]).unique()
    assert all(len(c) == 1 for c in by_model)  # one code per value
    frequent = [by_model[m][0] for m in counts.index if counts[m] >= 3]
    assert len(set(frequent)) == len(frequent) and 0 not in frequent  # distinct, and never the missing code
    other = {by_model[m][0] for m in rare.index}
    assert len(other) == 1 and 0 not in other  # the rare values share one code…
    unseen = features.transform(MPG.iloc[[0]].assign(model="a model never seen"))["table"]
    assert unseen[0, -1] in other  # …with the values training never saw (a trained vector, not a random one)

    narrow = TableFeatures(numeric=("displ",), categorical=("drv",)).fit(train)
    assert narrow.model_facts_["category_sizes"] == []
    plain = narrow.transform(train)
    assert plain["table"] is plain["vector"]  # no codes: the same array, no copy


def test_each_column_reads_its_own_embedding_table_and_out_of_range_codes_read_zero():
    layer = CategoryEmbedding([3, 5], dim=2)
    out = as_numpy(layer(np.array([[1, 4], [7, -1]], "float32")))
    table = as_numpy(layer.table)
    assert np.allclose(out[0], np.concatenate([table[1], table[3 + 4]]))
    assert np.allclose(out[1], np.concatenate([table[0], table[3 + 0]]))


@pytest.mark.slow
def test_embedded_codes_learn_what_each_car_model_does_where_one_hot_lumps_the_rarer_models(tmp_path):
    """hwy mileage from the car model alone: one-hot keeps the 20 most frequent of 38 models; the codes keep
    each model seen 3 times or more, so a linear layer on their embedding fits the other models too."""
    features = TableFeatures(numeric=(), categorical=("model",)).fit(MPG)
    views = features.transform(MPG)
    y = ((MPG["hwy"] - MPG["hwy"].mean()) / MPG["hwy"].std()).to_numpy("float32")
    top = MPG["model"].value_counts().index[:20]
    others = ~MPG["model"].isin(top).to_numpy()
    head = head_for(Task.REGRESSION, 1)
    errors = {}
    for name, params, view in (("embed", {"categories": "embed"}, "table"), ("onehot", {}, "vector")):
        keras.utils.set_random_seed(0)
        model = build_dense({"layers": 0, **params}, views[view].shape[1:], head,
                            {"category_sizes": features.model_facts_["category_sizes"]})
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(views[view], y, epochs=60, batch_size=32, verbose=0)
        errors[name] = float(np.mean((as_numpy(model.predict_on_batch(views[view]))[others, 0] - y[others]) ** 2))
        if name == "embed":
            model.save(tmp_path / "embed.keras")
            loaded = keras.saving.load_model(tmp_path / "embed.keras", compile=False, safe_mode=True)
            assert np.allclose(as_numpy(loaded.predict_on_batch(views[view])),
                               as_numpy(model.predict_on_batch(views[view])), atol=1e-6)
    assert errors["embed"] < 0.5 * errors["onehot"], errors
