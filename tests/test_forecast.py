"""Forecasting (--task forecast --horizon H): windows of the past in, the next H steps out, validated by
backtests that never train on the future, tested on the last H steps, served as the next H steps after the
data end."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd
import pytest
from commands import autosearch_here

from autosearch.baselines import fit_baseline
from autosearch.config import make_config
from autosearch.data.forecast import forecast_spec, make_windows, split_windows
from autosearch.data.kinds import DataKind
from autosearch.errors import AutosearchError
from autosearch.local_forecasts import DampedSmoothingForecast, ThetaForecast
from autosearch.naive import NaiveForecast, SeasonalNaiveForecast
from autosearch.prepare import prepare
from autosearch.progress import Progress
from autosearch.serving import safe_files
from autosearch.serving.bundle import Bundle, Member

H = 6


def daily(n: int = 120, ids: tuple[str, ...] = ("a", "b"), noise: float = 0.3, walk: float = 0.0,
          seed: int = 0) -> pd.DataFrame:
    """Daily series in long format: a weekly cycle at each series' own level, noise, an optional random walk."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2024-01-01", periods=n, freq="D")
    frames = [pd.DataFrame({"day": stamps.strftime("%Y-%m-%d"), "shop": shop,
                            "sales": 10 * (i + 1) + 3 * np.sin(2 * np.pi * np.arange(n) / 7)
                            + rng.normal(0, noise, n) + np.cumsum(rng.normal(0, walk, n))})
              for i, shop in enumerate(ids)]
    return pd.concat(frames, ignore_index=True)


def windows_of(frame: pd.DataFrame, horizon: int = H, series: str | None = "shop", known: tuple[str, ...] = ()):
    spec, _ = forecast_spec(frame, "sales", None, series, horizon, ("day",), known)
    return spec, make_windows(frame, spec, None)[0]


def promoted(frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """A promotion on random days (no pattern in its past), each adding 5 to the day's sales."""
    promo = np.random.default_rng(seed).integers(0, 2, len(frame))
    return frame.assign(promo=promo, sales=frame.sales + 5 * promo)


def ahead(frame: pd.DataFrame, horizon: int = H, seed: int = 2) -> pd.DataFrame:
    """`frame` and, for each shop, `horizon` days after its last with the target empty and the promotion planned."""
    rng, parts = np.random.default_rng(seed), [frame]
    for shop, part in frame.groupby("shop"):
        days = pd.date_range(pd.Timestamp(part.day.max()) + pd.Timedelta(days=1), periods=horizon, freq="D")
        parts.append(pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "shop": shop, "sales": np.nan,
                                   "promo": rng.integers(0, 2, horizon)}))
    return pd.concat(parts, ignore_index=True)


def test_windows_end_at_their_origin_and_their_targets_are_the_next_h_steps():
    frame = daily(walk=1.0)
    spec, windows = windows_of(frame)
    assert spec.season == 7 and spec.calendar == ("week", "year")
    for row in (0, len(windows) // 2, len(windows) - 1):
        values = frame[frame.shop == ("a", "b")[windows.series[row]]].sales.to_numpy()
        origin = len(values) - 1 - H - windows.distance[row]
        level = values[origin]
        scale = np.mean(np.abs(values[7:len(values) - H] - values[:len(values) - H - 7]))  # without the test span
        last = windows.features[row, -spec.lookback:, 0]
        seen = values[max(0, origin - spec.lookback + 1):origin + 1]
        np.testing.assert_allclose(last[-len(seen):], (seen - level) / scale, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(windows.target.iloc[row], (values[origin + 1:origin + 1 + H] - level) / scale,
                                   rtol=1e-5, atol=1e-5)


def test_a_covariate_known_ahead_is_read_at_the_steps_the_window_forecasts():
    """Each step of a window carries the known covariate's value H steps later: the window's last H steps carry
    the values of the H steps it forecasts, and the steps after a series' last target (predict's) are not
    windows of their own."""
    frame = promoted(daily())
    spec, windows = windows_of(ahead(frame), known=("promo",))
    assert spec.known == ("promo",) and "promo" not in spec.covariates and spec.channels == 1 + 1 + 4
    assert len(windows) == len(windows_of(frame, known=("promo",))[1])
    for row in (0, len(windows) // 2, len(windows) - 1):
        promo = frame[frame.shop == ("a", "b")[windows.series[row]]].promo.to_numpy()
        origin = len(promo) - 1 - H - windows.distance[row]
        steps = np.arange(origin - spec.lookback + 1, origin + 1)
        seen = steps >= 0
        np.testing.assert_array_equal(windows.features[row, seen, 1], promo[steps[seen] + H])
        np.testing.assert_array_equal(windows.features[row, -H:, 1], promo[origin + 1:origin + 1 + H])


def test_a_target_driven_by_a_covariate_known_ahead_is_forecast_from_it_and_not_without(tmp_path):
    """The promotion has no pattern in its past: read as a past covariate it cannot help, read ahead it explains
    the sales."""
    frame = promoted(daily())
    past = fit_baseline("linear", prepared(frame, tmp_path, series="shop").folds.first)[0].val_score
    known = fit_baseline("linear", prepared(frame, tmp_path, series="shop", known="promo").folds.first)[0]
    assert known.val_score < 0.25 < 0.5 < past


@pytest.mark.parametrize("known, message", [("price", "not a column"), ("sales", "is the target"),
                                            ("note", "must be numeric")])
def test_a_known_covariate_that_is_no_numeric_column_is_refused(tmp_path, known, message):
    with pytest.raises(AutosearchError, match=message):
        prepared(daily().assign(note="x"), tmp_path, series="shop", known=known)


def test_backtests_train_only_on_windows_whose_targets_end_before_what_they_score_and_test_is_the_last_h_steps():
    _, windows = windows_of(daily())
    train, val, test, folds, how = split_windows(windows, H, 3)
    assert len(folds) == 3 and "3 backtests" in how
    assert (test.distance == 0).all() and len(test) == 2  # each series' last window: its last H steps
    dev = train + val
    assert (dev.distance >= H).all()  # no development window's targets reach into the test span
    origin = -dev.distance  # larger is later; a window's targets end H steps after its origin
    for fit, score in folds:
        assert origin[fit].max() + H <= origin[score].min()  # a gap of H - 1 origins
        assert len(np.unique(dev.distance[score])) == H
    scored = [set(dev.distance[score]) for _, score in folds]
    assert scored[0] == set(range(H, 2 * H))  # the latest backtest first, right before the test span
    assert not scored[0] & scored[1] and not scored[1] & scored[2]


@pytest.mark.slow
def test_the_first_backtests_networks_stop_early_on_windows_before_it_and_are_scored_on_its_own(tmp_path):
    """Were the first backtest's networks to choose their epochs on its own windows, their score there would be
    the best of their epochs' (the curve's best value) rather than a fresh one."""
    from autosearch.trial_runner import train_trial

    prep = prepared(daily(n=200, walk=0.5), tmp_path, series="shop")
    folds = prep.folds
    fit, stop = folds.stopping
    dev, (first_fit, first_score) = prep.split.train + prep.split.val, folds.splits[0]
    origin = -dev.distance  # larger is later
    assert set(stop) <= set(first_fit) and set(fit) <= set(first_fit) and not set(stop) & set(first_score)
    assert origin[fit].max() + H <= origin[stop].min() and origin[stop].max() + H <= origin[first_score].min()
    trained = train_trial(prep.space("dense"), {}, folds, seed=0, max_epochs=4)
    scores = trained.record.curves["val_score"] if trained.record.curves else None
    own = np.isin(np.arange(folds.rows), first_score)[:, None]
    first_fold = folds.score(np.where(own, trained.predictions, np.nan))
    assert trained.record.first_fold_score == pytest.approx(first_fold)
    assert scores and not np.isclose(min(scores), first_fold)  # its curve is the inner backtest's


def prepared(frame: pd.DataFrame, tmp_path, **options):
    frame.to_csv(tmp_path / "series.csv", index=False)
    config = make_config(target="sales", horizon=H, output=tmp_path / "out", **options)
    return prepare(tmp_path / "series.csv", config, Progress(quiet=True))


def test_a_random_walk_cannot_be_forecast_so_no_model_scores_well_on_it(tmp_path):
    """Were a window to hold any of its target steps, ridge regression would forecast a random walk's next step
    almost perfectly."""
    prep = prepared(daily(n=300, ids=("a",), noise=0.0, walk=1.0).drop(columns="shop"), tmp_path)
    linear = fit_baseline("linear", prep.folds.first)[0]
    assert prep.metric.name == "mase" and linear.val_score > 0.7


def test_a_series_that_repeats_every_season_is_forecast_exactly_by_the_seasonal_naive(tmp_path):
    prep = prepared(daily(noise=0.0), tmp_path, series="shop")
    assert fit_baseline("seasonal_naive", prep.folds.first)[0].val_score < 1e-6
    assert fit_baseline("naive", prep.folds.first)[0].val_score > 0.5
    assert prep.profile.task_name == "forecast" and prep.codec.n_outputs == H


def test_the_common_sense_forecasts_may_join_a_forecasts_ensemble(tmp_path):
    """As forecasters (combinations with simple forecasts are hard to beat); a table's dummy never joins."""
    from autosearch.budget import fit_classical
    from autosearch.ensemble import members_to_be

    prep = prepared(daily(), tmp_path, series="shop")
    found = [(record, oof) for record, oof, _ in fit_classical(["seasonal_naive", "linear"], prep.folds, None,
                                                                lambda: None)]
    records, predictions = [r for r, _ in found], {r.name: oof for r, oof in found}
    assert {r.name for r in members_to_be(records, predictions, prep.folds)} == {"seasonal_naive", "linear"}
    table = dataclasses.replace(prep.folds, first=dataclasses.replace(prep.folds.first, kind=DataKind.TABULAR))
    assert {r.name for r in members_to_be(records, predictions, table)} == {"linear"}


def test_exponential_smoothing_forecasts_the_trend_under_a_season_that_the_seasonal_naive_lags_behind(tmp_path):
    frame = daily(noise=0.0, ids=("a", "b", "c"))
    frame["sales"] += 0.5 * frame.groupby("shop").cumcount()
    prep = prepared(frame, tmp_path, series="shop")
    seasonal_naive = fit_baseline("seasonal_naive", prep.folds.first)[0].val_score
    assert fit_baseline("ets", prep.folds.first)[0].val_score < 0.05 * seasonal_naive
    assert fit_baseline("theta", prep.folds.first)[0].val_score < seasonal_naive


def test_a_window_fitted_alone_skips_the_steps_before_its_series_began_and_falls_back_to_the_naive_forecast(
        tmp_path):
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.normal(0, 1, 30))
    started_late = np.r_[np.zeros(20), values]  # WindowFeatures' zeros where the series had not begun
    late = DampedSmoothingForecast(50, 7, 4).fit(started_late[None]).predict(started_late[None])
    whole = DampedSmoothingForecast(30, 7, 4).fit(values[None]).predict(values[None])
    np.testing.assert_allclose(late, whole)
    assert np.any(whole != 0)
    flat, short = np.zeros((1, 30)), np.r_[np.zeros(27), 1.0, -1.0, 0.5][None]
    for model in (DampedSmoothingForecast(30, 7, 4), ThetaForecast(30, 7, 4)):
        assert not model.fit(flat).predict(np.concatenate([flat, short])).any()  # the naive forecast: 0
        safe_files.dump(model, tmp_path / "model.skops")  # served from a bundle: a trusted type
        assert type(safe_files.load(tmp_path / "model.skops")) is type(model)


def test_a_local_model_whose_forecasts_would_not_fit_its_part_of_the_share_is_skipped_and_says_why(tmp_path):
    """Exponential smoothing fits a model for each window it forecasts: no sample of the training windows makes
    it cheaper, so it is timed on a few and fitted whole, or skipped."""
    from autosearch.budget import fit_classical

    prep = prepared(daily(ids=tuple(f"shop{i}" for i in range(200))), tmp_path, series="shop")
    started = time.monotonic()  # 10-30 ms a window on 2 cores: 36-108 s for the backtests' 3,600, over its 20 s
    (record, oof, line), = fit_classical(["ets"], prep.folds, 20.0, lambda: None)
    assert record is None and oof is None and line.action == "skip"
    assert "to forecast 3,600 windows" in line.why and line.estimate > 16.0
    assert time.monotonic() - started < 15  # skipped after timing a few windows, not fitted


@pytest.mark.parametrize("options, message", [
    ({"horizon": 3, "task": "regression"}, "--horizon asks for a forecast"),
    ({"series": "shop"}, "--id belongs to a forecast"),
    ({"known": "promo"}, "--known belongs to a forecast"),
    ({"quantiles": "0.1,0.9"}, "--quantiles belongs to a forecast"),
    ({"horizon": 3, "quantiles": "0.1,1.5"}, "between 0 and 1"),
    ({"horizon": 3, "quantiles": "low"}, "between 0 and 1"),
    ({"task": "forecast"}, "needs --horizon"),
    ({"horizon": 3, "cv_folds": 3}, "--backtests"),
    ({"horizon": 0}, "at least 1"),
])
def test_contradictory_forecast_options_are_refused(options, message):
    with pytest.raises(AutosearchError, match=message):
        make_config(target="sales", **options)


@pytest.mark.parametrize("change, message", [
    (lambda f: f, "two rows at the same step"),  # two series and no --id
    (lambda f: f[f.shop == "a"].sample(frac=0.5, random_state=0), "irregular steps"),
    (lambda f: f.assign(opened=f.day), "--time COLUMN"),  # two date columns: which one orders the rows
])
def test_tables_that_are_no_series_get_a_one_line_error(tmp_path, change, message):
    frame = change(daily()).drop(columns="shop")
    with pytest.raises(AutosearchError, match=message):
        prepared(frame, tmp_path)


def test_series_too_short_for_the_horizon_are_refused(tmp_path):
    with pytest.raises(AutosearchError, match="shorter --horizon"):
        prepared(daily(n=8), tmp_path, series="shop")


def test_networks_whose_lead_over_the_classical_forecasters_is_within_the_noise_between_backtests_are_set_aside(
        tmp_path):
    """A network better on one block of one series in one backtest and no better elsewhere leads on the pooled
    score but not beyond the noise between blocks: set aside. One better on every block is kept."""
    from autosearch.budget import fit_classical
    from autosearch.ensemble import ensemble_of, networks_set_aside
    from autosearch.records import State, TrialRecord

    prep = prepared(daily(), tmp_path, series="shop")
    folds = prep.folds
    found = [(record, oof) for record, oof, _ in fit_classical(["seasonal_naive", "linear"], folds, None,
                                                                lambda: None)]
    records, predictions = [r for r, _ in found], {r.name: oof for r, oof in found}
    best = min(records, key=lambda r: r.val_score)
    base = predictions[best.name].astype(np.float64)
    halfway = base + 0.5 * (folds.y - base)  # half its error on every sample
    rows = folds.splits[0][1]
    block = rows[folds.groups[rows] == 0]  # one series in the latest backtest
    lucky = base.copy()
    lucky[block] = halfway[block]

    def network(name: str, oof: np.ndarray) -> TrialRecord:
        predictions[name] = oof.astype(np.float32)
        return TrialRecord(name, "nn", "dense", {}, State.COMPLETE, folds.score(predictions[name]), 1.0,
                           folds=folds.k)

    assert folds.k == 3 and set(np.unique(folds.groups)) == {0, 1}  # 6 blocks
    alone = [*records, network("dense-001", lucky)]
    assert alone[-1].val_score < best.val_score  # ahead on the pooled score…
    why = networks_set_aside(alone, predictions, folds)
    assert why is not None and "dense-001" in why and "6 blocks" in why  # …not beyond the noise
    steady = [*alone, network("dense-002", halfway)]
    ensemble = ensemble_of(steady, predictions, folds)
    assert networks_set_aside(steady + ([ensemble] if ensemble else []), predictions, folds) is None
    table = dataclasses.replace(folds, first=dataclasses.replace(folds.first, kind=DataKind.TABULAR))
    assert networks_set_aside(alone, predictions, table) is None  # forecasts only


@pytest.fixture(scope="module")
def forecast_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    shops = promoted(daily(walk=0.2))
    shops.to_csv(folder / "shops.csv", index=False)
    ahead(shops).to_csv(folder / "shops-ahead.csv", index=False)  # what predict takes: the promotions planned
    result = autosearch_here("fit", folder / "shops.csv", "--target", "sales", "--horizon", H, "--id", "shop",
                             "--known", "promo", "--trials", 2, "--max-epochs", 1, "--baselines", "linear",
                             "--quantiles", "0.9,0.1,0.5", "--output", folder / "out",
                             "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}")
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.slow
def test_a_forecast_is_fitted_against_the_common_sense_forecasts_and_serves_the_next_h_steps(forecast_run):
    summary = json.loads((forecast_run / "out" / "summary.json").read_text())
    assert summary["task"] == "forecast" and summary["metric"] == "mase"
    board = pd.read_csv(forecast_run / "out" / "leaderboard.csv")
    assert {"seasonal_naive", "naive", "window_mean", "linear"} <= set(board.name)
    assert board[board.kind == "nn"].state.eq("complete").any()
    assert "nbeats" in set(board.family)  # the first trial
    assert "Error by step ahead" in (forecast_run / "out" / "report.html").read_text()
    without = autosearch_here("predict", forecast_run / "out" / "model", forecast_run / "shops.csv")
    assert without.returncode != 0 and "steps after its last 'sales'" in without.stderr
    assert "Traceback" not in without.stderr
    result = autosearch_here("predict", forecast_run / "out" / "model", forecast_run / "shops-ahead.csv")
    assert result.returncode == 0, result.stderr
    from io import StringIO
    forecast = pd.read_csv(StringIO(result.stdout))
    assert list(forecast.columns) == ["shop", "day", "forecast", "q0.1", "q0.5", "q0.9"] and len(forecast) == 2 * H
    assert forecast.groupby("shop").day.apply(list).to_dict() == {
        s: list(pd.date_range("2024-04-30", periods=H, freq="D").strftime("%Y-%m-%d")) for s in ("a", "b")}
    assert np.isfinite(forecast.forecast).all()
    history = pd.read_csv(forecast_run / "shops-ahead.csv")
    planned = history.sales.isna()
    bundle = Bundle.load(forecast_run / "out" / "model")
    on, off = (bundle.predict(history.assign(promo=np.where(planned, p, history.promo))).forecast for p in (1, 0))
    assert (on - off).mean() > 2.5  # a promotion adds 5: the pick reads the plan for the steps it forecasts
    unplanned = history.copy()
    unplanned.loc[unplanned.index[-1], "promo"] = np.nan  # a step ahead without its plan is not guessed
    with pytest.raises(AutosearchError, match="5 steps after its last 'sales'"):
        bundle.predict(unplanned)


@pytest.mark.slow
def test_quantile_forecasts_come_from_the_picks_backtest_errors_and_are_scored_once_on_test(forecast_run):
    from autosearch.quantiles import corrected
    from autosearch.runs import RunState

    out = forecast_run / "out"
    summary = json.loads((out / "summary.json").read_text())
    bundle = Bundle.load(out / "model")
    levels, offsets = bundle.meta.quantiles["levels"], np.asarray(bundle.meta.quantiles["offsets"])
    assert levels == [0.1, 0.5, 0.9] and offsets.shape == (3, H)
    (forecast_run / "again").mkdir(exist_ok=True)
    prep = prepared(pd.read_csv(forecast_run / "shops.csv"), forecast_run / "again", series="shop",
                    known=["promo"])
    store = RunState.load(out).trial_store(out)
    stored = store.predictions()
    store.close()
    oof = sum(m["weight"] * stored[m["name"]] for m in bundle.meta.members)  # the pick: one candidate or a blend
    errors = prep.folds.truth - prep.codec.scores(oof)  # the pick's errors on its backtests, and nothing else
    errors = errors[~np.isnan(errors).any(axis=1)]
    assert summary["quantiles"]["backtest_windows"] == len(errors) > 0
    read = [corrected(level, len(errors)) for level in levels]
    np.testing.assert_allclose(offsets, np.maximum.accumulate(np.quantile(errors, read, axis=0), axis=0), atol=1e-5)
    assert summary["mlflow_model"]  # logged with its quantile columns
    assert 0.0 <= summary["quantiles"]["test_coverage"] <= 1.0 and summary["quantiles"]["test_quantile_loss"] > 0
    assert f"quantile of its errors on {len(errors)} backtest windows" in (out / "report.html").read_text()
    forecast = bundle.predict(pd.read_csv(forecast_run / "shops-ahead.csv"))
    assert (forecast["q0.1"] <= forecast["q0.5"]).all() and (forecast["q0.5"] <= forecast["q0.9"]).all()
    assert (forecast["q0.9"] - forecast["q0.1"]).min() > 0
    for _, part in forecast.groupby("shop"):  # each step's band is that step's offsets, in the series' scale
        width = (part["q0.9"] - part["q0.1"]).to_numpy()
        np.testing.assert_allclose((part["q0.5"] - part.forecast).to_numpy() / width,
                                   offsets[1] / (offsets[2] - offsets[0]), rtol=1e-4, atol=1e-6)


def test_quantiles_of_errors_cover_new_errors_at_their_levels():
    from autosearch.quantiles import coverage, offsets, quantile_loss

    rng = np.random.default_rng(0)
    seen, new = rng.normal(0, 2.0, (4000, 3)), rng.normal(0, 2.0, (4000, 3))
    found = offsets(seen, [0.9, 0.1, 0.5])
    np.testing.assert_allclose(found, np.array([[-2.563] * 3, [0.0] * 3, [2.563] * 3]), atol=0.15)
    assert abs(coverage(new, np.zeros_like(new), found) - 0.8) < 0.03
    few = offsets(seen[:20], [0.1, 0.9])  # from 20 errors: the conformal correction widens
    assert (few[0] <= np.quantile(seen[:20], 0.1, axis=0)).all()
    assert (few[1] >= np.quantile(seen[:20], 0.9, axis=0)).all()
    shifted = found + 3.0  # quantiles off their errors' lose more
    assert quantile_loss(new, np.zeros_like(new), shifted, [0.1, 0.5, 0.9]) > quantile_loss(
        new, np.zeros_like(new), found, [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="backtest windows"):
        offsets(seen[:5], [0.5])


@pytest.mark.slow
def test_the_served_windows_are_aligned_with_the_history_they_end(forecast_run):
    """Through the served path (history in, the bundle's preprocessing, forecasts out) the common-sense forecasts
    give exactly the last value and the value a season before each step: a window off by one step would not."""
    bundle = Bundle.load(forecast_run / "out" / "model")
    spec = bundle.profile.forecast
    history = pd.read_csv(forecast_run / "shops-ahead.csv")  # the steps ahead (target empty) do not move them
    for estimator, expected in ((NaiveForecast(spec.lookback, spec.season, H), lambda v: np.repeat(v[-1], H)),
                                (SeasonalNaiveForecast(spec.lookback, spec.season, H), lambda v: v[-7:-7 + H])):
        member = Member("yardstick", "baseline", "dummy", {}, 1.0, estimator.fit(None))
        forecast = dataclasses.replace(bundle, members=[member]).predict(history)
        for shop, part in forecast.groupby("shop"):
            values = history[history.shop == shop].sales.dropna().to_numpy()
            np.testing.assert_allclose(part.forecast, expected(values), rtol=1e-4)
