"""Images, sequences and text: the kind rules, and end-to-end searches on real data of each kind.

Each search is tiny (a few trials of 2 epochs); the assertions are on what was searched and logged.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

import autosearch
from autosearch.baselines import CLASSICAL
from autosearch.cli import app
from autosearch.data.kinds import KINDS, DataKind, array_kind, is_free_text, series_columns, table_kind
from autosearch.data.load import RawData, load_data
from autosearch.data.profile import profile

TINY = {"max_epochs": 2, "quiet": True, "cv_folds": 2}  # CV, at its cheapest


def families_logged(result) -> list[tuple[str, str]]:
    """(kind, family) of the trials and baselines logged (an ensemble of them, where one formed, left out)."""
    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    parent = client.get_run(result.mlflow_run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.`mlflow.parentRunId` = '{result.mlflow_run_id}'")
    return sorted((c.data.tags["autosearch.kind"], c.data.tags["autosearch.family"]) for c in children
                  if c.data.tags["autosearch.kind"] != "ensemble")


@pytest.mark.parametrize("shape, kind", [
    ((100, 28, 28), DataKind.IMAGE),  # grayscale images
    ((100, 8, 8), DataKind.IMAGE),
    ((100, 32, 32, 3), DataKind.IMAGE),
    ((100, 64, 48), DataKind.IMAGE),
    ((100, 100, 6), DataKind.SEQUENCE),  # 100 timesteps of 6 features
    ((100, 500, 1), DataKind.SEQUENCE),
    ((100, 10, 50), DataKind.SEQUENCE),  # 10 x 50 is too unequal for an image
    ((100, 150), DataKind.SEQUENCE),  # univariate series
])
def test_array_kind_rule(shape, kind):
    found, reason = array_kind(shape)
    assert found is kind and reason


def test_free_text_and_numbered_series_columns():
    prose = pd.Series([f"this is sentence number {i} about a topic" for i in range(30)])
    assert is_free_text(prose)
    assert not is_free_text(pd.Series([f"user{i}@example.com" for i in range(30)]))  # distinct but one word
    assert not is_free_text(pd.Series(["red car", "blue car"] * 15))  # repeats: categorical
    assert series_columns([f"t{i}" for i in range(20)])
    assert series_columns([f"x_{i}" for i in range(1, 13)])
    assert not series_columns(["t0", "t1", "t3"] + [f"t{i}" for i in range(4, 14)])  # a gap
    assert not series_columns(["age", "income"])


def test_a_table_with_text_and_numbers_stays_tabular():
    features = pd.DataFrame({"review": ["a long text here"] * 3, "stars": [1, 2, 3]})
    kind, reason = table_kind(features, ["review"])
    assert kind is DataKind.TABULAR and "TF-IDF" in reason
    assert table_kind(features[["review"]], ["review"])[0] is DataKind.TEXT


def test_kind_override_is_checked(digits_npz):
    raw = load_data(digits_npz)
    assert profile(raw, kind="sequence")[0].kind is DataKind.SEQUENCE  # 8 steps of 8 features: allowed
    assert profile(raw, kind="tabular")[0].sample_shape == ()  # flattened to 64 columns
    with pytest.raises(autosearch.AutosearchError, match="--kind text does not fit X of shape"):
        profile(raw, kind="text")


def test_bad_npz_files_say_what_is_wrong(tmp_path):
    np.savez(tmp_path / "no_y.npz", X=np.zeros((30, 5)))
    np.savez(tmp_path / "mismatch.npz", X=np.zeros((30, 5)), y=np.zeros(29))
    for name, message in [("no_y.npz", "needs arrays named X and y"), ("mismatch.npz", "X has 30 samples but y")]:
        result = CliRunner().invoke(app, ["fit", str(tmp_path / name)])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_images_from_npz_search_resnet2d_then_conv2d_and_predict(digits_npz, tmp_path):
    result = autosearch.fit(digits_npz, trials=2, output=tmp_path / "out", **TINY)
    assert result.summary.kind == "image" and result.summary.families == ["resnet2d", "conv2d"]
    assert result.summary.profile["sample_shape"] == [8, 8, 1]
    classical = [("baseline", CLASSICAL[n].family) for n in KINDS[DataKind.IMAGE].baselines]
    assert families_logged(result) == sorted(classical + [("trial", "conv2d"), ("trial", "resnet2d")])
    nets = result.leaderboard[result.leaderboard.kind == "nn"].set_index("family")
    assert {"blocks", "filters", "kernel_size", "conv_type", "pooling", "augment"} <= set(
        json.loads(nets.loc["conv2d", "params"]))
    resnet = json.loads(nets.loc["resnet2d", "params"])
    assert resnet["augment"] is True and resnet["flip"] is False and resnet["stages"] == 3
    new = tmp_path / "new.npz"
    np.savez(new, X=np.load(digits_npz)["X"][:5])
    preds = autosearch.predict(result.bundle_path, new)
    assert len(preds) == 5 and set(preds.prediction) <= set(range(10))


@pytest.mark.slow
def test_image_folder_with_class_subfolders(digits_folder, tmp_path):
    result = autosearch.fit(digits_folder, trials=1, output=tmp_path / "out", baselines="linear", **TINY)
    prof = result.summary.profile
    assert result.summary.kind == "image" and result.summary.target == "class"
    assert prof["image_size"] == [8, 8] and prof["color_mode"] == "grayscale"
    preds = autosearch.predict(result.bundle_path, digits_folder / "3")
    assert list(preds.columns[:2]) == ["file", "prediction"]
    assert preds.file.str.endswith(".png").all() and set(preds.prediction.astype(str)) <= {str(d) for d in range(10)}
    assert (preds.prediction.astype(str) == "3").mean() > 0.5  # every baseline but the dummy reads digits well


@pytest.mark.slow
def test_multivariate_sequences_search_the_series_families(basic_motions_npz, tmp_path):
    result = autosearch.fit(basic_motions_npz, trials=5, output=tmp_path / "out", baselines="linear", **TINY)
    families = ["fcn", "inception", "resnet1d", "rnn", "conv1d"]
    assert result.summary.kind == "sequence" and result.summary.families == families
    assert result.summary.rows["test"] == 40  # the archive's own test split (X_test, y_test)
    nets = result.leaderboard[result.leaderboard.kind == "nn"].sort_values("name")
    # each family's defaults are enqueued, in the kind's order
    assert sorted(nets.name) == sorted(f"{f}-{i:03d}" for i, f in enumerate(families))
    # racing starts at the third: a later trial whose first fold is behind the best third stops there, pruned
    assert set(nets.state) <= {"complete", "pruned"} and (nets.state == "complete").sum() >= 2
    assert set(nets.sort_values("name", key=lambda n: n.str[-3:]).state[:2]) == {"complete"}  # by trial number
    assert all(("trial", f) in families_logged(result) for f in families)
    params = {row.family: json.loads(row.params) for row in nets.itertuples()}
    assert params["fcn"]["filters"] == 128 and params["inception"]["kernel_size"] == 40
    assert params["rnn"]["cell"] == "gru" and {"units_0", "bidirectional", "recurrent_dropout"} <= set(params["rnn"])


def test_nan_padded_steps_become_zeros_with_an_observed_feature(japanese_vowels_npz):
    from autosearch.preprocessing import ArrayFeatures

    X = np.load(japanese_vowels_npz)["X"][:60]
    lengths = (~np.isnan(X).all(axis=-1)).sum(axis=1)
    views = ArrayFeatures("sequence").fit(X).transform(X)
    seq = views["sequence"]
    assert seq.shape == (60, 29, 13) and np.isfinite(seq).all() and np.isfinite(views["vector"]).all()
    assert np.array_equal(seq[..., -1].sum(axis=1), lengths)  # observed: 1 on each real step, 0 on padding
    padded = seq[..., -1] == 0
    assert not seq[padded].any() and seq[~padded].any(axis=-1).all()  # padding all zeros; real steps never
    real = seq[~padded][:, :-1]  # the scaling statistics come from real values only
    np.testing.assert_allclose(real.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(real.std(axis=0), 1, rtol=1e-3)
    gapless = ArrayFeatures("sequence").fit(np.nan_to_num(X)).transform(np.nan_to_num(X))["sequence"]
    assert gapless.shape == (60, 29, 12)  # no gaps in training: no extra feature


@pytest.mark.slow
def test_recurrent_networks_skip_padded_steps():
    from autosearch.models.rnn import build_rnn
    from autosearch.tasks import Task, head_for

    model = build_rnn({"layers": 2, "bidirectional": True, "units": 8}, (None, 3), head_for(Task.MULTICLASS, 3))
    series = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
    padded = np.concatenate([series, np.zeros((2, 7, 3), np.float32)], axis=1)
    np.testing.assert_allclose(model.predict(series, verbose=0), model.predict(padded, verbose=0), atol=1e-5)


@pytest.mark.slow
def test_nan_padded_sequences_train_networks_and_baselines(japanese_vowels_npz, tmp_path):
    result = autosearch.fit(japanese_vowels_npz, trials=2, max_epochs=4, quiet=True, cv_folds=2,
                            output=tmp_path / "out")
    board = result.leaderboard.set_index("name")
    assert result.summary.kind == "sequence" and board.state.eq("complete").all()
    chance = 1 / 9
    nets = board[board.kind == "nn"]
    assert set(nets.family) == {"fcn", "inception"} and (nets.val_score > 3 * chance).all()  # not at chance
    assert board.loc["linear", "val_score"] > 0.8  # imputed, the padded vectors suit the baselines
    arrays = np.load(japanese_vowels_npz)
    np.savez(tmp_path / "unseen.npz", X=arrays["X_test"])
    preds = autosearch.predict(result.bundle_path, tmp_path / "unseen.npz")
    truth = arrays["y_test"]
    assert (preds.prediction.astype(str).to_numpy() == truth).mean() > 0.8


def test_univariate_series_as_a_wide_table_are_sequences(gunpoint_npz, tmp_path):
    arrays = np.load(gunpoint_npz)
    frame = pd.DataFrame(arrays["X"], columns=[f"t{i}" for i in range(150)]).assign(label=arrays["y"])
    prof, data, _, _ = profile(RawData("gunpoint", frame=frame))
    assert prof.kind is DataKind.SEQUENCE and data.features.shape == (50, 150, 1)


@pytest.mark.slow
def test_text_searches_tfidf_then_text_networks_and_tfidf_baselines(topics_csv, tmp_path):
    result = autosearch.fit(topics_csv, trials=2, output=tmp_path / "out", **TINY)
    assert result.summary.kind == "text" and result.summary.families == ["tfidf", "text"]
    assert families_logged(result) == sorted([("baseline", f) for f in ("dummy", "linear", "svm")]
                                             + [("trial", "text"), ("trial", "tfidf")])
    board = result.leaderboard.set_index("name")
    assert json.loads(board.loc["tfidf-000", "params"])["layers"] == 0  # first: a linear model of TF-IDF
    second = json.loads(board.loc["text-001", "params"])
    assert second["architecture"] == "conv1d" and "embedding_dim" in second  # the domain notes' first choice
    assert board.loc["tfidf-000", "val_score"] > 0.7  # two epochs of a linear model read the topics
    best_baseline = result.summary.best_baseline
    assert best_baseline.name in ("linear", "svm") and best_baseline.val_score > 0.7
    preds = autosearch.predict(result.bundle_path, pd.DataFrame({"text": ["What is a python list comprehension?",
                                                                          "I feel so sad and lonely today"]}))
    assert set(preds.prediction) <= {"ai", "coding", "emotion", "psychology", "trivia"}


@pytest.mark.slow
def test_a_text_column_beside_numbers_stays_tabular(topics_mixed_csv, tmp_path):
    result = autosearch.fit(topics_mixed_csv, trials=1, output=tmp_path / "out", baselines="linear", **TINY)
    assert result.summary.kind == "tabular"
    assert result.summary.profile["text"] == ["text"] and result.summary.profile["numeric"] == ["lines"]
    assert result.summary.best_baseline.val_score > 0.7  # the vectorised text carries the topic
