"""Forecasting (`--task forecast --horizon H`): a table of one series or several (long format: a time column,
`--id` naming the series, the target, other numeric columns as past covariates, `--known` ones known ahead)
becomes windows to learn from — the last `lookback` steps in, the next `horizon` steps out — and, for
`predict`, the next `horizon` steps after each series ends.

A covariate known ahead (a calendar of holidays, a weather forecast, a planned promotion) is read H steps ahead
of where the window is: each step of a window carries its value H steps later, so a window's last H steps
carry the values of the H steps it forecasts. For `predict`, the history gives those: H rows a series after its
last target, the target empty.

Every window is put in its series' units: target values relative to the window's last value, divided by the
series' mean absolute seasonal difference (the in-sample error of the seasonal naive forecast, MASE's
denominator). So one model learns across series of any level and scale, the naive forecast is 0, and a
model's mean absolute error in those units is its MASE. Windows keep their series and how far their origin
lies from the series' last window (`Windows.distance`): the test split is each series' last window (its last
H steps), and validation is K backtests of H origins each before it, every one trained only on windows whose
targets end before its first origin (`split_windows`); the networks of the first backtest stop early on a
backtest of their own before it (`stopping_split`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from autosearch.data.dataset import Dataset
from autosearch.data.dates import is_date
from autosearch.data.time_order import REGULAR_SHARE, duration, order_values
from autosearch.errors import AutosearchError

DAY = 86400.0
# the season (steps in a cycle) of a step length in seconds, as forecasting tools set it: half-hourly 48, hourly
# 24, daily 7, weekly 52, monthly 12, quarterly 4, yearly 1
SEASONS = ((DAY, lambda step: round(DAY / step)), (7 * DAY, lambda step: 7), (28 * DAY, lambda step: 52),
           (88 * DAY, lambda step: 12), (360 * DAY, lambda step: 4))
MAX_LOOKBACK = 512
DEFAULT_BACKTESTS = 3
MIN_FIT_WINDOWS = 20  # the earliest backtest trains on this many windows at least
MAX_WINDOWS = 100_000  # windows kept to learn from (the backtests' and test's always; earlier ones thinned)
ROUNDING = 0.1  # a time more than this share of a step off the grid is off it
OFF_GRID_SHARE = 0.05  # of the times: more off the grid, and the series is irregular


@dataclass(frozen=True)
class ForecastSpec:
    """What forecasting a table needs to know, fitted and served alike (JSON-ready: `Profile.forecast`)."""

    target: str
    time: str
    series: str | None  # the --id column: several series, one model across them
    covariates: tuple[str, ...]  # numeric columns known up to each step only (past covariates)
    horizon: int
    lookback: int
    season: int
    dates: bool  # the time column holds dates (else numbers, such as a step count)
    step: float  # seconds a step (dates at a fixed step), or the numbers' step; 0 with `months`
    months: int  # months a step (monthly, quarterly, yearly dates), else 0
    calendar: tuple[str, ...]  # the cycles whose phase every step carries: day, week, year
    known: tuple[str, ...] = ()  # numeric columns known ahead (--known): each step carries its value H steps later

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> ForecastSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @property
    def channels(self) -> int:
        """Values a window holds per step: the target, the past and known covariates and each cycle's sine and
        cosine."""
        return 1 + len(self.covariates) + len(self.known) + 2 * len(self.calendar)

    @property
    def scale_lag(self) -> int:
        return self.season if self.season > 1 else 1

    def target_columns(self) -> list[str]:
        return [f"{self.target}+{h}" for h in range(1, self.horizon + 1)]


@dataclass(frozen=True, eq=False)
class Windows(Dataset):
    """Windows (samples, lookback, channels) with their targets (samples, horizon), their series and the
    distance of their origin from the series' last window, in steps (0: the test window)."""

    series: np.ndarray = None
    distance: np.ndarray = None

    def take(self, rows: np.ndarray) -> Windows:
        return Windows(self.features[rows], self.target.iloc[rows].reset_index(drop=True), self.series[rows],
                       self.distance[rows])

    def __add__(self, other: Windows) -> Windows:
        return Windows(np.concatenate([self.features, other.features]),
                       pd.concat([self.target, other.target], ignore_index=True),
                       np.concatenate([self.series, other.series]), np.concatenate([self.distance, other.distance]))


def _grid(times: pd.Series) -> tuple[bool, float, int, str]:
    """How a time column steps: (dates, seconds or numbers a step, months a step, in words); refuses one whose
    distinct times do not step regularly."""
    dates = is_date(times) and not ptypes.is_numeric_dtype(times)
    values = order_values(times)
    distinct = np.unique(values[~np.isnan(values)])
    if len(distinct) < 3:
        raise AutosearchError(f"time column '{times.name}' has fewer than 3 distinct times; a forecast needs a "
                              "series of them")
    gaps = np.diff(distinct)
    step = float(np.median(gaps))
    if dates:
        days = step / 1e9 / DAY
        for months, low, high in ((1, 28, 31), (3, 89, 92), (12, 365, 366)):
            if low <= days <= high:
                return True, 0.0, months, f"every {months} month{'s' if months > 1 else ''}"
    regular = np.mean(np.abs(gaps - step) <= ROUNDING * step) >= REGULAR_SHARE
    said = ("every " + (duration(step / 1e9) if dates else f"{step:g}")) if regular else "at irregular steps"
    return dates, step / 1e9 if dates else step, 0, said


def _positions(times: pd.Series, dates: bool, step: float, months: int) -> np.ndarray:
    """Each time's position on the grid, in steps from the earliest (a float: off the grid where not whole)."""
    if dates:
        stamps = pd.to_datetime(pd.Series(order_values(times)), unit="ns")
        if months:
            count = stamps.dt.year * 12 + stamps.dt.month
            return ((count - count.min()) / months).to_numpy(dtype=np.float64)
        seconds = order_values(times) / 1e9
    else:
        seconds = order_values(times)
    return (seconds - np.nanmin(seconds)) / step


def season_of(dates: bool, step: float, months: int) -> int:
    """Steps in a season: 48 half-hours, 24 hours, 7 days, 52 weeks, 12 months, 4 quarters; 1 for years and
    steps that are numbers.

    >>> season_of(True, 1800, 0), season_of(True, 86400, 0), season_of(True, 0, 1), season_of(False, 1, 0)
    (48, 7, 12, 1)
    """
    if not dates:
        return 1
    if months:
        return {1: 12, 3: 4}.get(months, 1)
    for upto, season in SEASONS:
        if step < upto - 1e-6:
            return max(1, season(step))
    return 1


def _calendar(dates: bool, step: float, months: int) -> tuple[str, ...]:
    """The cycles worth a step's phase: the day and week for steps under a day, the week and year for days,
    the year for weeks and months."""
    if not dates:
        return ()
    if months:
        return ("year",) if months < 12 else ()
    if step < DAY:
        return ("day", "week")
    return ("week", "year") if step < 7 * DAY else ("year",)


def _phases(stamps: pd.DatetimeIndex, calendar: tuple[str, ...]) -> np.ndarray:
    """(steps, 2 per cycle): the sine and cosine of each step's phase in each cycle."""
    seconds = (stamps.hour * 3600 + stamps.minute * 60 + stamps.second).to_numpy(dtype=np.float64)
    phase = {"day": seconds / DAY, "week": (stamps.day_of_week.to_numpy() + seconds / DAY) / 7,
             "year": (stamps.day_of_year.to_numpy() - 1) / 365.25}
    parts = [f(2 * np.pi * phase[c]) for c in calendar for f in (np.sin, np.cos)]
    return np.stack(parts, axis=1) if parts else np.zeros((len(stamps), 0))


def _stamps(spec: ForecastSpec, first: float, positions: np.ndarray) -> pd.DatetimeIndex | np.ndarray:
    """The times at grid `positions` from a series' `first` time (order_values' number)."""
    if not spec.dates:
        return first + positions * spec.step
    start = pd.Timestamp(int(first))
    if spec.months:
        return pd.DatetimeIndex([start + pd.DateOffset(months=int(p) * spec.months) for p in positions])
    return pd.DatetimeIndex(start + pd.to_timedelta(positions * spec.step, unit="s"))


@dataclass(frozen=True)
class Series:
    """One series on its grid up to its last target: values (steps, 1 + covariates + known covariates), its
    first time, its name; and the known covariates' values of the steps after it (`--known`: `predict`'s)."""

    name: object
    values: np.ndarray
    first: float
    filled: int  # steps missing from the data, filled
    ahead: np.ndarray  # (steps after the last target, known covariates), as given: NaN where missing


def read_series(frame: pd.DataFrame, spec: ForecastSpec) -> list[Series]:
    """The table's series on their grids: rows sorted by time; a step the data lacks is filled (the target
    linearly between its neighbours, covariates with the last value). A series ends at its last target; the
    rows after it are steps ahead, whose known covariates (`--known`) are kept. Refuses two rows at one step of
    a series and times off the grid."""
    columns = [spec.target, *spec.covariates, *spec.known]
    for col in columns:
        if not ptypes.is_numeric_dtype(frame[col]):
            parsed = pd.to_numeric(frame[col], errors="coerce")
            if parsed.notna().sum() < frame[col].notna().sum():
                raise AutosearchError(f"column '{col}' must be numeric to forecast with; fix its values or drop it")
            frame = frame.assign(**{col: parsed})
    groups = frame.groupby(spec.series, sort=True, dropna=False) if spec.series else [(None, frame)]
    found = []
    for name, part in groups:
        t = order_values(part[spec.time])
        keep = ~np.isnan(t)
        part, t = part[keep], t[keep]
        if len(part) == 0:
            continue
        position = _positions(part[spec.time], spec.dates, spec.step, spec.months)
        index = np.round(position).astype(np.int64)
        off = np.abs(position - index) > ROUNDING
        label = f" of series '{name}'" if spec.series else ""
        if off.mean() > OFF_GRID_SHARE:
            raise AutosearchError(f"the times{label} in '{spec.time}' do not fall on a regular grid; resample the "
                                  "data to regular steps (e.g. pandas' resample) before forecasting")
        if len(np.unique(index)) < len(index):
            raise AutosearchError(f"column '{spec.time}' has two rows at the same step{label}; give one row per "
                                  f"step{' and series (--id)' if spec.series else ' (--id names the series)'}")
        values = np.full((index.max() + 1, len(columns)), np.nan)
        values[index] = part[columns].to_numpy(dtype=np.float64)
        targets = np.flatnonzero(~np.isnan(values[:, 0]))
        if len(targets) == 0:
            continue
        end = targets[-1] + 1
        target = pd.Series(values[:end, 0]).interpolate(limit_direction="both").to_numpy()
        covariates = pd.DataFrame(values[:end, 1:]).ffill().bfill().to_numpy()
        found.append(Series(name, np.column_stack([target, covariates]), float(np.nanmin(t)),
                            int(end - np.sum(index < end)), values[end:, 1 + len(spec.covariates):]))
    return found


def scale_of(target: np.ndarray, lag: int) -> float:
    """The series' mean absolute difference at `lag` (the seasonal naive forecast's in-sample error), else at 1,
    else its mean absolute value, else 1: what its windows are divided by.

    >>> scale_of(np.array([1.0, 3.0, 2.0, 5.0]), 1), scale_of(np.array([2.0, 2.0, 2.0]), 1)
    (2.0, 2.0)
    """
    size = float(np.nanmean(np.abs(target))) if len(target) else np.nan
    size = size if np.isfinite(size) and size > 0 else 1.0
    for k in (lag, 1):
        if len(target) > k:
            value = float(np.nanmean(np.abs(target[k:] - target[:-k])))
            if np.isfinite(value) and value > 1e-9 * size:  # rounding's differences are none
                return value
    return size


def _steps(series: Series, spec: ForecastSpec) -> np.ndarray:
    """(steps, channels): the series' values, its known covariates H steps ahead (NaN where the data ends
    sooner) and, for dates, each step's calendar phases."""
    steps, past = len(series.values), 1 + len(spec.covariates)
    parts = [series.values[:, :past]]
    if spec.known:
        known = np.concatenate([series.values[:, past:], series.ahead])
        lead = np.full((steps, len(spec.known)), np.nan)
        reach = max(0, min(steps, len(known) - spec.horizon))
        lead[:reach] = known[spec.horizon:spec.horizon + reach]
        parts.append(lead)
    if spec.calendar:
        parts.append(_phases(_stamps(spec, series.first, np.arange(steps)), spec.calendar))
    return np.column_stack(parts)


def _window(steps: np.ndarray, origin: int, lookback: int, level: float, scale: float) -> np.ndarray:
    """The `lookback` steps up to `origin` (NaN before the series begins), the target relative to `level`."""
    window = np.full((lookback, steps.shape[1]), np.nan, dtype=np.float32)
    first = origin - lookback + 1
    window[max(0, -first):] = steps[max(0, first):origin + 1]
    window[:, 0] = (window[:, 0] - level) / scale
    return window


def make_windows(frame: pd.DataFrame, spec: ForecastSpec, backtests: int | None, seed: int = 0
                 ) -> tuple[Windows, list[str]]:
    """Every series' windows: origins from half a lookback in (or as early as the series allows) to the one whose
    targets are its last H steps; scales from each series without those last H steps (the test span)."""
    notes, features, targets, series_of, distances = [], [], [], [], []
    h = spec.horizon
    all_series = read_series(frame, spec)
    filled = sum(s.filled for s in all_series)
    if filled:
        notes.append(f"filled {filled} missing steps (the target linearly between its neighbours)")
    short = []
    for i, s in enumerate(all_series):
        last = len(s.values) - 1 - h  # the test window's origin
        if last < 1:
            short.append(s.name)
            continue
        steps = _steps(s, spec)
        scale = scale_of(s.values[:last + 1, 0], spec.scale_lag)
        origins = np.arange(min(max(spec.lookback // 2, 1), last), last + 1)
        for o in origins:
            level = steps[o, 0]
            features.append(_window(steps, o, spec.lookback, level, scale))
            targets.append((steps[o + 1:o + 1 + h, 0] - level) / scale)
        series_of.append(np.full(len(origins), i))
        distances.append(last - origins)
    if short:
        notes.append(f"left out {len(short)} series shorter than the horizon and 2 steps")
    if not features:
        raise AutosearchError(f"every series is too short for --horizon {h}: a series needs more than {h + 1} steps; "
                              "give a shorter --horizon")
    windows = Windows(np.stack(features), pd.DataFrame(np.array(targets), columns=spec.target_columns()),
                      np.concatenate(series_of), np.concatenate(distances))
    keep = _thinned(windows.distance, ((backtests or DEFAULT_BACKTESTS) + 2) * h, seed)
    if len(keep) < len(windows):
        notes.append(f"learning from {len(keep):,} of {len(windows):,} windows: the earliest are thinned "
                     f"(at most {MAX_WINDOWS:,})")
        windows = windows.take(keep)
    return windows, notes


def _thinned(distance: np.ndarray, recent: int, seed: int) -> np.ndarray:
    """The windows kept: all of the `recent` latest origins of every series, a seeded sample of the others."""
    rows = np.arange(len(distance))
    if len(rows) <= MAX_WINDOWS:
        return rows
    late, early = rows[distance < recent], rows[distance >= recent]
    room = max(MAX_WINDOWS - len(late), 0)
    chosen = np.random.default_rng(seed).choice(early, min(room, len(early)), replace=False)
    return np.sort(np.concatenate([late, chosen]))


def split_windows(windows: Windows, horizon: int, backtests: int | None
                  ) -> tuple[Windows, Windows, Windows, tuple[tuple[np.ndarray, np.ndarray], ...], str]:
    """(train, validation, test, folds over train+validation, what it is in words). The test split is every
    series' last window; validation is `backtests` stretches of `horizon` origins before it (fewer where the
    earliest would train on under MIN_FIT_WINDOWS windows), the latest first. Backtest j scores its stretch,
    trained on the windows whose targets end before the stretch's first origin: a gap of horizon - 1 origins."""
    d = windows.distance - horizon  # from the latest window whose targets end before the test span's
    dev = np.flatnonzero(d >= 0)
    dev = dev[np.lexsort((windows.series[dev], -d[dev]))]  # in time order: the training split, then validation
    asked = backtests or DEFAULT_BACKTESTS
    k = asked
    while k > 1 and np.sum(d[dev] >= (k + 1) * horizon - 1) < MIN_FIT_WINDOWS:
        k -= 1
    if np.sum(d[dev] >= 2 * horizon - 1) < 1:
        raise AutosearchError(f"the series are too short to validate a {horizon}-step forecast: each needs about "
                              f"{4 * horizon} steps or more; give a shorter --horizon")
    dd = d[dev]
    val_from = int(np.argmax(dd < k * horizon)) if np.any(dd < k * horizon) else len(dev)
    folds = []
    for j in range(k):
        score = np.flatnonzero((dd >= j * horizon) & (dd < (j + 1) * horizon))
        fit = np.flatnonzero(dd >= (j + 2) * horizon - 1)
        folds.append((fit, score))
    test = np.flatnonzero(windows.distance == 0)
    fewer = f" (fewer than the {asked} asked: the series are short)" if k < asked else ""
    how = (f"validation: {k} backtest{'s' if k > 1 else ''}{fewer} of {horizon} forecast origins each, the "
           f"latest before the test span; each trains on the windows whose targets end before its first origin; "
           f"test: the last {horizon} steps of each series")
    return (windows.take(dev[:val_from]), windows.take(dev[val_from:]), windows.take(test), tuple(folds), how)


def stopping_split(dev: Windows, horizon: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The first backtest's own backtest, for its networks to stop early on (`Folds.stopping`): of the windows
    it fits on (targets ending before its first origin), the latest `horizon` origins to stop on, and the
    windows whose targets end before the first of those to fit on; rows of `dev` (train + validation, in
    `split_windows`' order). None where under MIN_FIT_WINDOWS windows would be left to fit on.

    >>> w = Windows(np.zeros((60, 1, 1)), pd.DataFrame(np.zeros((60, 2))), np.zeros(60, int), np.arange(61, 1, -1))
    >>> fit, stop = stopping_split(w, 2)  # distances 61..2: the test window is 0, the first backtest 2..3
    >>> w.distance[stop].tolist(), int(w.distance[fit].min())
    ([6, 5], 8)
    """
    d = dev.distance - horizon
    stop = np.flatnonzero((d >= 2 * horizon - 1) & (d < 3 * horizon - 1))
    fit = np.flatnonzero(d >= 4 * horizon - 2)
    return (fit, stop) if len(fit) >= MIN_FIT_WINDOWS and len(stop) else None


def forecast_spec(frame: pd.DataFrame, target: str, time: str | None, series: str | None, horizon: int,
                  dates_found: tuple[str, ...], known: tuple[str, ...] = ()) -> tuple[ForecastSpec, str]:
    """The forecast's settings from the table, and what to tell the user. `dates_found`: its date columns
    (the time column where --time is not given); `known`: the covariates known ahead (--known)."""
    if time is None:
        if len(dates_found) != 1:
            which = f"its date columns are {', '.join(dates_found)}" if dates_found else "it has no date column"
            raise AutosearchError(f"a forecast needs the column of times: {which}; name it with --time COLUMN")
        time = dates_found[0]
    for role, col in (("--time", time), ("--id", series)):
        if col is not None and col not in frame.columns:
            raise AutosearchError(f"{role} '{col}' is not a column of the data; name one of its columns")
    if time == target or series == target:
        raise AutosearchError("the target cannot also be the time or series column; name another with --target")
    dates, step, months, said = _grid(frame[time])
    if said == "at irregular steps":
        raise AutosearchError(f"the times in '{time}' come at irregular steps; resample the data to regular steps "
                              "(e.g. pandas' resample) before forecasting")
    season = season_of(dates, step, months)
    for col in known:
        if col not in frame.columns or col in (target, time, series):
            what = "is not a column of the data" if col not in frame.columns else "is the target, time or --id column"
            raise AutosearchError(f"--known '{col}' {what}; name a numeric column whose future values are known")
    covariates = tuple(c for c in frame.columns if c not in (target, time, series, *known)
                       and ptypes.is_numeric_dtype(frame[c]) and not ptypes.is_bool_dtype(frame[c])
                       and frame[c].nunique() > 1)
    lengths = frame.groupby(series).size() if series else pd.Series([len(frame)])
    lookback = int(min(max(2 * season, 3 * horizon, 12), MAX_LOOKBACK,
                       max(8, (int(lengths.median()) - horizon) // 2)))
    spec = ForecastSpec(target, time, series, covariates, horizon, lookback, season, dates, step, months,
                        _calendar(dates, step, months), tuple(known))
    several = f"{len(lengths)} series ('{series}'), one model across them" if series else "one series"
    with_covariates = (f"; past covariates {', '.join(covariates)}" if covariates else "") + (
        f"; known ahead {', '.join(known)}" if known else "")
    reason = (f"forecast {horizon} steps of '{target}' ahead, {several}; '{time}' steps {said.removeprefix('every ')}"
              f", a season of {season}; windows of the last {lookback} steps{with_covariates}")
    return spec, reason


def last_windows(frame: pd.DataFrame, spec: ForecastSpec) -> tuple[np.ndarray, pd.DataFrame]:
    """Each series' window of its last `lookback` steps (what a forecast of the next H is made from), and per
    series: its name, its last time, its last value and its scale (to put forecasts back in its units)."""
    missing = [c for c in (spec.time, spec.series, spec.target, *spec.covariates, *spec.known)
               if c and c not in frame.columns]
    if missing:
        raise AutosearchError(f"the history lacks column(s) the model needs: {', '.join(missing)}; give the series "
                              "with the columns they were fitted with")
    windows, rows = [], []
    for s in read_series(frame, spec):
        given = int(np.sum(~np.isnan(s.ahead[:spec.horizon]).any(axis=1))) if spec.known else 0
        if spec.known and given < spec.horizon:
            label = f"series '{s.name}'" if spec.series else "the series"
            raise AutosearchError(f"{label} has {given} steps after its last '{spec.target}' with every known "
                                  f"covariate ({', '.join(spec.known)}) where the forecast needs {spec.horizon}; add a "
                                  f"row for each of the {spec.horizon} steps ahead, the target empty and those "
                                  "columns filled")
        steps = _steps(s, spec)
        level, scale = steps[-1, 0], scale_of(s.values[:, 0], spec.scale_lag)
        windows.append(_window(steps, len(steps) - 1, spec.lookback, level, scale))
        rows.append({"series": s.name, "first": s.first, "steps": len(steps), "level": level, "scale": scale})
    if not windows:
        raise AutosearchError(f"the history has no rows with a time in '{spec.time}'; give the series to forecast")
    return np.stack(windows), pd.DataFrame(rows)


def forecast_frame(relative: np.ndarray, anchors: pd.DataFrame, spec: ForecastSpec,
                   bands: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The forecasts in each series' units, one row per series and step: [series], time, forecast, and a column
    for each of `bands` (name: (series, horizon) values in the windows' units, such as a quantile's)."""
    parts = []
    for i, a in anchors.iterrows():
        when = _stamps(spec, a["first"], np.arange(a["steps"], a["steps"] + spec.horizon))
        values = {name: a["level"] + band[i] * a["scale"]
                  for name, band in {"forecast": relative, **(bands or {})}.items()}
        part = pd.DataFrame({spec.time: when, **values})
        if spec.series:
            part.insert(0, spec.series, a["series"])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def forecast_example(frame: pd.DataFrame, spec: ForecastSpec) -> pd.DataFrame:
    """A short history to show what `predict` takes (the MLflow Model's input example): the first series'
    latest `lookback` steps; with covariates known ahead, its last H steps are the steps ahead, the target
    emptied."""
    part = frame[frame[spec.series] == frame[spec.series].iloc[0]] if spec.series else frame
    order = np.argsort(order_values(part[spec.time]), kind="stable")
    example = part.iloc[order[-spec.lookback - (spec.horizon if spec.known else 0):]].reset_index(drop=True)
    if spec.known:
        example[spec.target] = example[spec.target].astype(np.float64)
        example.loc[len(example) - spec.horizon:, spec.target] = np.nan
    return example
