"""Writing files so that a crash never leaves a half-written one at their path."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write `data` beside `path`, then move it into place in one step (readers see the old or the new file)."""
    partial = path.with_name(path.name + ".partial")
    if isinstance(data, bytes):
        partial.write_bytes(data)
    else:
        partial.write_text(data)
    os.replace(partial, path)
    return path
