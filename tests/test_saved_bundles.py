"""Bundles saved by earlier releases keep loading: `tests/data/bundle-<commit>/` holds one saved by that commit
(penguins, the linear model the pick, a dense network compared beside it) with its predictions of a few rows, and
the code an MLflow Model logged by fb209df runs to load its bundle (before `autosearch.serving`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autosearch.errors import AutosearchError
from autosearch.serving.bundle import Bundle, BundleMeta

SAVED = Path(__file__).parent / "data" / "bundle-3191f7e"  # before metadata.json was read as a BundleMeta


def test_a_bundle_saved_by_an_earlier_release_loads_and_predicts_as_it_did():
    bundle = Bundle.load(SAVED / "model")
    meta = bundle.meta
    assert meta.winner.name == "linear" and meta.winner.kind == "baseline" and meta.metric == "balanced_accuracy"
    assert meta.classes == ("Adelie", "Chinstrap", "Gentoo") and meta.targets == ("species",)
    assert [m["name"] for m in meta.compared] == ["dense-000"] and [m.name for m in bundle.members] == ["linear"]
    assert BundleMeta.from_dict(meta.as_dict()) == meta  # metadata.json round-trips
    predicted = bundle.predict(pd.read_csv(SAVED / "rows.csv"))
    expected = pd.read_csv(SAVED / "predictions.csv")
    assert predicted.prediction.tolist() == expected.prediction.tolist()
    np.testing.assert_allclose(predicted.filter(like="proba_").to_numpy(), expected.filter(like="proba_").to_numpy(),
                               atol=1e-6)


def test_metadata_that_lost_a_key_is_refused_with_one_line(tmp_path):
    model = Path(shutil.copytree(SAVED / "model", tmp_path / "model"))
    meta = json.loads((model / "metadata.json").read_text())
    del meta["winner"]
    (model / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(AutosearchError, match=r"metadata.json' is damaged \(KeyError: 'winner'\)"):
        Bundle.load(model)


def test_an_mlflow_model_logged_before_the_serving_package_loads_and_predicts_as_it_did(tmp_path):
    """Its copy of pyfunc_model.py imports `autosearch.bundle`, where `Bundle` lived then."""
    import mlflow.pyfunc

    code = SAVED / "pyfunc_model-fb209df.py"
    assert "from autosearch.bundle import Bundle" in code.read_text()
    mlflow.pyfunc.save_model(tmp_path / "logged", python_model=str(code), artifacts={"bundle": str(SAVED / "model")})
    predicted = mlflow.pyfunc.load_model(str(tmp_path / "logged")).predict(pd.read_csv(SAVED / "rows.csv"))
    expected = pd.read_csv(SAVED / "predictions.csv")
    assert predicted.prediction.tolist() == expected.prediction.tolist()
