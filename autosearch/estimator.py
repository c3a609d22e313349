"""scikit-learn estimators around `fit`: `AutoSearchClassifier` and `AutoSearchRegressor`.

    from autosearch import AutoSearchClassifier
    model = AutoSearchClassifier(time_budget="2m").fit(X_train, y_train)
    model.predict(X_test), model.leaderboard_

A fit is one autosearch run (a run folder, `run_dir_`, logged to MLflow as the CLI's are) on a table built
from `X` (a DataFrame, or a 2-D array whose columns become x0, x1, …) and `y`; its winner, refitted on all
of `X`, is `best_model_` (a `bundle.Bundle`). The constructor only stores options, so the estimators clone,
go into a `Pipeline` and into `cross_val_score` or `GridSearchCV` as any other. Predictions keep no index:
they are arrays in the rows' order, as scikit-learn's are. `autosearch.load(run_dir)` gives back the
fitted estimator of a run, whichever way it was started.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from autosearch.errors import AutosearchError

TARGET = "target"  # the target column's name when y has none (or one a feature already has)


class _AutoSearch(BaseEstimator):
    """Options are `autosearch fit`'s (see `autosearch.fit`); `output` is the run folder (default: a new one
    under ./autosearch-runs), `quiet` hides the progress lines."""

    _classifies: bool

    def __init__(self, time_budget: str | float | None = None, trials: int | None = None, metric: str | None = None,
                 cv_folds: int | None = None, holdout: bool = False, max_epochs: int | None = None, seed: int = 0,
                 engine: str = "optuna", output: str | Path | None = None, experiment: str | None = None,
                 tracking_uri: str | None = None, baselines: str | tuple | None = None, quiet: bool = True):
        self.time_budget, self.trials, self.metric, self.baselines = time_budget, trials, metric, baselines
        self.cv_folds, self.holdout, self.max_epochs, self.seed = cv_folds, holdout, max_epochs, seed
        self.engine, self.output, self.experiment = engine, output, experiment
        self.tracking_uri, self.quiet = tracking_uri, quiet

    def fit(self, X, y):
        from autosearch.api import run_fit
        from autosearch.config import make_config
        from autosearch.serving.bundle import Bundle

        for fitted in ("feature_names_in_", "classes_"):  # of an earlier fit
            self.__dict__.pop(fitted, None)
        features = _features(X).reset_index(drop=True)  # rows pair with y's by position
        targets = _targets(y, len(features), features.columns)
        options = {k: v for k, v in self.get_params().items() if v is not None}
        if not isinstance(X, pd.DataFrame):  # x0…xN columns: vectors, not one series per row (data/kinds.py)
            options["kind"] = "tabular"
        result = run_fit(pd.concat([features, targets], axis=1),
                         make_config(target=list(targets.columns), task=self._task(targets), **options))
        if result is None:  # only a worker of a shared study gets none; an estimator's run is its own
            raise AutosearchError("the run was joined as a worker; give the estimator an output folder of its own")
        self._fitted(result.output_dir, Bundle.load(result.bundle_path), result.leaderboard)
        self.n_features_in_ = features.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(features.columns, dtype=object)
        return self

    def _fitted(self, run_dir: Path, bundle, leaderboard: pd.DataFrame) -> None:
        self.run_dir_, self.best_model_, self.leaderboard_ = Path(run_dir), bundle, leaderboard
        self.targets_ = list(bundle.profile.targets)
        self.task_ = bundle.profile.task.value
        if self._classifies:
            self.classes_ = np.asarray(bundle.codec.classes_)

    def _task(self, targets: pd.DataFrame) -> str:
        raise NotImplementedError

    def _truth(self, y, rows: int) -> np.ndarray:
        """y in the scoring space: a frame's target columns by name, else by position."""
        frame = _targets(y, rows, pd.Index([]))
        if not set(self.targets_) <= set(frame.columns):
            frame = frame.set_axis(self.targets_, axis=1)
        return self.best_model_.codec.truth(frame[self.targets_])

    def evaluate(self, X, y) -> dict[str, float]:
        """The run's selection metric on (X, y) first, then every other metric of its task (`metrics.py`),
        as AutoGluon's `evaluate` gives them; one undefined on these samples is left out."""
        from autosearch.metrics import every_score

        features = self._table(X)  # first: it checks the estimator is fitted
        bundle = self.best_model_
        scores = bundle.scores(features)
        return every_score(self._truth(y, len(scores)), scores, bundle.profile.task, bundle.meta.metric)

    def leaderboard(self, X=None, y=None) -> pd.DataFrame:
        """The run's leaderboard; given (X, y), also `score`: the run's metric on them for the pick and the
        best network and baseline saved beside it (AutoGluon's `leaderboard(test_data)`), best first."""
        check_is_fitted(self, "best_model_")
        if X is None:
            return self.leaderboard_
        from autosearch.metrics import METRICS, score_or_nan

        features = self._table(X)
        bundle = self.best_model_
        name = bundle.meta.metric
        metric = METRICS[name]
        truth = self._truth(y, len(features))
        scored = {bundle.meta.winner.name: bundle, **bundle.compared()}
        task = bundle.profile.task
        rows = [{"name": n, "pick": n == bundle.meta.winner.name,
                 "score": score_or_nan(metric, truth, b.scores(features), task)} for n, b in scored.items()]
        frame = pd.DataFrame(rows).merge(self.leaderboard_[["name", "kind", "family", "val_score"]], on="name",
                                         how="left") if self.leaderboard_ is not None else pd.DataFrame(rows)
        frame = frame.sort_values("score", ascending=not metric.greater_is_better, ignore_index=True)
        return frame.rename(columns={"score": name})

    def feature_importance(self, X, y, n_repeats: int = 5, seed: int = 0, metric: str | None = None) -> pd.DataFrame:
        """How much the score drops when a feature's values are shuffled (scikit-learn's
        `permutation_importance`), most important first: `importance` (the mean drop, in the metric's units)
        and `std`. The score is `score`'s (accuracy or R²), or `metric` (one of `metrics.py`'s)."""
        from autosearch.serving.inspection import importance_frame

        scoring = None
        if metric is not None:
            from autosearch.metrics import METRICS

            chosen, sign = METRICS[metric], 1.0 if METRICS[metric].greater_is_better else -1.0

            def scoring(estimator, X, y):
                scores = estimator.best_model_.scores(estimator._table(X))
                return sign * chosen(estimator._truth(y, len(scores)), scores, estimator.best_model_.profile.task)

        names = X.columns if isinstance(X, pd.DataFrame) else \
            getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])
        return importance_frame(self, X, y, scoring, n_repeats, seed, names)

    def _table(self, X) -> pd.DataFrame | np.ndarray:
        """X as the fitted model reads it: columns by name (a DataFrame: the model's must be among them) or by
        position (an array: as many as were fitted)."""
        check_is_fitted(self, "best_model_")
        if self.best_model_.profile.kind.value in ("image", "sequence") and not isinstance(X, pd.DataFrame):
            return np.asarray(X)  # images or series as arrays: samples as they are
        columns = list(getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)]))
        features = _features(X, columns)
        if not isinstance(X, pd.DataFrame) and features.shape[1] != self.n_features_in_:  # a frame: by name
            raise ValueError(f"X has {features.shape[1]} features, but {type(self).__name__} is expecting "
                             f"{self.n_features_in_} features as input")
        return features.reset_index(drop=True)

    def _predictions(self, X) -> pd.DataFrame:
        features = self._table(X)  # first: it checks the estimator is fitted
        return self.best_model_.predict(features)


class AutoSearchClassifier(ClassifierMixin, _AutoSearch):
    """Binary, multiclass or multilabel (y with one 0/1 column per label) classification; `score` is
    accuracy (scikit-learn's), `classes_` the labels in `predict_proba`'s column order."""

    _classifies = True

    def _task(self, targets: pd.DataFrame) -> str:
        if targets.shape[1] > 1:
            return "multilabel"
        return "binary" if targets.iloc[:, 0].nunique() == 2 else "multiclass"

    def predict(self, X) -> np.ndarray:
        frame = self._predictions(X)
        if self.task_ == "multilabel":
            return frame[[str(c) for c in self.classes_]].to_numpy()
        return frame["prediction"].to_numpy()

    def predict_proba(self, X) -> np.ndarray:
        frame = self._predictions(X)
        return frame[[f"proba_{c}" for c in self.classes_]].to_numpy(dtype=np.float64)


class AutoSearchRegressor(RegressorMixin, _AutoSearch):
    """Regression of one target (y 1-D) or several (y 2-D); `score` is R² (scikit-learn's)."""

    _classifies = False

    def _task(self, targets: pd.DataFrame) -> str:
        return "regression"

    def predict(self, X) -> np.ndarray:
        frame = self._predictions(X)
        out = frame.filter(regex="^prediction").to_numpy(dtype=np.float64)
        return out[:, 0] if out.shape[1] == 1 else out


def load(run_dir: str | Path, tracking_uri: str | None = None) -> AutoSearchClassifier | AutoSearchRegressor:
    """The fitted estimator of the run in `run_dir` (a `fit`'s output folder, from the CLI or Python), or of
    the model at an MLflow model URI (`models:/NAME@champion`, `runs:/<run id>/model`) in the store at
    `tracking_uri` (default: MLflow's)."""
    from autosearch.config import RunConfig
    from autosearch.runs import RunState
    from autosearch.serving.bundle import Bundle, is_model_uri

    if is_model_uri(run_dir):
        from autosearch.serving.mlflow_model import load_bundle
        return estimator_of(load_bundle(str(run_dir), tracking_uri))
    run_dir = Path(run_dir)
    if not (run_dir / "model").is_dir():
        raise AutosearchError(f"'{run_dir}' holds no fitted model (no model/ folder); pass the output folder "
                              "of a finished fit")
    state = RunState.load(run_dir)
    config = RunConfig.from_dict(state.config) if state is not None else None
    options = {} if config is None else {
        "time_budget": config.time_budget, "trials": config.trials, "metric": config.metric,
        "cv_folds": config.cv_folds, "holdout": config.holdout, "max_epochs": config.max_epochs,
        "seed": config.seed, "engine": config.engine, "quiet": config.quiet}  # a refit writes a run of its own
    leaderboard = pd.read_csv(run_dir / "leaderboard.csv") if (run_dir / "leaderboard.csv").is_file() else None
    return estimator_of(Bundle.load(run_dir / "model"), run_dir, leaderboard, **options)


def estimator_of(bundle, run_dir: Path | None = None, leaderboard: pd.DataFrame | None = None,
                 **options) -> AutoSearchClassifier | AutoSearchRegressor:
    """A fitted estimator serving `bundle` (a loaded or just-saved `bundle.Bundle`)."""
    classifier = bundle.profile.task.value != "regression"
    estimator = (AutoSearchClassifier if classifier else AutoSearchRegressor)(**options)
    estimator._fitted(Path(run_dir or Path(bundle.folder).parent), bundle, leaderboard)
    names = list(bundle.profile.columns)  # the data's feature columns, in order (none: an .npz's arrays)
    estimator.n_features_in_ = len(names) or len(bundle.profile.features) or bundle.profile.n_columns
    if names and names != [f"x{i}" for i in range(len(names))]:
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    return estimator


def _features(X, columns: list[str] | None = None) -> pd.DataFrame:
    """X as a table: a DataFrame as it is (a Series as one column), a 2-D array's columns named `columns` or
    x0, x1, …"""
    if isinstance(X, pd.Series):
        X = X.to_frame()
    if isinstance(X, pd.DataFrame):
        return X.rename(columns=str)
    if hasattr(X, "toarray"):
        X = X.toarray()  # scipy sparse
    array = np.asarray(X)
    if array.ndim == 1:
        raise ValueError("Expected 2D array, got 1D array instead: reshape it with X.reshape(-1, 1) for one "
                         "feature, or X.reshape(1, -1) for one sample")
    if array.ndim != 2:
        raise ValueError(f"Expected 2D array, got {array.ndim}D array instead; for images or series, save them "
                         "as an .npz and use autosearch.fit(path)")
    names = columns if columns is not None and len(columns) == array.shape[1] else \
        [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def _targets(y, rows: int, features: pd.Index) -> pd.DataFrame:
    """y as target columns, in X's row order (positions, not index labels, as scikit-learn pairs them)."""
    if isinstance(y, pd.DataFrame):
        frame = y.rename(columns=str).reset_index(drop=True)
    else:
        values = np.asarray(y)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else TARGET
        frame = pd.DataFrame({name: values}) if values.ndim == 1 else \
            pd.DataFrame(values, columns=[f"{TARGET}_{i}" for i in range(values.shape[1])])
    if len(frame) != rows:
        raise ValueError(f"X has {rows} samples and y has {len(frame)}; give one target per sample")
    clash = set(frame.columns) & set(features)
    return frame.rename(columns={c: f"{c}_" for c in clash})

