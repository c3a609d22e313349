"""A forecast's quantiles (`--quantiles 0.1,0.5,0.9`): the pick's forecast of each step plus that level's quantile of
the pick's own errors at that step over its backtests (split conformal prediction on the backtests' out-of-fold
forecasts, as statsforecast's `ConformalIntervals` makes its intervals from cross-validation windows).

The errors are read in each series' units (a window's values are relative to its last one and divided by the
series' scale, `data/forecast.py`), so one set of offsets, a row per level and a column per step ahead, serves
every series, each scaled back by its own scale. Every pick gets them alike (a network, a classical forecaster,
the ensemble), from forecasts of windows it never trained on, and nothing is fitted on the test windows: they
score the quantiles once, by the scaled quantile loss (the mean pinball loss over levels and steps, twice it,
in the series' units: AutoGluon's SQL) and the share of test values inside the outer levels' band.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from autosearch.errors import AutosearchError

MIN_WINDOWS = 10  # backtest windows the offsets are read from at least


def levels_of(given: str | float | Sequence | None) -> tuple[float, ...]:
    """The quantile levels asked for, as a list or comma-separated, sorted, once each.

    >>> levels_of("0.9, 0.1,0.5"), levels_of(None)
    ((0.1, 0.5, 0.9), ())
    """
    if given is None:
        return ()
    items = given.split(",") if isinstance(given, str) else given if isinstance(given, (list, tuple)) else [given]
    levels = []
    for item in items:
        try:
            level = float(str(item).strip())
        except ValueError:
            raise AutosearchError(f"--quantiles takes levels between 0 and 1, e.g. 0.1,0.5,0.9; got '{item}'") from None
        if not 0.0 < level < 1.0:
            raise AutosearchError(f"--quantiles takes levels between 0 and 1 (exclusive), e.g. 0.1,0.5,0.9; "
                                  f"got {level:g}")
        levels.append(level)
    return tuple(sorted(set(levels)))


def column(level: float) -> str:
    """A level's column in the forecast table.

    >>> column(0.1), column(0.05)
    ('q0.1', 'q0.05')
    """
    return f"q{level:g}"


def offsets(truth: np.ndarray, predicted: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(levels, steps): each level's quantile of the errors truth - predicted at each step ahead, over the windows
    (rows) both give (NaN rows are left out), made non-decreasing over the levels."""
    errors = np.asarray(truth, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    errors = errors[~np.isnan(errors).any(axis=1)]
    if len(errors) < MIN_WINDOWS:
        raise ValueError(f"{len(errors)} backtest windows (at least {MIN_WINDOWS} are needed)")
    found = np.quantile(errors, np.asarray(levels), axis=0, method="linear")
    return np.maximum.accumulate(found, axis=0)


def forecasts(predicted: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(windows, levels, steps): each level's forecast of every window."""
    return np.asarray(predicted, dtype=np.float64)[:, None, :] + np.asarray(found)[None, :, :]


def quantile_loss(truth: np.ndarray, predicted: np.ndarray, found: np.ndarray, levels: Sequence[float]) -> float:
    """The scaled quantile loss of the levels' forecasts: 2 × the pinball loss, averaged over levels, steps and
    windows, in the series' units (what MASE is to the point forecast).

    >>> quantile_loss(np.array([[1.0]]), np.array([[0.0]]), np.array([[0.0]]), [0.5])  # the median's: MAE
    1.0
    """
    q = np.asarray(levels, dtype=np.float64)[None, :, None]
    error = np.asarray(truth, dtype=np.float64)[:, None, :] - forecasts(predicted, found)
    return float(np.mean(2.0 * np.maximum(q * error, (q - 1.0) * error)))


def coverage(truth: np.ndarray, predicted: np.ndarray, found: np.ndarray) -> float:
    """The share of the values that lie between the lowest and the highest level's forecasts."""
    band = forecasts(predicted, found)
    truth = np.asarray(truth, dtype=np.float64)
    return float(np.mean((truth >= band[:, 0, :]) & (truth <= band[:, -1, :])))
