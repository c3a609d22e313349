"""The exceptions that reach the user as a one-line message, and how a storage fault is recognised."""

from __future__ import annotations

import errno


class AutosearchError(Exception):
    """A problem with the user's input or setup, worded as: what is wrong; how to fix it.

    The CLI prints it on one line and exits with `exit_code` (2); no traceback.
    """

    exit_code = 2


class StorageFault(AutosearchError):
    """The disk or a database refused a write (full, read-only, no permission) during a run: what the run
    finished is kept, and `autosearch resume` continues once it is fixed. The CLI exits with code 3."""

    exit_code = 3


FAULTY_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                 errno.EFBIG: "a file reached the size limit", errno.EROFS: "the file system is read-only",
                 errno.EACCES: "permission was denied", errno.EPERM: "the operation was not permitted",
                 errno.EIO: "the disk reported an I/O error"}
SQLITE_FAULTS = ("database or disk is full", "disk i/o error", "readonly database")


def storage_fault(error: BaseException | None) -> str | None:
    """What refused a write, in words, when `error` or one it arose from (its cause or context: Optuna and
    MLflow wrap the database's error in their own) is a storage fault; None otherwise.

    >>> storage_fault(OSError(errno.ENOSPC, "No space left on device", "out/model/x.skops"))
    'the disk is full (out/model/x.skops)'
    >>> try:
    ...     try:
    ...         raise RuntimeError("(sqlite3.OperationalError) database or disk is full")
    ...     except RuntimeError:
    ...         raise AssertionError("Should not reach.")
    ... except AssertionError as e:
    ...     storage_fault(e)
    'a database refused a write (database or disk is full)'
    >>> storage_fault(ValueError("bad")) is None
    True
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in FAULTY_ERRNOS:
            return FAULTY_ERRNOS[error.errno] + (f" ({error.filename})" if error.filename else "")
        text = str(error).lower()
        fault = next((f for f in SQLITE_FAULTS if f in text), None)
        if fault:
            return f"a database refused a write ({fault})"
        error = error.__cause__ or error.__context__
    return None


def describe(error: BaseException, limit: int = 500) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}"[:limit] if first else type(error).__name__
