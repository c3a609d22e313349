"""Run a piece of work in a process of its own that can be stopped at a time limit: a scikit-learn fit cannot
be interrupted inside the process that runs it, but a process can be killed.

The work is a generator function of an importable module (the new process does not run `__main__`): each
item it yields comes back here as it is made (a fold's predictions), so what finished before the limit is kept.
Processes start from a fork server (a clean process that loaded scikit-learn once), never by forking this one:
TensorFlow's and OpenMP's threads do not survive a fork.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

POLL_SECONDS = 0.25  # how often the wait checks `interrupted` (Ctrl-C, SIGTERM)
PRELOAD = ["autosearch.baselines"]  # imported once by the fork server: each process starts with scikit-learn


@dataclass(frozen=True)
class Outcome:
    """How the work ended: `finished`, or the error it raised, or stopped at the limit (`cut`: why)."""

    finished: bool
    error: str | None = None
    cut: str | None = None


def _context():
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    return context


def warm_up() -> None:
    """Start the fork server now (it imports scikit-learn, ~2 s), while this process does other work."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        with _main_hidden():
            forkserver.ensure_running()


@contextmanager
def _main_hidden() -> Iterator[None]:
    """While a process starts: the work needs nothing of `__main__`, and multiprocessing would run the user's
    script again in the new process to rebuild it (a script without `if __name__ == "__main__"` would start its
    fit again there)."""
    main = sys.modules.get("__main__")
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if main and name in main.__dict__}
    try:
        if main is not None:
            main.__spec__ = None
            main.__dict__.pop("__file__", None)
        yield
    finally:
        if main is not None:
            main.__dict__.update(saved)
            if "__spec__" not in saved:
                main.__dict__.pop("__spec__", None)


def _child(connection, work: Callable[..., Iterator[Any]], args: tuple) -> None:
    import signal

    from autosearch.errors import describe

    for number in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C and a scheduler's SIGTERM reach the whole process
        signal.signal(number, signal.SIG_IGN)        # group: the parent decides, and kills this one

    try:
        for item in work(*args):
            connection.send(("item", item))
        connection.send(("done", None))
    except BaseException as error:  # said to the parent, which records the work as failed
        connection.send(("error", describe(error)))
    finally:
        connection.close()


def run_limited(work: Callable[..., Iterator[Any]], args: tuple, seconds: float, on_item: Callable[[Any], None],
                interrupted: Callable[[], str | None] = lambda: None) -> Outcome:
    """Run `work(*args)` in a new process, handing each item it yields to `on_item` here; kill the process once
    `seconds` have passed, or as soon as `interrupted()` gives a reason."""
    context = _context()
    receive, send = context.Pipe(duplex=False)
    # not a daemon: joblib refuses to start a forest's workers in one
    process = context.Process(target=_child, args=(send, work, args))
    deadline = time.monotonic() + max(seconds, 0.0)
    with _main_hidden():
        process.start()
    send.close()  # the child holds its end: end of file here once it exits
    try:
        while True:
            why = interrupted()
            left = deadline - time.monotonic()
            if why is None and left <= 0:
                why = f"ran past its {seconds:.1f}s limit"
            if why is not None:
                return Outcome(False, cut=why)
            if not receive.poll(min(left, POLL_SECONDS)):
                continue
            try:
                what, item = receive.recv()
            except (EOFError, OSError):
                process.join(1.0)
                return Outcome(False, error=f"its process died (exit code {process.exitcode}; out of memory?)")
            if what == "item":
                on_item(item)
            elif what == "error":
                return Outcome(False, error=item)
            else:
                return Outcome(True)
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join()
