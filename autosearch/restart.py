"""A long search in one process restarts that process when its memory has grown too much, and goes on.

TensorFlow keeps about 4 MB of every network a process has trained (each model's traced steps stay alive after
`clear_session()`; docs/guide/reliability.md), so an overnight sweep of 1,000 trials would grow by 4 GB. Between two
trials, once the process has grown `limit_mb` since its search began, the sitting ends as a stop does but
without writing results, and the command line replaces its process with a fresh one (`os.execv`: the same PID,
terminal and log file) that resumes the run: the budget still counts from the first start, and the run folder's
lock stays held (the fresh process adopts the open file that holds it), so no other process takes the run over
in between. Only the command line can do that, so only it sets a limit (`AUTOSEARCH_MAX_GROWTH_MB`, default
1024; 0 never); a search run from Python (`autosearch.fit`) grows as before.

Ray's trial workers are processes Tune reuses from trial to trial: each reports how much it grew since its
first trial, and one past the limit restarts the command the same way. Its actors end with the process that
made them, so the fresh process's trials run in fresh workers; a trial another worker was training when the
search stopped is cut short and recorded as stopped, as at the end of a budget.
"""

from __future__ import annotations

import os
import sys

import psutil

LIMIT_ENV = "AUTOSEARCH_MAX_GROWTH_MB"
STARTED_ENV = "AUTOSEARCH_STARTED"  # time.monotonic() when the first process of the command started
LOCK_ENV = "AUTOSEARCH_LOCK"  # the run folder's lock, held through the restart: "fd:device:inode"
DEFAULT_LIMIT_MB = 1024.0
RESTART_SECONDS = 30.0  # a restart is not worth it with less search time left (one takes ~8 s: imports, the data)

_limit_mb: float | None = None  # set by the command line (`allow`): None, this process never restarts
_inherited: tuple[int, int, int] | None = None  # the lock the process before this one handed over (`inherit_lock`)


class Restart(BaseException):
    """Ends a sitting so that its process can be replaced by a fresh one running `args` (after `autosearch`).
    A BaseException: no handler of failed trials or sweep runs takes it for an error."""

    def __init__(self, args: list[str], lock=None):
        super().__init__(" ".join(args))
        self.args_again = args
        self.lock = lock  # the open file that holds the run folder's flock, for the fresh process to keep


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
        self.start_mb = resident_mb() if _limit_mb is not None else 0.0
        self.trials = 0

    def exceeded(self) -> str | None:
        """Call after each trial this process trained."""
        if _limit_mb is None:
            return None
        self.trials += 1
        return too_much(resident_mb() - self.start_mb, self.trials)


def too_much(grown_mb: float, trials: int, who: str = "this process") -> str | None:
    """Why to restart when `who` grew `grown_mb` over its `trials` past the limit, else None."""
    if _limit_mb is None or grown_mb < _limit_mb:
        return None
    counted = f"{trials} trial" + ("s" if trials != 1 else "")
    return (f"{who} grew {grown_mb:,.0f} MB over {counted} (TensorFlow keeps part of every network it "
            f"trained; limit {LIMIT_ENV}={_limit_mb:g})")


def started_before() -> float | None:
    """When the first process of a restarted command started (time.monotonic(), the same clock after
    `os.execv`), or None in a first process."""
    text = os.environ.pop(STARTED_ENV, None)
    try:
        return float(text) if text else None
    except ValueError:
        return None


def inherit_lock() -> None:
    """In a restarted process, at once: take the lock the process before handed over, so that nothing this
    process starts (Ray, a tracking server) inherits it."""
    global _inherited
    text = os.environ.pop(LOCK_ENV, None)
    try:
        fd, device, inode = (int(part) for part in (text or "").split(":"))
        os.set_inheritable(fd, False)
    except (ValueError, OSError):
        return
    _inherited = fd, device, inode


def inherited_lock(path) -> int | None:
    """The file descriptor holding `path`'s lock, handed over by the process before this one, or None."""
    global _inherited
    if _inherited is None:
        return None
    fd, device, inode = _inherited
    try:
        info = os.stat(path)
    except OSError:
        return None
    if (info.st_dev, info.st_ino) != (device, inode):
        return None
    _inherited = None
    return fd


def replace_process(args: list[str], started: float, lock=None) -> None:
    """Replace this process with `python -m autosearch ARGS` (never returns); its budget counts from `started`.
    `lock`, the open file that holds a run folder's flock, stays open in it: the fresh process adopts it
    (`inherited_lock`), so no other process takes the run over in between."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.environ[STARTED_ENV] = repr(started)
    if lock is not None:
        fd = lock.fileno()
        os.set_inheritable(fd, True)
        info = os.fstat(fd)
        os.environ[LOCK_ENV] = f"{fd}:{info.st_dev}:{info.st_ino}"
    os.execv(sys.executable, [sys.executable, "-m", "autosearch", *args])
