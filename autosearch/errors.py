"""The one exception type that reaches the user as a one-line message."""


class AutosearchError(Exception):
    """A problem with the user's input or setup, worded as: what is wrong; how to fix it.

    The CLI prints it on one line and exits with code 2; no traceback.
    """


def describe(error: BaseException, limit: int = 500) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {first}"[:limit] if first else type(error).__name__
