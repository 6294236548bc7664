"""Small Kafka helpers for the demo, the tests and the benchmarks: produce, read back, offsets."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes | None] | None = None,
            partition: int | None = None) -> None:
    """Write the values in order and wait until the broker has them all."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    failures: list[str] = []

    def check(err, _msg):
        if err is not None:
            failures.append(err.str())

    for index, value in enumerate(values):
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, value=value, key=keys[index] if keys else None, on_delivery=check, **extra)
        producer.poll(0)
    if producer.flush(30) or failures:
        raise RuntimeError(f"could not produce to {topic}: {failures[:1] or 'timed out'}")


def read_all(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list:
    """Every record now in the topic (all partitions), read to the end; confluent ``Message`` objects."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=timeout_s)
    partitions = list(metadata.topics[topic].partitions)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "sandbox-reader",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records, at_end = [], set()
    deadline = time.monotonic() + timeout_s
    try:
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no end of partition seen on {topic} within {timeout_s}s")
            for message in consumer.consume(500, 0.1):
                error = message.error()
                if error is None:
                    records.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition())
                else:
                    raise RuntimeError(error.str())
    finally:
        consumer.close()
    return records


def committed(bootstrap: str, group_id: str, topic: str, partitions: int = 1) -> list[int]:
    """The group's committed offset of each partition (-1001 where it has none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return [tp.offset for tp in found]
    finally:
        consumer.close()
