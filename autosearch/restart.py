"""A long search in one process restarts that process when its memory has grown too much, and goes on.

TensorFlow keeps about 4 MB of every network a process has trained (each model's traced steps stay alive
after `clear_session()`; README, *Reliability*), so an overnight sweep of 1,000 trials would grow by 4 GB.
Between two trials, once the process has grown `limit_mb` since its search began, the sitting ends as a
stop does but without writing results, and the command line replaces its process with a fresh one
(`os.execv`: the same PID, terminal and log file) that resumes the run: the budget still counts from the
first start. Only the command line can do that, so only it sets a limit (`AUTOSEARCH_MAX_GROWTH_MB`,
default 1024; 0 never); a search run from Python (`autosearch.fit`) grows as before.
"""

from __future__ import annotations

import os
import sys

import psutil

LIMIT_ENV = "AUTOSEARCH_MAX_GROWTH_MB"
STARTED_ENV = "AUTOSEARCH_STARTED"  # time.monotonic() when the first process of the command started
DEFAULT_LIMIT_MB = 1024.0
RESTART_SECONDS = 30.0  # a restart is not worth it with less search time left (one takes ~8 s: imports, the data)

_limit_mb: float | None = None  # set by the command line (`allow`): None, this process never restarts


class Restart(BaseException):
    """Ends a sitting so that its process can be replaced by a fresh one running `args` (after `autosearch`).
    A BaseException: no handler of failed trials or sweep runs takes it for an error."""

    def __init__(self, args: list[str]):
        super().__init__(" ".join(args))
        self.args_again = args


def allow() -> None:
    """Let this process restart itself (the command line calls this), at `AUTOSEARCH_MAX_GROWTH_MB`."""
    global _limit_mb
    text = os.environ.get(LIMIT_ENV, "").strip()
    try:
        limit = float(text) if text else DEFAULT_LIMIT_MB
    except ValueError:
        print(f"warning: {LIMIT_ENV}={text!r} is not a number of MB; using {DEFAULT_LIMIT_MB:g}", file=sys.stderr)
        limit = DEFAULT_LIMIT_MB
    _limit_mb = limit if limit > 0 else None


def resident_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


class MemoryWatch:
    """How much this process has grown since the watch began; `exceeded` says why to restart, or None."""

    def __init__(self) -> None:
        self.limit_mb = _limit_mb
        self.start_mb = resident_mb() if self.limit_mb is not None else 0.0
        self.trials = 0

    def exceeded(self) -> str | None:
        """Call after each trial this process trained."""
        if self.limit_mb is None:
            return None
        self.trials += 1
        grown = resident_mb() - self.start_mb
        if grown < self.limit_mb:
            return None
        trials = f"{self.trials} trial" + ("s" if self.trials != 1 else "")
        return (f"this process grew {grown:,.0f} MB over {trials} (TensorFlow keeps part of every "
                f"network it trained; limit {LIMIT_ENV}={self.limit_mb:g})")


def started_before() -> float | None:
    """When the first process of a restarted command started (time.monotonic(), the same clock after
    `os.execv`), or None in a first process."""
    text = os.environ.pop(STARTED_ENV, None)
    try:
        return float(text) if text else None
    except ValueError:
        return None


def replace_process(args: list[str], started: float) -> None:
    """Replace this process with `python -m autosearch ARGS` (never returns); its budget counts from `started`."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[STARTED_ENV] = repr(started)
    os.execv(sys.executable, [sys.executable, "-m", "autosearch", *args])
