"""Real servers on 127.0.0.1 for the tests that cover them (`mlflow server`, `mlflow models serve`): started on a
free port, awaited until they answer, stopped with their process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(command: Sequence[str], ready: str, log: Path, seconds: float,
                 env: dict | None = None) -> Iterator[str]:
    """Run `command --host 127.0.0.1 --port P`, wait until GET `ready` answers 200 (at most `seconds`), yield
    its URL; the test fails with the end of the server's `log` if it exits or never answers."""
    url = f"http://127.0.0.1:{free_port()}"
    with open(log, "w") as out:
        server = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]], stdout=out,
                                  stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            deadline = time.monotonic() + seconds
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{' '.join(command[:4])} did not answer: {log.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"{url}{ready}", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
            yield url
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
