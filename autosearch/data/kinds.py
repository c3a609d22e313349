"""The kinds of data: the rules that infer them, each with its reason in words, and the
registry of what differs between them.

A kind is one `KINDS` entry — which array shapes may be read as it, the preprocessing that turns its
samples into views, the network families searched on it and what the classical baselines read — plus the
module that implements its preprocessing (and its families, if new ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Callable

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from autosearch.errors import AutosearchError


class DataKind(str, Enum):
    TABULAR = "tabular"  # (samples, features): rows of a table
    IMAGE = "image"  # (samples, height, width, channels), channels last
    SEQUENCE = "sequence"  # (samples, timesteps, features): time series, signals
    TEXT = "text"  # one document per sample
    FORECAST = "forecast"  # (samples, lookback steps, channels): windows of series, the next steps to forecast


@dataclass(frozen=True)
class KindSpec:
    """Everything that differs between kinds of data, in one place."""

    kind: DataKind
    array_ndims: tuple[int, ...]  # dimensions of an .npz's X (samples first) that `--kind` may read as it
    preprocessor: str  # its preprocessing's class in preprocessing.py, made from the profile (`from_profile`)
    views: frozenset[str]  # the views that preprocessor makes ("text": the token or n-gram view, per trial)
    families: tuple[str, ...]  # network families searched on it, the domain notes' first choice first
    baseline_view: str  # the view the classical baselines read
    # the classical candidates (baselines.CLASSICAL), in the order they are fitted: the strongest for their cost
    # first; images and series (flattened pixels and steps, where the networks are the point) get one boosting
    # setting, last: one tree per class and round on every pixel (5,000 28×28 digits: ~430 s for 5 folds)
    baselines: tuple[str, ...] = ("dummy", "linear", "extra_trees", "random_forest", "svm", "gradient_boosting")
    sparse: bool = False  # the baselines' view is sparse and wide: linear SVMs, no row cap, no trees
    as_array: Callable[[np.ndarray], np.ndarray] | None = None  # arrays: samples in the shape models take
    # what a network costs, to plan a budget (prepare.cv_folds): seconds an epoch per training sample and per
    # unit of its shape (`units` of the shape after the samples axis), the kind's first two families at their
    # defaults on 2 CPU cores (docs/benchmarks/2026-12-06-budget-at-scale.md); a GPU is faster: the plan is then
    # cautious
    epoch_seconds: float = 40e-6  # tables: 30-60 µs a row for 10-20 columns; tabm on ames' 80 (~300 encoded): 245
    units: Callable[[tuple[int, ...]], float] = lambda shape: 1 + shape[0] / 25


KIND_CHOICES = ("auto",) + tuple(k.value for k in DataKind if k is not DataKind.FORECAST)  # --task forecast's

MIN_IMAGE_SIDE = 8  # a 3-D array is a grayscale image set only if both trailing axes are at least this long…
MAX_IMAGE_ASPECT = 4  # …and neither is more than this many times the other
MIN_SERIES_COLUMNS = 10
TEXT_MIN_WORDS = 4  # mean words per value of a free-text column
TEXT_MIN_DISTINCT = 0.5  # share of distinct values in a free-text column
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def array_kind(shape: tuple[int, ...], padded: bool = False) -> tuple[DataKind, str]:
    """The kind of an array `X` of `shape` (samples first); `padded`: whole steps of it are NaN.

    >>> array_kind((1797, 8, 8))[0].value
    'image'
    >>> array_kind((80, 100, 6))[0].value
    'sequence'
    >>> array_kind((270, 29, 12), padded=True)[0].value
    'sequence'
    """
    dims = "×".join(map(str, shape[1:]))
    if len(shape) == 4:
        return DataKind.IMAGE, f"X is 4-D ({dims} per sample): images of height × width × channels"
    if len(shape) == 3:
        a, b = shape[1:]
        if padded:
            return DataKind.SEQUENCE, (f"X is 3-D ({dims} per sample) with rows that are all NaN: "
                                       f"variable-length series padded to {a} timesteps × {b} features")
        if min(a, b) >= MIN_IMAGE_SIDE and max(a, b) <= MAX_IMAGE_ASPECT * min(a, b):
            return DataKind.IMAGE, (
                f"X is 3-D ({dims} per sample) and both axes are at least {MIN_IMAGE_SIDE} long and within "
                f"{MAX_IMAGE_ASPECT}:1 of each other: grayscale images (pass --kind sequence for "
                "timesteps × features)")
        return DataKind.SEQUENCE, (
            f"X is 3-D ({dims} per sample) with axes too unequal for an image: {a} timesteps × {b} features")
    if len(shape) == 2:
        return DataKind.SEQUENCE, (
            f"X is 2-D ({dims} values per sample): one univariate series per sample (pass --kind tabular "
            "for feature vectors)")
    raise AutosearchError(f"X has {len(shape)} dimensions; give (N, T) or (N, T, F) sequences, or (N, H, W) or "
                          "(N, H, W, C) images")


def is_free_text(s: pd.Series) -> bool:
    """A column of prose: text values, mostly distinct, several words each."""
    if ptypes.is_numeric_dtype(s) or ptypes.is_bool_dtype(s):
        return False
    values = s.dropna().astype(str)
    if len(values) == 0:
        return False
    return (values.nunique() / len(values) >= TEXT_MIN_DISTINCT
            and values.str.split().str.len().mean() >= TEXT_MIN_WORDS)


def series_columns(columns: list[str]) -> bool:
    """Column names of one series per row: one prefix, consecutive numbers (t0…t99, x_1…x_50)."""
    matches = [_NUMBERED.match(c) for c in columns]
    if len(columns) < MIN_SERIES_COLUMNS or not all(matches):
        return False
    prefixes = {m.group(1) for m in matches}
    numbers = [int(m.group(2)) for m in matches]
    return len(prefixes) == 1 and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def table_kind(features: pd.DataFrame, text_columns: list[str]) -> tuple[DataKind, str]:
    """The kind of a table's feature columns (after constant and ID-like ones are dropped)."""
    names = list(features.columns)
    if text_columns and len(text_columns) == len(names):
        shown = ", ".join(text_columns)
        return DataKind.TEXT, f"the only feature column(s), {shown}, hold free text: one document per row"
    if series_columns(names) and all(ptypes.is_numeric_dtype(features[c]) for c in names):
        return DataKind.SEQUENCE, (
            f"{len(names)} numeric columns {names[0]}…{names[-1]} numbered in order: one series per row")
    reason = "rows of feature columns"
    if text_columns:
        reason += f"; free-text column(s) {', '.join(text_columns)} are vectorised (TF-IDF) beside the others"
    return DataKind.TABULAR, reason


def as_image_array(X: np.ndarray) -> np.ndarray:
    """Images with a channel axis: (N, H, W) becomes (N, H, W, 1)."""
    return X[..., np.newaxis] if X.ndim == 3 else X


def as_sequence_array(X: np.ndarray) -> np.ndarray:
    """Sequences with a feature axis: (N, T) becomes (N, T, 1)."""
    return X[..., np.newaxis] if X.ndim == 2 else X


KINDS: dict[DataKind, KindSpec] = {spec.kind: spec for spec in (
    KindSpec(DataKind.TABULAR, (2, 3, 4), "TableFeatures", frozenset({"vector"}), ("dense", "tabm"), "vector",
             baselines=("dummy", "linear", "gradient_boosting", "random_forest", "extra_trees",
                        "gradient_boosting_regularised", "gradient_boosting_deep", "svm")),
    KindSpec(DataKind.IMAGE, (3, 4), "ArrayFeatures", frozenset({"image", "vector"}), ("resnet2d", "conv2d"), "vector",
             # resnet2d: 5.6-6.3 µs a pixel on 8×8 and 28×28 digits
             as_array=as_image_array, epoch_seconds=7e-6, units=lambda shape: shape[0] * shape[1]),
    KindSpec(DataKind.SEQUENCE, (2, 3), "ArrayFeatures", frozenset({"sequence", "vector"}),
             ("fcn", "inception", "resnet1d", "rnn", "conv1d"), "vector",
             # fcn: 8-11 µs a step and 4 channels (GunPoint, BasicMotions, Japanese Vowels); inception ~1.5× that
             as_array=as_sequence_array, epoch_seconds=15e-6,
             units=lambda shape: shape[0] * (1 + (shape[1] if len(shape) > 1 else 1) / 4)),
    KindSpec(DataKind.TEXT, (1,), "TextFeatures", frozenset({"text", "ngrams"}), ("tfidf", "text"), "tfidf",
             baselines=("dummy", "linear", "svm"), sparse=True,
             epoch_seconds=100e-6, units=lambda shape: 1),  # tfidf: ~70 µs a document (topics)
    # windows of series to forecast from (data/forecast.py): N-BEATS first (the M4 competition's neural winner),
    # then a dense net on the flattened window (the book's first forecaster), recurrent and 1D convnets; the
    # common-sense forecasts are the yardsticks ("dummy" family); then exponential smoothing and theta on each
    # window (local_forecasts.py), ridge and trees on the lags (one model for all H steps: direct, multi-output)
    KindSpec(DataKind.FORECAST, (), "WindowFeatures", frozenset({"sequence", "vector"}),
             ("nbeats", "dense", "rnn", "conv1d"),
             "vector", baselines=("seasonal_naive", "naive", "window_mean", "ets", "theta", "linear",
                                  "extra_trees", "random_forest"),
             epoch_seconds=15e-6, units=lambda shape: shape[0] * (1 + shape[1] / 4)),
)}
