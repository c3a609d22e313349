"""The one exception type that reaches the user as a one-line message."""


class AutosearchError(Exception):
    """A problem with the user's input or setup, worded as: what is wrong; how to fix it.

    The CLI prints it on one line and exits with code 2; no traceback.
    """
