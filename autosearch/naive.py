"""The common-sense forecasts, the yardsticks a forecaster must beat ("tomorrow = today"; docs/guide/how-fit-works.md,
step 8): the naive forecast (the last value), the seasonal naive (the value one season before each step) and the
window's mean. scikit-learn estimators on the windows' vector view (preprocessing.WindowFeatures), which learn nothing;
`layout` (lookback, season, horizon) is what they read: the view's first `lookback` values are the target's.
They forecast in the windows' units: relative to the last value, so the naive forecast is 0.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class _Forecast(BaseEstimator, RegressorMixin):
    def __init__(self, lookback: int = 1, season: int = 1, horizon: int = 1):
        self.lookback, self.season, self.horizon = lookback, season, horizon

    def fit(self, X, y=None):
        self.n_outputs_ = self.horizon
        return self

    def _targets(self, X) -> np.ndarray:
        """(samples, lookback): the windows' target values."""
        return np.asarray(X, dtype=np.float64)[:, :self.lookback]


class NaiveForecast(_Forecast):
    """Every step = the last value."""

    def predict(self, X):
        return np.zeros((len(X), self.horizon))


class SeasonalNaiveForecast(_Forecast):
    """Step h = the value one season before it (the naive forecast without a season, or a window shorter than
    one)."""

    def predict(self, X):
        m = self.season
        if m <= 1 or m > self.lookback:
            return np.zeros((len(X), self.horizon))
        source = self.lookback - m + np.arange(self.horizon) % m
        return self._targets(X)[:, source]


class WindowMeanForecast(_Forecast):
    """Every step = the mean of the window's last season (or of the whole window, without a season)."""

    def predict(self, X):
        span = self.season if 1 < self.season <= self.lookback else self.lookback
        mean = self._targets(X)[:, -span:].mean(axis=1, keepdims=True)
        return np.repeat(mean, self.horizon, axis=1)
