"""The pick as an MLflow Model: logged on the fit's parent run, registered under a name with the `champion` or
`challenger` alias, and read back from a model URI (`models:/NAME@champion`, `runs:/<run id>/model`).

The model is MLflow's `pyfunc` flavour from code (`pyfunc_model.py` wraps the bundle, which travels as the
model's artifact), so `mlflow.pyfunc.load_model` and `mlflow models serve` give what `autosearch predict` gives.
"""

from __future__ import annotations

import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from autosearch.errors import AutosearchError, describe
from autosearch.redact import redact
from autosearch.serving.bundle import Bundle, UnseenCategoryWarning, versions

MODEL_NAME = "model"  # runs:/<parent run id>/model
CODE = Path(__file__).with_name("pyfunc_model.py")
EXAMPLE_ROWS = 5  # the input example kept with the model (the dashboard shows it; `serve` can check it)
SCHEMA_ROWS = 10_000  # the rows the signature is inferred from: enough to see which columns miss values
# Pinned in the model's requirements.txt: the libraries it loads with. Not autosearch itself: the name on PyPI is
# another project's, so the model is served where autosearch is installed (docs/guide/serving.md, "Serve it").
SERVED_WITH = ("mlflow", "keras", "tensorflow", "scikit-learn", "skops", "scipy", "statsmodels", "numpy",
              "pandas")
CHAMPION, CHALLENGER = "champion", "challenger"
TRACKING_VARIABLE = "MLFLOW_TRACKING_URI"
# What a registered version records to be compared with the champion (`choose_alias`): the same data (file
# SHA-256), target and task, scored the same way (metric; the test split held out, and the folds and seed, fix
# which samples score which candidate).
SAME_SEARCH = ("autosearch.metric", "autosearch.data_sha256", "autosearch.targets", "autosearch.task",
               "autosearch.test", "autosearch.validation")


@contextmanager
def _tracking(uri: str | None) -> Iterator[None]:
    """MLflow's model functions read the process-wide tracking URI: set it to `uri` for a while (None: leave it
    as it is), then put back both MLflow's setting and $MLFLOW_TRACKING_URI, which `set_tracking_uri` also
    writes (and deletes when unset)."""
    if uri is None:
        yield
        return
    from mlflow.tracking._tracking_service import utils

    setting, variable = utils._tracking_uri, os.environ.get(TRACKING_VARIABLE)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(setting)
        if variable is None:
            os.environ.pop(TRACKING_VARIABLE, None)
        else:
            os.environ[TRACKING_VARIABLE] = variable


def requirements() -> list[str]:
    """What the model needs where it loads, at the versions it was fitted with (MLflow infers them in a
    subprocess otherwise: seconds per model)."""
    found = versions()
    return [f"{name}=={found[name]}" for name in SERVED_WITH if name in found]


def _plain(samples: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
    """Pandas' categorical columns as their values: MLflow's schema has no categorical type, and its check of
    the input example failed on one (a Parquet file's dictionary-encoded column)."""
    if not isinstance(samples, pd.DataFrame):
        return samples
    return samples.astype({c: object for c in samples.columns if isinstance(samples[c].dtype, pd.CategoricalDtype)})


def _head(features: pd.DataFrame | np.ndarray, rows: int) -> pd.DataFrame | np.ndarray:
    return _plain(features.head(rows) if isinstance(features, pd.DataFrame) else features[:rows])


@dataclass(frozen=True)
class LoggedModel:
    model_id: str
    uri: str  # models:/<model id>
    run_uri: str  # runs:/<parent run id>/model
    seconds: float


def log_pick(tracking_uri: str, run_id: str, bundle: Path, features: pd.DataFrame | np.ndarray,
             example: pd.DataFrame | np.ndarray, example_predictions: pd.DataFrame, test_scores: Mapping[str, float],
             tags: Mapping[str, str]) -> LoggedModel:
    """Log the bundle in `bundle` as the MLflow Model of the parent run `run_id`.

    The signature's input schema is inferred from up to SCHEMA_ROWS `features` (samples as `fit` read them),
    its output schema from `example_predictions`, the bundle's output for `example` (kept with the model as
    its input example). `test_scores` (every metric of the task on the test split) are logged on the run,
    linked to the model, so the model's page in the dashboard shows them."""
    from mlflow.models import Model, infer_signature

    started = time.monotonic()
    client = MlflowClient(tracking_uri)
    experiment_id = client.get_run(run_id).info.experiment_id
    model = client.create_logged_model(experiment_id, name=MODEL_NAME, source_run_id=run_id,
                                       tags={k: str(v) for k, v in tags.items()})
    with warnings.catch_warnings():  # MLflow's hint that integer columns hold no missing value (docs/guide/serving.md)
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(_head(features, SCHEMA_ROWS), example_predictions)
    with _tracking(tracking_uri), warnings.catch_warnings():
        # MLflow predicts the input example to check the model: a category those rows hold and training did not
        # is the user's business when they predict, not while the model is logged
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        Model.log(None, flavor=mlflow.pyfunc, name=MODEL_NAME, run_id=run_id, model_id=model.model_id,
                  python_model=str(CODE), artifacts={"bundle": str(bundle)}, signature=signature,
                  input_example=_plain(example), pip_requirements=requirements())
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"test_{name}", float(value), now, 0, model_id=model.model_id)
                                      for name, value in test_scores.items()])
    return LoggedModel(model.model_id, f"models:/{model.model_id}", f"runs:/{run_id}/{MODEL_NAME}",
                       time.monotonic() - started)


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    alias: str
    why: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def choose_alias(facts: Mapping[str, str], champion: Mapping[str, str] | None, greater_is_better: bool,
                 champion_version: str | None = None) -> tuple[str, str]:
    """`champion` or `challenger` for a new version with `facts` (its tags), and why. A version becomes the
    champion when there is none, or when its validation score (the one that chose it: out-of-fold where
    cross-validated) beats the champion's on the same data scored the same way (SAME_SEARCH); the test split
    never chooses. A version of other data or another metric is a challenger: compare them and promote it
    yourself.

    >>> new = {"autosearch.metric": "rmse", "autosearch.data_sha256": "ab", "autosearch.validation": "5-fold seed 0",
    ...        "autosearch.val_score": "2.5"}
    >>> choose_alias(new, None, False)
    ('champion', 'the first version')
    >>> choose_alias(new, {**new, "autosearch.val_score": "3.0"}, False, "1")
    ('champion', 'validation rmse 2.5000 is better than the champion version 1 (3.0000)')
    >>> choose_alias(new, {**new, "autosearch.val_score": "2.0"}, False, "1")[0]
    'challenger'
    >>> choose_alias(new, {**new, "autosearch.data_sha256": "cd"}, False, "1")[1]
    'the champion version 1 was scored on other data or another metric: compare them before promoting this one'
    """
    if champion is None:
        return CHAMPION, "the first version"
    if any(champion.get(key) != facts.get(key) for key in SAME_SEARCH):
        return CHALLENGER, (f"the champion version {champion_version} was scored on other data or another metric: "
                            "compare them before promoting this one")
    mine, theirs, metric = (float(facts["autosearch.val_score"]), float(champion["autosearch.val_score"]),
                            facts["autosearch.metric"])
    better = mine > theirs if greater_is_better else mine < theirs
    relation = "better than" if better else "not better than"
    return (CHAMPION if better else CHALLENGER,
            f"validation {metric} {mine:.4f} is {relation} the champion version {champion_version} ({theirs:.4f})")


def register(tracking_uri: str, name: str, logged: LoggedModel, run_id: str, facts: Mapping[str, Any],
             greater_is_better: bool, description: str = "") -> Registered:
    """Register the logged model as a new version of `name` (made if new) with `facts` as its tags, and give
    it the alias `choose_alias` picks."""
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    facts = {k: str(v) for k, v in facts.items() if v is not None}
    try:
        with _tracking(tracking_uri):  # the version's source, models:/<model id>, is looked up in MLflow's store
            if not _exists(client, name):
                client.create_registered_model(name, description="Models found by autosearch.")
            try:
                current = client.get_model_version_by_alias(name, CHAMPION)
            except MlflowException:
                current = None
            version = client.create_model_version(name, source=logged.uri, run_id=run_id, tags=facts,
                                                  description=description, model_id=logged.model_id)
        alias, why = choose_alias(facts, current and current.tags, greater_is_better, current and current.version)
        client.set_registered_model_alias(name, alias, version.version)
    except MlflowException as error:
        raise AutosearchError(f"the model registry at {redact(tracking_uri)} refused '{name}' "
                              f"({describe(error, 300)}); the model is logged as {logged.run_uri}") from None
    return Registered(name, str(version.version), alias, why)


def _exists(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return False
    return True


def load_bundle(uri: str, tracking_uri: str | None = None) -> Bundle:
    """The bundle inside the autosearch model at an MLflow model URI (`models:/NAME@alias`, `models:/NAME/3`,
    `runs:/<run id>/model`), from the tracking store of `tracking_uri` (default: MLflow's). The model's files
    are downloaded and its bundle read as a folder's, with the same checks; none of the model's code runs
    (`mlflow.pyfunc.load_model` would run its python_model.py)."""
    with _tracking(tracking_uri):
        where = redact(mlflow.get_tracking_uri())
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        except (MlflowException, OSError) as error:
            raise AutosearchError(f"cannot load {uri} from MLflow at {where} ({describe(error, 300)}); check the "
                                  "name and alias or version (the dashboard's Models page) and --tracking-uri") \
                from None
    bundle = _bundle_path(local)
    if bundle is None:
        raise AutosearchError(f"{uri} is not a model autosearch logged; predict with mlflow.pyfunc.load_model")
    return Bundle.load(bundle)


def _bundle_path(model: Path) -> Path | None:
    """The bundle folder of a downloaded autosearch model (its pyfunc flavour's `bundle` artifact), if it is one."""
    import yaml

    try:
        flavour = yaml.safe_load((model / "MLmodel").read_text())["flavors"]["python_function"]
        path = model / flavour["artifacts"]["bundle"]["path"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    ours = Path(str(flavour.get("model_code_path", ""))).name == CODE.name  # logged from pyfunc_model.py
    return path if ours and path.is_dir() else None
