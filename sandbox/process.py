"""A server the sandbox starts as a process of its own (the broker, Azurite, moto's S3 server): on a free
127.0.0.1 port, ready once it answers, stopped with the context (SIGTERM, then SIGKILL after 10 s)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """Subclasses give the command (and may add to the environment, and say when the server is ready)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None,
                 environment: dict[str, str] | None = None):
        self.port = port or free_port()
        self._log_path = log_path
        self._environment = environment
        self._process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the server answers; by default, whether its port takes a connection."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def start(self, timeout_s: float = 60.0):
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         env={**os.environ, **self._environment} if self._environment else None)
        name = Path(self.command()[0]).name
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {self._process.returncode}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{name} not ready on 127.0.0.1:{self.port} after {timeout_s:g}s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
