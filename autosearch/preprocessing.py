"""Turning samples into model inputs, fitted on training samples only (scikit-learn and Keras transformers).

A fitted preprocessor maps samples to *views*: named arrays, one per representation a model may take.

| kind     | views                                                                        |
| -------- | ---------------------------------------------------------------------------- |
| tabular  | ``vector`` (imputed, scaled, one-hot; free text as TF-IDF; dates as numbers) |
|          | ``table``: ``vector`` then one integer code per high-cardinality categorical   |
|          | column, for networks that embed them (the same array when there are none)     |
|          | ``quantile_vector``, ``quantile_table``: the same with the numeric columns     |
|          | quantile-normalised instead (networks' ``scaling: quantile``)                  |
| image    | ``image`` (N, H, W, C) standardised per channel; ``vector`` (flattened,     |
|          | also as ``table``: a dense network's view, see above)                         |
| sequence | ``sequence`` (N, T, F) standardised per feature, NaN → 0 (+ ``observed``  |
|          | feature when training series have gaps); ``vector`` (flattened)              |
| text     | ``tokens`` (word ids) and ``ngrams`` (TF-IDF of 1-2-grams) from Keras'        |
|          | TextVectorization; ``tfidf`` (scikit-learn, sparse) for the baselines        |
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    QuantileTransformer,
    StandardScaler,
)

MAX_CATEGORIES = 20  # one-hot columns per categorical feature; rarer values share an "infrequent" column
TEXT_COLUMN_FEATURES = 300  # TF-IDF columns per free-text column of a table
MAX_TOKENS = 20000  # vocabulary of the token view
MAX_NGRAMS = 10000  # vocabulary of the n-gram view, which is dense (samples x n-grams floats)…
NGRAM_VIEW_FLOATS = 250_000_000  # …so fewer n-grams for large corpora: the view stays under ~1 GB
SEQUENCE_LENGTH = (8, 300)  # bounds on the token view's length (the 95th percentile of document lengths)
NUMERIC_BINS = 48  # quantile bins per numeric column for piecewise-linear embeddings (TabM's default)
BIN_ROWS = 100_000  # rows their edges are computed from
QUANTILE_ROWS = 30  # training rows per quantile of the quantile-normal scaling (TabM's: 10 to 1,000 quantiles)
MIN_CATEGORY_ROWS = 3  # a high-cardinality column's value rarer than this shares one code with the other rare ones
UNSEEN, MISSING = -1, -2  # the ordinal encoder's codes for them, before `TableFeatures._codes` maps them

Views = dict[str, Any]


def _as_text(X):
    """Categorical values as strings (missing stays missing), so mixed types one-hot cleanly."""
    frame = pd.DataFrame(X)
    return frame.astype(str).astype(object).where(frame.notna(), np.nan)


def _fill_text(column):
    return pd.Series(column).fillna("").astype(str)


DATE_PARTS = ("year", "month", "day", "weekday", "hour", "days")  # per date column, as numbers


def _date_parts(X, day_first=()) -> np.ndarray:
    """Each date column as DATE_PARTS: its calendar parts, the hour of the day (with minutes as a fraction; 0
    for dates without times) and the days since 1970 (the trend); NaN where a value is missing or no date.
    `day_first`: per column, whether its slash dates are day/month/year.

    >>> _date_parts(pd.DataFrame({"d": ["2024-03-01 06:30", None]})).round(2).tolist()[0]
    [2024.0, 3.0, 1.0, 4.0, 6.5, 19783.27]
    >>> _date_parts(pd.DataFrame({"d": ["9999-12-31"]})).round(0).tolist()  # "no end date", as systems write it
    [[9999.0, 12.0, 31.0, 4.0, 0.0, 2932896.0]]
    """
    from autosearch.data.dates import timestamps

    parts = []
    frame = pd.DataFrame(X)
    for column, first in zip(frame.columns, list(day_first) or [False] * frame.shape[1]):
        stamps = timestamps(frame[column], first)
        t = stamps.dt
        since = stamps - pd.Timestamp(0).as_unit("s")  # in the stamps' unit: nanoseconds end in 2262
        parts += [t.year, t.month, t.day, t.day_of_week, t.hour + t.minute / 60, since.dt.total_seconds() / 86400]
    return np.column_stack([p.to_numpy(dtype=np.float64, na_value=np.nan) for p in parts])


def _documents(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """One string per sample: the text columns joined."""
    return frame[list(columns)].fillna("").astype(str).agg(" ".join, axis=1).to_numpy()


def quantile_edges(X: np.ndarray, bins: int = NUMERIC_BINS) -> list[list[float]]:
    """Per column, the distinct edges of `bins` equal-count bins, each edge a value the column takes: fewer
    bins where values repeat (a 0/1 column has one bin, a constant column none), as piecewise-linear
    embeddings read them (`models.layers.PiecewiseLinearEmbedding`).

    >>> quantile_edges(np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]]), bins=2)
    [[0.0, 2.0, 4.0], [1.0]]
    """
    quantiles = np.linspace(0.0, 1.0, bins + 1)
    return [np.unique(np.quantile(column, quantiles, method="inverted_cdf")).tolist() for column in X.T]


def _wanted(views: Collection[str] | None, *names: str) -> bool:
    """Whether a transform asked for `views` (None: all of them) must make any of `names`."""
    return views is None or not set(names).isdisjoint(views)


def _only(made: Views, views: Collection[str] | None) -> Views:
    return made if views is None else {name: made[name] for name in views if name in made}


class TableFeatures(BaseEstimator, TransformerMixin):
    """Numeric: median imputation with missing-indicators, standard scaling. Categorical: one-hot.
    Free text: TF-IDF of words and word pairs. Dates: `DATE_PARTS` as numbers (`_date_parts`), median
    imputation with missing-indicators, standard scaling, after the other columns.

    The quantile views hold the numeric columns quantile-normalised instead (scikit-learn's
    `QuantileTransformer` to a normal distribution, one quantile per `QUANTILE_ROWS` rows as TabM's code
    does): heavy tails and outliers squeezed, and a value beyond the training rows' range read as their
    extreme. Networks search it (`scaling: quantile`); the baselines read the standard-scaled view.

    The vector view starts with the numeric columns (in `numeric_bins_`'s order: one list of bin edges per
    column, fitted on these rows), then their missing-indicators, the one-hot and the TF-IDF columns: what
    networks embed number by number is the first `len(numeric_bins_)` columns (`model_facts_`).

    One-hot has at most `MAX_CATEGORIES` columns per categorical column: its most frequent values, and one
    column for all the others. A column with more values (a high-cardinality one: a neighbourhood, a product
    model) also gets an integer code per value in the table view, after the vector's columns: 0 for missing,
    one code per value seen in `MIN_CATEGORY_ROWS` rows or more, and one shared by the rarer values and by
    values unseen in training, so a network can learn an embedding of each (`category_sizes_`: the number
    of codes of each such column).
    """

    @classmethod
    def from_profile(cls, profile) -> TableFeatures:
        return cls(profile.numeric, profile.categorical, profile.text, profile.dates)

    def __init__(self, numeric=(), categorical=(), text=(), dates=()):
        self.numeric, self.categorical, self.text, self.dates = numeric, categorical, text, dates

    def fit(self, X: pd.DataFrame, y=None) -> TableFeatures:
        parts = [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                                  ("scale", StandardScaler())]), list(self.numeric)),
            ("categorical", Pipeline([
                ("text", FunctionTransformer(_as_text, feature_names_out="one-to-one")),
                ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES,
                                         sparse_output=False)),
            ]), list(self.categorical)),
        ]
        parts += [(f"text_{col}", Pipeline([("fill", FunctionTransformer(_fill_text)), ("tfidf", TfidfVectorizer(
            max_features=TEXT_COLUMN_FEATURES, ngram_range=(1, 2), sublinear_tf=True))]), col) for col in self.text]
        if self.dates:
            from autosearch.data.dates import day_first

            first = [day_first(X[col]) for col in self.dates]  # decided on the training rows, kept for predict
            parts.append(("dates", Pipeline([("parts", FunctionTransformer(_date_parts, kw_args={"day_first": first})),
                                             ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                                             ("scale", StandardScaler())]), list(self.dates)))
        self.columns_ = ColumnTransformer(parts, sparse_threshold=0.0).fit(X)
        # the numeric columns that made it to the view: all-missing ones are dropped (none fitted: no columns)
        numeric = self.columns_.named_transformers_["numeric"]
        statistics = getattr(numeric.named_steps["impute"], "statistics_", [])
        kept = int((~np.isnan(np.asarray(statistics, dtype=float))).sum())
        self.numeric_bins_ = []
        self.quantiles_, self.quantile_bins_ = None, []
        if kept:  # bins of the scaled values, from at most BIN_ROWS rows (quantiles settle long before)
            rows = X.iloc[np.random.default_rng(0).permutation(len(X))[:BIN_ROWS]]
            scaled = numeric.transform(rows[list(self.numeric)])[:, :kept]
            self.numeric_bins_ = quantile_edges(scaled)
            self.quantiles_ = QuantileTransformer(
                n_quantiles=int(np.clip(len(rows) // QUANTILE_ROWS, 10, 1000)), output_distribution="normal",
                subsample=None, random_state=0).fit(scaled)  # standard scaling first changes no quantile
            self.quantile_bins_ = quantile_edges(self.quantiles_.transform(scaled))
        wide = [col for col in self.categorical if X[col].nunique() > MAX_CATEGORIES]
        self.codes_ = None
        self.category_sizes_, self.other_codes_ = [], []
        if wide:
            self.codes_ = ColumnTransformer([("codes", Pipeline([
                ("text", FunctionTransformer(_as_text, feature_names_out="one-to-one")),
                ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNSEEN,
                                           encoded_missing_value=MISSING, min_frequency=MIN_CATEGORY_ROWS)),
            ]), wide)]).fit(X)
            encoder = self.codes_.named_transformers_["codes"].named_steps["ordinal"]
            for known, rare in zip(encoder.categories_, encoder.infrequent_categories_):
                frequent = len(known) - int(pd.isna(known).sum()) - (0 if rare is None else len(rare))
                # code 0: missing; 1…frequent; then the rare values', which unseen ones share (without rare: 0)
                self.other_codes_.append(0 if rare is None else frequent + 1)
                self.category_sizes_.append(frequent + 1 + (rare is not None))
        return self

    def _codes(self, X: pd.DataFrame) -> np.ndarray:
        """The high-cardinality columns' codes: 0 missing, then one per frequent value, then the rare ones'."""
        codes = self.codes_.transform(X)
        other = np.asarray(self.other_codes_, dtype=codes.dtype)
        return np.where(codes == MISSING, 0, np.where(codes == UNSEEN, other, codes + 1))

    @property
    def model_facts_(self) -> dict[str, Any]:
        return {"numeric_bins": self.numeric_bins_, "quantile_bins": getattr(self, "quantile_bins_", []),
                "category_sizes": getattr(self, "category_sizes_", [])}

    def undated(self, X: pd.DataFrame) -> dict[str, list[str]]:
        """For each date column, the values in X (missing ones aside) that are no dates: read as missing."""
        from autosearch.data.dates import timestamps

        found = {}
        for col in getattr(self, "dates", ()):
            bad = X[col][X[col].notna() & timestamps(X[col]).isna()]
            if len(bad):
                found[col] = sorted({str(v) for v in bad})
        return found

    def unseen(self, X: pd.DataFrame) -> dict[str, list[str]]:
        """For each categorical column, the values in X that training never saw (missing ones aside): the
        encoder reads them as an unknown category."""
        if not self.categorical:
            return {}
        encoder = self.columns_.named_transformers_["categorical"].named_steps["onehot"]
        found = {}
        for col, known in zip(self.categorical, encoder.categories_):
            new = {str(v) for v in X[col].dropna().unique()}.difference(known)  # as text, as `_as_text` reads them
            if new:
                found[col] = sorted(new)
        return found

    def transform(self, X: pd.DataFrame, views: Collection[str] | None = None) -> Views:
        """Every view, or only those named in `views` (serving a pick makes what its members read, no more)."""
        vector = np.asarray(self.columns_.transform(X), dtype=np.float32)
        made = {"vector": vector}
        if getattr(self, "quantiles_", None) is not None and _wanted(views, "quantile_vector", "quantile_table"):
            kept = len(self.numeric_bins_)
            made["quantile_vector"] = np.concatenate(
                [self.quantiles_.transform(vector[:, :kept]).astype(np.float32), vector[:, kept:]], axis=1)
        codes = None
        if getattr(self, "codes_", None) is not None and _wanted(views, "table", "quantile_table"):
            codes = self._codes(X).astype(np.float32)
        for name in list(made):  # with codes: a table view after each vector view; without: the same array
            made[name.replace("vector", "table")] = (made[name] if codes is None
                                                     else np.concatenate([made[name], codes], axis=1))
        return _only(made, views)


class ArrayFeatures(BaseEstimator, TransformerMixin):
    """Images or sequences standardised along the last axis (per channel / per feature).

    Missing values (NaN: variable-length series padded at the end, gaps in a recording) are left out of
    the scaling statistics and become 0, the feature's mean. When the training samples have any, sequences
    get one more feature, ``observed`` (1 where a step has any value, 0 where it has none), so a padded
    step is all zeros: recurrent networks mask those steps (`models.rnn`), convolutions and the baselines
    see the indicator.
    """

    @classmethod
    def from_profile(cls, profile) -> ArrayFeatures:
        return cls(profile.kind.value)

    def __init__(self, view: str = "image"):
        self.view = view

    def fit(self, X: np.ndarray, y=None) -> ArrayFeatures:
        X = np.asarray(X, dtype=np.float32)
        self.scaler_ = StandardScaler().fit(X.reshape(-1, X.shape[-1]))  # NaN: left out of mean and variance
        self.gaps_ = self.view == "sequence" and bool(np.isnan(X).any())
        return self

    def transform(self, X: np.ndarray, views: Collection[str] | None = None) -> Views:
        X = np.asarray(X, dtype=np.float32)
        scaled = self.scaler_.transform(X.reshape(-1, X.shape[-1])).reshape(X.shape).astype(np.float32)
        missing = np.isnan(scaled)
        if missing.any():
            scaled[missing] = 0.0
        if getattr(self, "gaps_", False):
            observed = (~missing.all(axis=-1, keepdims=True)).astype(np.float32)
            scaled = np.concatenate([scaled, observed], axis=-1)
        vector = scaled.reshape(len(X), -1)  # also as a table view, as dense networks may ask
        return _only({self.view: scaled, "vector": vector, "table": vector}, views)


class WindowFeatures(BaseEstimator, TransformerMixin):
    """Windows of series to forecast from (data/forecast.py): the target channel as the windows hold it (already
    in its series' units, relative to the window's last value), the other channels (covariates, then `cycles`
    calendar phases as sine and cosine) standardised. Steps before a series begins (NaN) become 0 and, where
    training windows have any, a last channel ``observed`` marks the steps that are there.

    Views: ``sequence``, the windows (samples, lookback, channels); ``vector``, what the dense networks and the
    classical candidates read: the target's `lookback` values first (the common-sense forecasts, naive.py, read
    them there), then each covariate's, the last step's calendar phases and the observed marks."""

    @classmethod
    def from_profile(cls, profile) -> WindowFeatures:
        spec = profile.forecast
        return cls(spec.lookback, spec.season, spec.horizon, len(spec.calendar))

    def __init__(self, lookback: int = 1, season: int = 1, horizon: int = 1, cycles: int = 0):
        self.lookback, self.season, self.horizon, self.cycles = lookback, season, horizon, cycles

    def fit(self, X: np.ndarray, y=None) -> WindowFeatures:
        X = np.asarray(X, dtype=np.float32)
        self.scaler_ = StandardScaler().fit(X[..., 1:].reshape(-1, X.shape[-1] - 1)) if X.shape[-1] > 1 else None
        self.gaps_ = bool(np.isnan(X[..., 0]).any())
        return self

    @property
    def model_facts_(self) -> dict[str, Any]:
        return {"layout": (self.lookback, self.season, self.horizon)}

    def transform(self, X: np.ndarray, views: Collection[str] | None = None) -> Views:
        X = np.array(X, dtype=np.float32)
        if self.scaler_ is not None:
            X[..., 1:] = self.scaler_.transform(X[..., 1:].reshape(-1, X.shape[-1] - 1)).reshape(X[..., 1:].shape)
        observed = (~np.isnan(X[..., :1])).astype(np.float32)
        X = np.nan_to_num(X, nan=0.0)
        if self.gaps_:
            X = np.concatenate([X, observed], axis=-1)
        made: Views = {"sequence": X}
        if _wanted(views, "vector"):
            calendar = X.shape[-1] - 2 * self.cycles - int(self.gaps_)
            steps = [X[:, :, c] for c in range(calendar)] + ([observed[..., 0]] if self.gaps_ else [])
            made["vector"] = np.concatenate(steps + [X[:, -1, calendar:calendar + 2 * self.cycles]], axis=1)
        return _only(made, views)


VECTORIZER_SETTINGS = ("max_tokens", "output_mode", "output_sequence_length", "ngrams")


def _vectorizer_state(layer) -> dict[str, Any]:
    settings = layer.get_config()
    idf = None
    if settings["output_mode"] == "tf_idf":  # the weights of its vocabulary's terms, after the out-of-vocabulary's
        from autosearch.models import load_keras
        idf = load_keras().ops.convert_to_numpy(layer._lookup_layer.idf_weights_const)[1:]
    return {"settings": {k: settings[k] for k in VECTORIZER_SETTINGS},
            "vocabulary": [str(t) for t in layer.get_vocabulary(include_special_tokens=False)], "idf": idf}


def _vectorizer(state: dict[str, Any]):
    from autosearch.models import load_keras

    layer = load_keras().layers.TextVectorization(**state["settings"])
    layer.set_vocabulary(state["vocabulary"], idf_weights=state["idf"])
    return layer


class TextFeatures(BaseEstimator, TransformerMixin):
    """Documents as word ids and as n-gram TF-IDF (Keras TextVectorization), and as sparse TF-IDF
    (scikit-learn) for the classical baselines. Vocabularies come from the training documents only."""

    @classmethod
    def from_profile(cls, profile) -> TextFeatures:
        return cls(profile.text)

    def __init__(self, columns=("text",)):
        self.columns = columns

    def fit(self, X: pd.DataFrame, y=None) -> TextFeatures:
        from autosearch.models import load_keras

        keras = load_keras()
        docs = _documents(X, self.columns)
        words = pd.Series(docs).str.split().str.len()
        length = int(np.clip(np.percentile(words, 95), *SEQUENCE_LENGTH))
        self.tokens_ = keras.layers.TextVectorization(max_tokens=MAX_TOKENS, output_mode="int",
                                                      output_sequence_length=length)
        self.tokens_.adapt(docs)
        ngrams = int(np.clip(NGRAM_VIEW_FLOATS // max(len(docs), 1), 1000, MAX_NGRAMS))
        self.ngrams_ = keras.layers.TextVectorization(max_tokens=ngrams, ngrams=2, output_mode="tf_idf")
        self.ngrams_.adapt(docs)
        self.tfidf_ = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(docs)
        self.vocabulary_size_ = self.tokens_.vocabulary_size()
        return self

    @property
    def model_facts_(self) -> dict[str, Any]:
        return {"vocabulary_size": self.vocabulary_size_}

    VECTORIZERS = ("tokens_", "ngrams_")

    def __getstate__(self) -> dict:
        """The Keras TextVectorization layers as their settings, vocabulary and IDF weights (strings, numbers and
        an array), so the fitted preprocessing is saved without pickles (`safe_files.py`); `__setstate__` builds
        them again."""
        state = super().__getstate__()
        return {**state, **{name: _vectorizer_state(state[name]) for name in self.VECTORIZERS if name in state}}

    def __setstate__(self, state: dict) -> None:
        built = {name: _vectorizer(state[name]) for name in self.VECTORIZERS if isinstance(state.get(name), dict)}
        super().__setstate__({**state, **built})

    def transform(self, X: pd.DataFrame, views: Collection[str] | None = None) -> Views:
        from autosearch.models import load_keras

        ops = load_keras().ops
        docs = _documents(X, self.columns)
        made = {}
        if _wanted(views, "tokens"):
            made["tokens"] = ops.convert_to_numpy(self.tokens_(docs)).astype(np.int32)
        if _wanted(views, "ngrams"):  # dense: rows × up to MAX_NGRAMS floats
            made["ngrams"] = ops.convert_to_numpy(self.ngrams_(docs)).astype(np.float32)
        if _wanted(views, "tfidf"):
            made["tfidf"] = self.tfidf_.transform(docs)
        return made

