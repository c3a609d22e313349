"""A forecast's quantiles (`--quantiles 0.1,0.5,0.9`): the pick's forecast of each step plus that level's quantile of
the pick's own errors at that step over its backtests (conformal prediction on the backtests' out-of-fold
forecasts, as statsforecast's `ConformalIntervals` makes its intervals from cross-validation windows, with split
conformal prediction's finite-sample correction). The same backtests chose the pick, and its windows overlap,
so the coverage asked for is not guaranteed: the test windows measure it.

The errors are read in each series' units (a window's values are relative to its last one and divided by the
series' scale, `data/forecast.py`), so one set of offsets, a row per level and a column per step ahead, serves
every series, each scaled back by its own scale. Every pick gets them alike (a network, a classical forecaster,
the ensemble), from forecasts of windows it never trained on, and nothing is fitted on the test windows: they
score the quantiles once, by the scaled quantile loss (the mean pinball loss over levels and steps, twice it,
in the series' units: AutoGluon's SQL) and, for two levels or more, the share of test values inside the outer
levels' band.
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
    for item in (i for i in items if str(i).strip()):
        try:
            level = float(str(item).strip())
        except ValueError:
            raise AutosearchError(f"--quantiles takes levels between 0 and 1, e.g. 0.1,0.5,0.9; got '{item}'") from None
        if not 0.0 < level < 1.0:
            raise AutosearchError(f"--quantiles takes levels between 0 and 1 (exclusive), e.g. 0.1,0.5,0.9; "
                                  f"got {level:g}")
        levels.append(level)
    return tuple(sorted({float(column(level)[1:]) for level in levels}))  # 0.1 and 0.1000001 are one column


def column(level: float) -> str:
    """A level's column in the forecast table.

    >>> column(0.1), column(0.05)
    ('q0.1', 'q0.05')
    """
    return f"q{level:g}"


def corrected(level: float, n: int) -> float:
    """The level read from `n` errors so that a new error falls below the bound with probability `level` at least
    (above it, for a level under one half): split conformal prediction's finite-sample correction.

    >>> round(corrected(0.9, 36), 4), round(corrected(0.1, 36), 4), corrected(0.5, 36)
    (0.925, 0.075, 0.5)
    """
    if level > 0.5:
        return min(level * (n + 1) / n, 1.0)
    if level < 0.5:
        return max((level * (n + 1) - 1) / n, 0.0)
    return level


def offsets(errors: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """(levels, steps): each level's quantile of the `errors` (truth - forecast; a row a window, a column a step
    ahead; rows with a missing value are left out), `corrected` for their number, non-decreasing over the levels
    (sorted)."""
    errors = np.asarray(errors, dtype=np.float64)
    errors = errors[np.isfinite(errors).all(axis=1)]
    if len(errors) < MIN_WINDOWS:
        raise ValueError(f"{len(errors)} backtest windows (at least {MIN_WINDOWS} are needed)")
    read = [corrected(level, len(errors)) for level in sorted(levels)]
    return np.maximum.accumulate(np.quantile(errors, read, axis=0, method="linear"), axis=0)


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
    """The share of the values that lie between the lowest and the highest level's forecasts (`found` sorted by
    level)."""
    band = forecasts(predicted, found)
    truth = np.asarray(truth, dtype=np.float64)
    return float(np.mean((truth >= band[:, 0, :]) & (truth <= band[:, -1, :])))
