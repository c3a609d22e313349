"""The budget plan: how a run's time is shared between the classical candidates and the networks.

With a time budget, the classical candidates get CLASSICAL_SHARE of the training time left when they start
(on images, series and text they also end within the first quarter of the budget, so that the networks, the
point of those kinds, start by then); the networks get the rest, each trial at most a NETWORK_TRIALS-th of it
(`trial_seconds`). The dummy runs first, here. Each other one in
turn may take a third of what is left of the share, in a process of its own (isolation.py) that is stopped
when the share is spent: it is then recorded as cut short, never used as complete. There, where its folds are
large, its cost is estimated first from timed fits on two small samples (`probe`), scaled to the fold's rows
with the candidate's growth; one whose estimate exceeds its part is fitted on a sample that fits, or skipped
(the linear model never is). Without a budget every candidate is fitted here on every row (a kernel SVM on at
most `baselines.SVM_MAX_ROWS`).

The plan (the shares, each candidate's estimate, rows, outcome and why) is a `Plan`: printed, kept in the run's
database and written to summary.json and the report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from autosearch.baselines import (
    CLASSICAL,
    Collector,
    Fitting,
    estimator_output,
    fitted,
    fold_outputs,
    sample_cap,
)
from autosearch.errors import describe
from autosearch.problem import Folds
from autosearch.records import State, TrialRecord
from autosearch.tasks import Task

# The classical candidates' share of the training time (measured in scripts/bench_scale.py: at 2 minutes they
# were the pick on tables, not on images and series, and every network trial in the other three quarters counts)
CLASSICAL_SHARE = 0.25
FIRST_QUARTER = 0.25  # on images, series and text the first network trial starts within this part of the budget
PROBE_CELLS = 300_000  # the larger timing sample holds about this many values (rows × features)...
PROBE_ROWS = (100, 2000)  # ...within these rows; the smaller sample is a quarter of it
PROBE_SCORE_ROWS = 1000  # predictions timed on this many score rows
LOCAL_PROBE_ROWS = 20  # a local candidate's predictions (a model fitted on each) are timed on this many samples
PROBE_GROWTH = 4  # a timing sample too small to tell whether every row fits grows this many times over
PLAN_KEY = "budget_plan"  # where the run's database keeps the plan (TrialStore.set), for a resumed sitting
MARGIN = 0.8  # the rows chosen are estimated to take this much of a candidate's part: an SVM estimated at 6.4 s
              # of its 6.8 s took longer and was stopped, its time lost
MIN_ROWS = 500  # a candidate whose part of the share fits fewer rows than this is skipped
NETWORK_TRIALS = 5  # no network trial past a family's first trains longer than this part of the networks'
                    # time (auto-sklearn caps each run at a tenth of its budget)


@dataclass(frozen=True)
class Estimate:
    """A candidate's time for one fold as fit(rows) = fixed + per_row * rows ** growth, plus its predictions
    (`predict` seconds per score row, measured after fitting `probe_rows`; a kernel SVM's grow with the rows it
    fitted: its support vectors)."""

    fixed: float
    per_row: float
    growth: float
    predict: float
    probe_rows: int
    predict_grows: bool = False

    def seconds(self, rows: int, score_rows: int, folds: int) -> float:
        """All `folds` folds' time at `rows` fitted and `score_rows` predicted a fold."""
        predict = self.predict * score_rows * (rows / self.probe_rows if self.predict_grows else 1.0)
        return folds * (self.fixed + self.per_row * rows ** self.growth + predict)


@dataclass(frozen=True)
class Line:
    """One classical candidate's part in the plan, and how it went."""

    name: str
    action: str  # fit (every row) | sample | skip | earlier (fitted in an earlier sitting)
    rows: int  # rows it fits a fold (its sample's, or all)
    of: int  # the fold's rows
    estimate: float | None = None  # seconds for every fold at `rows` (None: not estimated: no budget, or small folds)
    limit: float | None = None  # seconds after which it is stopped
    seconds: float | None = None  # what it took
    outcome: str | None = None  # complete | cut short | failed | skipped
    why: str = ""

    def what(self) -> str:
        """What was fitted, as printed."""
        what = {"fit": f"all {self.of:,} rows a fold", "earlier": "fitted in an earlier sitting",
                "sample": f"a sample of {self.rows:,} of {self.of:,} rows a fold", "skip": "skipped"}[self.action]
        estimate = f", ~{self.estimate:.1f}s estimated" if self.estimate is not None and self.action != "skip" else ""
        return f"{what}{estimate}" + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class Plan:
    """The time budget's shares and the classical candidates' lines; `budget` None: no budget."""

    budget: float | None
    classical: float | None  # seconds for the classical candidates, from when they start
    networks: float | None  # seconds for the networks' trials after them (before the refit and the results)
    lines: tuple[Line, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(**{**data, "lines": tuple(Line(**line) for line in data.get("lines", ()))})

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    def with_line(self, line: Line) -> Plan:
        return dataclasses.replace(self, lines=(*[x for x in self.lines if x.name != line.name], line))

    def shown(self) -> str:
        if self.budget is None:
            return "budget plan: no time budget: every classical candidate is fitted on every row"
        return (f"budget plan: {self.budget:.0f}s in all; the classical candidates {self.classical:.0f}s, "
                f"the networks {self.networks:.0f}s (past each family's first trial, a trial at most "
                f"~{self.networks / NETWORK_TRIALS:.0f}s), then the refit and the results")


def trial_seconds(deadline: float | None) -> float | None:
    """The most seconds one network trial trains (epochs that start later do not run, `training.TimeCap`): a
    NETWORK_TRIALS-th of the training time left when the search starts, so that the search tries several
    networks where one would otherwise take it all; None without a budget. A family's first trial (its defaults,
    `trial_runner.train_trial`; keras-tuner's random first, `TrialRunner.train`) is not capped: capping it cost
    more than the trials it made room for gained (scripts/bench_scale.py at 2 minutes: a 10,000-row table 1.087
    RMSE instead of 1.052 from 7 trials instead of 3; 5,000 28×28 images 0.971 instead of 0.978, the first
    resnet2d stopped after 1 epoch at 0.88)."""
    return None if deadline is None else max(deadline - time.monotonic(), 0.0) / NETWORK_TRIALS


def classical_seconds(deadline: float | None, started: float, budget: float | None, image_like: bool) -> float | None:
    """The classical candidates' share of the time from now to `deadline` (the end of training); None without a
    budget. On images, series and text it also ends within FIRST_QUARTER of the budget that began at `started`."""
    if deadline is None or budget is None:
        return None
    now = time.monotonic()
    share = CLASSICAL_SHARE * (deadline - now)
    if image_like:
        share = min(share, started + FIRST_QUARTER * budget - now)
    return max(share, 0.0)


def _cells(x: Any) -> float:
    """Values a row (stored values, for a sparse matrix)."""
    if hasattr(x, "nnz"):
        return max(x.nnz / max(x.shape[0], 1), 1.0)
    return float(np.prod(x.shape[1:])) if x.ndim > 1 else 1.0


def probe(fitting: Fitting, x: Any, y: np.ndarray, fit: np.ndarray, score: np.ndarray,
          too_slow: float = math.inf, enough: Callable[[Estimate, float], bool] | None = None) -> Estimate | None:
    """Time the candidate fitted on seeded samples of the rows `fit` of `x` (about PROBE_CELLS values, and a
    quarter of them) and predicting PROBE_SCORE_ROWS of the rows `score`; the estimate through the last two
    points with the candidate's growth. None where the first fit took longer than `too_slow`; where the second
    did, the estimate through the two (the time is spent: what it says decides the rows).

    Small samples overstate what a row costs where a fit has a large cost of its own per iteration (histogram
    gradient boosting: 0.33 s on 500 rows, 0.50 s on 2,000, 8.7 s on 640,000: through the first two, ~72 s),
    so while `enough(estimate, seconds spent)` is false the sample grows PROBE_GROWTH-fold, up to half the
    rows, as long as the next fit is estimated within `too_slow`."""
    low, high = PROBE_ROWS
    big = int(min(max(PROBE_CELLS / _cells(x), low), high, len(fit)))
    small = max(big // 4, 20)
    rows = np.random.default_rng(fitting.seed).permutation(fit)
    scored = x[score[:PROBE_SCORE_ROWS]]
    began = time.perf_counter()

    def timed(n: int) -> tuple[int, float, float]:
        started = time.perf_counter()
        estimator = fitted(fitting.estimator(n), x[rows[:n]], fitting.target(y[rows[:n]]))
        done = time.perf_counter()
        estimator_output(estimator, scored, fitting.task, fitting.n_outputs)
        return n, done - started, (time.perf_counter() - done) / max(scored.shape[0], 1)

    points = [timed(small)]
    if points[0][1] > too_slow:
        return None
    points.append(timed(big))
    if points[-1][1] > too_slow:
        return _through(fitting, *points)
    while True:
        estimate = _through(fitting, *points[-2:])
        grown = points[-1][0] * PROBE_GROWTH
        if (enough is None or enough(estimate, time.perf_counter() - began) or grown > len(fit) // 2
                or estimate.seconds(grown, scored.shape[0], 1) > too_slow):  # scored: sparse for text
            return estimate
        points.append(timed(grown))


def _through(fitting: Fitting, first: tuple[int, float, float], second: tuple[int, float, float]) -> Estimate:
    """The estimate through two timed fits (rows, fit seconds, predict seconds a row) with the candidate's growth."""
    growth = CLASSICAL[fitting.name].growth
    (small, t_small, _), (big, t_big, predict) = first, second
    per_row = max(t_big - t_small, 0.0) / (big ** growth - small ** growth) if big > small else 0.0
    fixed = max(t_big - per_row * big ** growth, 0.0)
    if per_row == 0.0:  # no growth seen (noise at tiny samples): all of it scales, the safe side
        per_row, fixed = t_big / big ** growth, 0.0
    return Estimate(fixed, per_row, growth, predict, big, predict_grows=fitting.name == "svm")


def rows_within(estimate: Estimate, seconds: float, of: int, score_rows: int, folds: int,
                cap: int | None = None) -> int | None:
    """The most rows (up to `of`, and `cap`) whose estimate fits in `seconds`; None where not even MIN_ROWS do.

    >>> e = Estimate(fixed=0.0, per_row=0.001, growth=1.0, predict=0.0, probe_rows=100)
    >>> rows_within(e, 10.0, 50_000, 0, folds=5), rows_within(e, 100.0, 2_000, 0, folds=5)
    (2000, 2000)
    >>> rows_within(e, 1.0, 50_000, 0, folds=5) is None
    True
    """
    top = min(of, cap or of)
    if estimate.seconds(top, score_rows, folds) <= seconds:
        return top
    low = min(MIN_ROWS, top)
    if estimate.seconds(low, score_rows, folds) > seconds:
        return None
    while top - low > 1:  # the estimate grows with the rows: bisect
        middle = (low + top) // 2
        low, top = (middle, top) if estimate.seconds(middle, score_rows, folds) <= seconds else (low, middle)
    return low


def planned_folds(fitting: Fitting, x: Any, y: np.ndarray, splits, part: float | None, keep: bool
                  ) -> Iterator[tuple]:
    """A classical candidate's work, wherever it runs: choose its rows, then fit its folds. With `part` seconds
    for it (None: no budget) and folds too large to be sure, it is timed on samples first (`probe`) and fitted
    on the most rows whose estimate fits in what is left of `part`, or skipped where not even MIN_ROWS do
    (`keep`: fitted on MIN_ROWS all the same). Yields ("skip", estimate, why), or ("plan", rows, estimate, why)
    and then ("fold", (index, output, seconds)) for each fold."""
    fit, score = splits[0]
    of, cap = len(fit), sample_cap(fitting.name, fitting.sparse)
    if CLASSICAL[fitting.name].local:
        yield from _local_folds(fitting, x, y, splits, part)
        return
    top = min(of, cap or of)
    rows, estimate, why = top, None, "" if top == of else f"a kernel SVM on at most {cap:,} rows"
    trees = 1 if fitting.task is Task.BINARY else fitting.n_outputs  # a tree (or a fit) per class, label or target
    untimed = of <= PROBE_ROWS[1] or of * _cells(x) * len(splits) * trees <= CLASSICAL[fitting.name].whole_values
    if part is not None and (not untimed or top < of):
        started = time.perf_counter()

        def enough(estimate: Estimate, spent: float) -> bool:  # every row fits what is left of the part
            return estimate.seconds(top, len(score), len(splits)) <= MARGIN * (part - spent)

        timed = probe(fitting, x, y, fit, score, too_slow=part / 4, enough=enough)
        left = part - (time.perf_counter() - started)
        full = None if timed is None else timed.seconds(top, len(score), len(splits))
        chosen = None if timed is None else rows_within(timed, MARGIN * left, of, len(score), len(splits), cap)
        if chosen is None:
            why = (f"~{full:.0f}s on {top:,} rows" if full is not None else
                   f"its timing fit on a small sample alone took over {part / 4:.1f}s") + \
                f"; not even {MIN_ROWS} rows fit its {part:.1f}s"
            if not keep:
                yield "skip", full, why
                return
        rows = chosen or min(MIN_ROWS, top)
        if rows < top:
            why = why if chosen is None else f"~{full:.0f}s on {top:,} rows; its part of the share is {part:.1f}s"
        estimate = None if timed is None else timed.seconds(rows, len(score), len(splits))
    yield "plan", rows, estimate, why
    for item in fold_outputs(fitting, x, y, splits, rows if rows < of else None):
        yield "fold", item


def _local_folds(fitting: Fitting, x: Any, y: np.ndarray, splits, part: float | None) -> Iterator[tuple]:
    """`planned_folds` for a candidate fitted on each sample alone when it predicts (baselines.Classical.local):
    its time is its predictions, whatever rows it "fits". With a budget, its predictions are timed one sample
    at a time on up to LOCAL_PROBE_ROWS of them; it is skipped as soon as every fold's would not fit its part
    (on elecdemand's 144 windows of season 48, timing 20 took 12 s of the share: half a second each)."""
    of, windows = len(splits[0][0]), sum(len(score) for _, score in splits)
    estimate = None
    if part is not None:
        started = time.perf_counter()
        estimator = fitted(fitting.estimator(of), x[:1], fitting.target(y[:1]))
        estimator_output(estimator, x[:1], fitting.task, fitting.n_outputs)  # its imports, untimed
        timed = time.perf_counter()
        for n, row in enumerate(splits[0][1][:LOCAL_PROBE_ROWS], start=1):
            estimator_output(estimator, x[[row]], fitting.task, fitting.n_outputs)
            now = time.perf_counter()
            estimate = (now - timed) / n * windows
            if estimate > MARGIN * (part - (now - started)):
                yield "skip", estimate, f"~{estimate:.0f}s to forecast {windows:,} windows; its part is {part:.1f}s"
                return
    yield "plan", of, estimate, ""
    for item in fold_outputs(fitting, x, y, splits, None):
        yield "fold", item


Found = tuple[TrialRecord | None, np.ndarray | None, Line]
PARTS = 3  # a candidate may take up to a third of what is left of the share: the first ones (the strongest for
           # their cost) fit on more rows; with equal parts, 3.6 s each on 10,000 rows, the forests were skipped
LOCAL_PART = 0.5  # a local candidate (baselines.Classical.local) may take up to this much of what is left
MIN_SECONDS = 0.5  # a candidate starts only with this much of the share left…
KEEP_SECONDS = 2.0  # …but the linear model, which is never skipped, is given this much at least


def fit_classical(names: Sequence[str], folds: Folds, share: float | None,
                  interrupted: Callable[[], str | None]) -> Iterator[Found]:
    """Fit the classical candidates `names` on the folds within `share` seconds from now (None: no budget),
    one at a time: for each, its record and out-of-fold predictions (None for one skipped, cut short or
    failed) and its line of the plan. `interrupted()` gives a reason to stop (a signal, the budget)."""
    end = None if share is None else time.monotonic() + share
    rest = [n for n in names if CLASSICAL[n].family != "dummy"]
    if share is not None and rest:  # none to fit (a resumed run): no fork server, whose start takes seconds of CPU
        from autosearch.isolation import warm_up

        warm_up()  # its imports overlap the dummy's fit
    of = len(folds.splits[0][0])
    for name in names:
        if CLASSICAL[name].family == "dummy":  # the yardsticks: always, here
            yield _fit_one(Fitting.of(name, folds.first), folds, None, None, interrupted)
            continue
        left = None if end is None else end - time.monotonic()
        keep = CLASSICAL[name].keep
        why = interrupted() or (None if left is None or left >= MIN_SECONDS or keep else "the share is spent")
        if why is not None:
            yield None, None, Line(name, "skip", 0, of, outcome="skipped", why=why)
            continue
        part = None if left is None else left / min(len(rest) - rest.index(name), PARTS)
        if part is not None and CLASSICAL[name].local:  # no sample of it saves time: all of it, or none
            part = max(part, left * LOCAL_PART)
        if keep and left is not None:  # never skipped: given the time for a small sample at least
            left, part = max(left, KEEP_SECONDS), max(part, KEEP_SECONDS)
        yield _fit_one(Fitting.of(name, folds.first), folds, part, left, interrupted)


def _fit_one(fitting: Fitting, folds: Folds, part: float | None, limit: float | None,
             interrupted: Callable[[], str | None]) -> Found:
    """One candidate's `planned_folds`: in a process of its own stopped after `limit` seconds, or here without a
    limit."""
    x = folds.views[folds.first.spec.baseline_view]
    of = len(folds.splits[0][0])
    collector = Collector(fitting, folds, None)
    line = Line(fitting.name, "fit", of, of, limit=limit)
    args = (fitting, x, folds.y, folds.splits, part, CLASSICAL[fitting.name].keep)

    def take(item: tuple) -> None:
        nonlocal line
        if item[0] == "fold":
            collector.add(item[1])
        elif item[0] == "skip":
            line = dataclasses.replace(line, action="skip", rows=0, estimate=item[1], why=item[2])
        else:
            collector.rows = item[1] if item[1] < of else None
            line = dataclasses.replace(line, action="fit" if item[1] >= of else "sample", rows=item[1],
                                       estimate=item[2], why=item[3])

    started = time.monotonic()
    if limit is None:
        error, cut = None, None
        try:
            for item in planned_folds(*args):
                take(item)
        except Exception as e:  # a failing candidate must not end the run
            error = describe(e)
    else:
        from autosearch.isolation import run_limited

        outcome = run_limited(planned_folds, args, limit, take, interrupted)
        error, cut = outcome.error, outcome.cut
    if line.action == "skip":
        return None, None, dataclasses.replace(line, outcome="skipped", seconds=time.monotonic() - started)
    record, predictions = collector.record(error=error, cut=cut)
    if record.state is not State.COMPLETE:
        record = dataclasses.replace(record, fit_seconds=time.monotonic() - started)
    return record, predictions, _line(line, record)


def _line(line: Line, record: TrialRecord) -> Line:
    outcome = {State.COMPLETE: "complete", State.PRUNED: "cut short", State.FAILED: "failed"}[record.state]
    return dataclasses.replace(line, seconds=record.fit_seconds, outcome=outcome)
