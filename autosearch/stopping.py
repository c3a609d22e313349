"""When a sweep must wind down: its time budget is nearly spent, or it was asked to stop (Ctrl-C, SIGTERM).

Either way the running trial stops after its current batch, and `fit` still refits the winner and
writes its results; a second Ctrl-C aborts at once. A process whose memory grew too much stops between
two trials instead, for a fresh one to take the search over (`autosearch.restart`).
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

from autosearch.leaderboard import ranked
from autosearch.records import State, TrialRecord
from autosearch.restart import RESTART_SECONDS

# kept back for writing the bundle, the leaderboard, the report and MLflow artifacts, and logging the MLflow Model
# (0.4-1 s measured, more under load: MLflow loads the model once to check its input example)
FINISH_SECONDS = 10.0
# the report and its plots, skipped when less is left of the budget (`autosearch report` writes it later): 2.6 s
# measured on breast cancer with 10 candidates on 2 idle cores, about twice that with the cores busy
REPORT_SECONDS = 5.0
REFIT_FACTOR = 1.25  # a refit trains on train+validation: ~25 % more data than a trial's fold
REFITS = 3  # the slowest refits among the best candidates are kept back: a typical ensemble's members…
POOL = 5  # …among the 5 best so far (a candidate far behind is not refitted; a slow one used to hold back time)
KEPT_SECONDS = 2.0  # building a network's kept fold models and averaging them (trial_runner.kept_bag), where its
                   # trial did not measure it (a cut trial's; a record stored before `kept_seconds`)
LONG_BUDGET = 600.0  # seconds: from this budget on, a search that settles (`settled`) ends, for its best networks
                     # to be bagged (`bagging.py`); shorter ones search to the end (no change at 2 minutes)
SETTLED = 20  # a search settles after this many trials, or half of all, without a better network: twice the 10
              # random trials TPE starts from (Optuna's n_startup_trials)


def settled(records: Sequence[TrialRecord], metric) -> str | None:
    """Why the search is over before its budget (its time is better spent bagging its best networks, `bagging.py`),
    or None: the best network is SETTLED trials old, or half of all the trials, whichever is more.

    >>> from autosearch.metrics import get_metric
    >>> from autosearch.tasks import Task
    >>> def trial(n, score): return TrialRecord(f"dense-{n:03d}", "nn", "dense", {}, State.COMPLETE, score, 1.0,
    ...                                       number=n)
    >>> trials = [trial(n, 0.9 if n == 4 else 0.8) for n in range(24)]
    >>> settled(trials[:24], get_metric("accuracy", Task.BINARY)) is None  # 19 trials since the best
    True
    >>> settled(trials + [trial(24, 0.85)], get_metric("accuracy", Task.BINARY))
    'the search settled: no better network in the 20 trials since dense-004'
    """
    networks = [r for r in records if r.number is not None and r.repeats == 1]
    complete = [r for r in networks if r.state is State.COMPLETE and r.val_score is not None]
    if not complete:
        return None
    best = ranked(complete, metric)[0]
    since = sum(1 for r in networks if r.number > best.number)
    if since < max(SETTLED, len(networks) // 2):
        return None
    return f"the search settled: no better network in the {since} trials since {best.name}"


def kept_refit_seconds(record: TrialRecord) -> float:
    """What serving a network from its kept fold models takes (built, not trained): as its trial measured it
    (`trial_runner.kept_seconds`), or for a record stored without that, `KEPT_SECONDS` at most."""
    if record.kept_seconds is not None:
        return record.kept_seconds
    return min(KEPT_SECONDS, record.refit_seconds)


def _reserve(refits) -> float:
    """What the budget keeps back: writing the results, the `refits` (seconds each), and building the kept
    models of the trial the deadline cuts short, which may join them."""
    return FINISH_SECONDS + REFIT_FACTOR * (KEPT_SECONDS + sum(refits))


class Stop:
    """The one place that knows whether to stop: a deadline and/or a signal.

    Training code registers a `halt` function with `watch`; the signal handler, or a timer set for the
    deadline, calls it at once, so nothing needs to poll between batches.
    """

    def __init__(self, budget_end: float | None = None):
        self.budget_end = budget_end  # time.monotonic() by which everything must be written
        self.reserve = _reserve(())  # grows with the slowest candidates seen (see `expect_refit`)
        self._candidates: list[tuple[float, float]] = []  # (merit: higher is better, refit seconds)
        self.wind_down = 0.0  # what the engine takes to end its trials and let go of its workers
        self.signal_name: str | None = None
        self.restart: str | None = None  # why this process should be replaced by a fresh one (`restart`)
        self.settles = False  # whether the search ends once it settles (`bagging.settled`; set for long budgets)
        self.settled: str | None = None  # why it did, if it did: the time left goes to bagging
        self._halt: Callable[[], None] | None = None
        self._timer: threading.Timer | None = None

    def watch(self, halt: Callable[[], None]) -> None:
        """Call `halt` (from any thread) as soon as a stop is requested, until `unwatch`."""
        self._halt = halt
        if self.deadline is not None:
            self._timer = threading.Timer(max(self.deadline - time.monotonic(), 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()

    def unwatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._halt = self._timer = None

    def _fire(self) -> None:
        halt = self._halt
        if halt is not None:
            halt()

    @property
    def deadline(self) -> float | None:
        """When training must end so that refitting and writing still fit in the budget."""
        return None if self.budget_end is None else self.budget_end - self.reserve - self.wind_down

    def expect_refit(self, record: TrialRecord, greater_is_better: bool, kept: bool = False) -> None:
        """Refitting a completed candidate (a `TrialRecord`) would take about its `refit_seconds`, or
        `KEPT_SECONDS` for a network whose fold models are kept (`kept`: built, not trained): if it is
        picked, in the ensemble or compared on test, that refit must fit in the budget too. Kept back: the
        `REFITS` slowest refits among the `POOL` best candidates so far (one that did not complete is never
        refitted), and building the kept models of the trial the deadline cuts short, which may join them (on
        diamonds, 2 minutes: without it the ensemble of the cut trial, the first and a baseline missed its
        refit by 2 s and gave way to a single candidate)."""
        score = record.val_score
        if record.state is not State.COMPLETE or score is None or score != score:
            return
        seconds = kept_refit_seconds(record) if kept else record.refit_seconds
        self._candidates.append((score if greater_is_better else -score, seconds))
        best = sorted(self._candidates, key=lambda c: c[0], reverse=True)[:POOL]
        self.reserve = _reserve(sorted(s for _, s in best)[-REFITS:])

    def left(self) -> float:
        """Seconds until the budget ends (infinite without one)."""
        return float("inf") if self.budget_end is None else self.budget_end - time.monotonic()

    def trains(self, seconds: float) -> bool:
        """Whether `seconds` more training end before the deadline (what is kept back for the refits and writing
        the results comes after it)."""
        return self.deadline is None or time.monotonic() + seconds <= self.deadline

    def fits(self, seconds: float) -> bool:
        """Whether `seconds` more work, and then writing the results, still end inside the budget."""
        return self.budget_end is None or time.monotonic() + seconds + FINISH_SECONDS <= self.budget_end

    @property
    def requested(self) -> bool:
        return self.signal_name is not None or self.restart is not None or self.settled is not None \
            or self.budget_spent

    @property
    def budget_spent(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def reason(self) -> str | None:
        """Why to stop now (`why`), or None while the work may go on."""
        return self.why if self.requested else None

    @property
    def why(self) -> str:
        if self.signal_name:
            return f"{self.signal_name} received"
        if self.settled and not self.budget_spent:
            return self.settled
        return "time budget reached" if self.budget_spent or self.restart is None else "restarting this process"

    def settle(self, why: str | None) -> None:
        """End the search between two trials for `why` (None: not settled), where the search `settles`."""
        if why and self.settles and self.settled is None:
            self.settled = why

    def ask_restart(self, why: str | None) -> None:
        """End the search between two trials so that a fresh process takes it over (`restart`) for `why` (None:
        no reason, nothing to do), unless the search would end before the restart did (`RESTART_SECONDS`)."""
        in_time = self.deadline is None or self.deadline - time.monotonic() > RESTART_SECONDS
        if why and self.restart is None and in_time:
            self.restart = why  # engines start no new trial once `requested`; none is cut short

    @contextmanager
    def on_signals(self, announce: Callable[[str], None]) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM ask to stop; a second one raises KeyboardInterrupt."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(number, frame):
            if self.signal_name is not None:
                raise KeyboardInterrupt
            self.signal_name = signal.Signals(number).name
            self._fire()
            # Said from a thread: the signal may land while this (main) thread is inside a write to stderr, and
            # writing again from the handler raised "reentrant call inside BufferedWriter" (a traceback, exit 1).
            threading.Thread(target=announce, args=(f"{self.signal_name}: stopping after the current step to write "
                                                    "results (press Ctrl-C again to abort at once)",)).start()

        previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
