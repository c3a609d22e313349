"""Forecasters fitted on each window alone (local models, statsmodels'): exponential smoothing with a damped
additive trend, and an additive season where the window holds more than two of them; and the theta method (the
M3 competition's winner: simple exponential smoothing with half the linear trend, on the series without its
season where a test finds one). Where a few series are short, these beat models learnt across windows: on the
backtests of scripts/bench_forecast.py's ten sets, the geometric mean MASE over the seasonal naive's was 0.87
for damped smoothing and 0.93 for theta, against 0.95 for extra trees and 0.98 for ridge on the same windows.

scikit-learn estimators on the windows' vector view, like the common-sense forecasts (naive.py): `fit` learns
nothing; `predict` fits each window's target values and forecasts its next `horizon` steps. Both methods'
components are additive, so forecasting the windows' units (relative to the last value, over the series' scale)
is forecasting the series. A window's leading exact zeros are taken for the steps before its series began
(WindowFeatures gives them 0). A window too short or flat to fit, or whose fit fails, gets the naive forecast.
Their time is their predictions (~10-50 ms a window): the budget plan times those (budget._local_folds).
"""

from __future__ import annotations

import warnings

import numpy as np

from autosearch.naive import _Forecast

MIN_STEPS = 5  # fewer values than this in a window: the naive forecast


def _observed(values: np.ndarray) -> np.ndarray:
    """The window's values from its first nonzero one on (zeros before it: the series had not begun)."""
    nonzero = np.flatnonzero(values)
    return values[nonzero[0]:] if len(nonzero) else values[:0]


class _Local(_Forecast):
    def _one(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, X):
        out = np.zeros((len(X), self.horizon))
        with warnings.catch_warnings():  # statsmodels' convergence and index notes, once a window: no news
            warnings.simplefilter("ignore")
            for i, values in enumerate(self._targets(X)):
                y = _observed(values)
                if len(y) < MIN_STEPS or np.ptp(y) == 0:
                    continue
                try:
                    forecast = np.asarray(self._one(y), dtype=np.float64)
                except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
                    continue
                if forecast.shape == (self.horizon,) and np.all(np.isfinite(forecast)):
                    out[i] = forecast
        return out


class DampedSmoothingForecast(_Local):
    """Holt-Winters exponential smoothing: a damped additive trend, an additive season (more than two seasons
    in the window), every parameter and the initial states estimated by least squares."""

    def _one(self, y):
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        seasonal = 1 < self.season and len(y) > 2 * self.season  # its initial season is estimated too
        model = ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal="add" if seasonal else None,
                                     seasonal_periods=self.season if seasonal else None,
                                     initialization_method="estimated")
        # without the brute-force grid of starting values: 3x faster, mixed on the backtests (MASE 0.63 vs 0.69
        # on elecdaily and 0.63 vs 0.64 on Nile better; 1.66 vs 1.51 on usmelec and 0.72 vs 0.70 on AirPassengers
        # worse; equal on ausbeer)
        return model.fit(use_brute=False).forecast(self.horizon)


class ThetaForecast(_Local):
    """The theta method (statsmodels' ThetaModel): additive, deseasonalised where its test finds a season."""

    def _one(self, y):
        from statsmodels.tsa.forecasting.theta import ThetaModel

        seasonal = 1 < self.season and len(y) >= 2 * self.season
        model = ThetaModel(y, period=self.season if seasonal else 1, deseasonalize=seasonal, method="additive")
        return model.fit().forecast(self.horizon)
