"""Which process is which, across the machines that share a search."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid); None where /proc is absent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def worker_id(pid: int | None = None) -> str:
    """host:pid:start — identifies a process across the machines that share a study."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or ''}"


def is_dead_here(worker: str) -> bool:
    """Whether `worker` ran on this machine and is gone. False for other machines (their heartbeat decides)."""
    try:
        host, pid, started = worker.rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return bool(started) and _start_time(int(pid)) != started
