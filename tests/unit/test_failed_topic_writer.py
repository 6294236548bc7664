"""The failed-topic writer when the broker acknowledges a record without an offset.

A broker that lost a batch it had half written (Tansu keeping its log on S3, killed between recording
the producer's sequence and storing the batch) answers the retried batch with DUPLICATE_SEQUENCE_NUMBER,
which the idempotent producer reports as delivered with no offset: the record is not on the topic. The
writer must write such records again, never count them as stored. The broker's answers are scripted
here with a stand-in for confluent-kafka's Producer; the real broker's side is in tests/faults.
"""

from __future__ import annotations

import logging

import pytest

from connectors import kafka
from connectors.failed_records import FailedRecord
from connectors.kafka import DeliveryError, FailedTopicWriter, unconfirmed


def record(n: int) -> FailedRecord:
    return FailedRecord(f"k{n}".encode(), f'{{"n": {n}}}'.encode(), [])


def test_a_partition_with_a_record_without_offset_is_unconfirmed_whole():
    """The other records of a duplicate batch get offsets made up from the first: none can be trusted."""
    a, b, c, d = (record(n) for n in range(4))
    acknowledged = [(a, 0, 10), (b, 1, 3), (c, 0, None), (d, 1, 4)]
    assert unconfirmed(acknowledged) == [a, c]
    assert unconfirmed([(a, 0, 10), (b, 0, -1)]) == [a, b]
    assert unconfirmed([(a, 0, 10), (b, 1, 0)]) == []


class _Message:
    def __init__(self, partition: int, offset: int | None):
        self._partition, self._offset = partition, offset

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int | None:
        return self._offset


class ScriptedProducer:
    """Acknowledges every record of a flush; the first ``offsetless_flushes`` flushes give partition 0's
    records no offset. Keeps what it stored (the records acknowledged with an offset)."""

    offsetless_flushes = 0
    stored: list[bytes] = []

    def __init__(self, _config: dict):
        self._queued: list = []
        self._flushes = 0

    def produce(self, _topic, value=None, key=None, headers=None, on_delivery=None) -> None:
        self._queued.append((value, on_delivery))

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        self._flushes += 1
        for n, (value, on_delivery) in enumerate(self._queued):
            partition = n % 2
            offsetless = partition == 0 and self._flushes <= self.offsetless_flushes
            if not offsetless:
                ScriptedProducer.stored.append(value)
            on_delivery(None, _Message(partition, None if offsetless else n))
        self._queued = []
        return 0


@pytest.fixture
def producer(monkeypatch):
    ScriptedProducer.stored = []
    monkeypatch.setattr(kafka, "Producer", ScriptedProducer)
    return ScriptedProducer


def test_records_acknowledged_without_offset_are_written_again(producer, caplog):
    producer.offsetless_flushes = 1
    records = [record(n) for n in range(5)]
    with caplog.at_level(logging.WARNING, "connectors.kafka"):
        FailedTopicWriter({}, "failed").write(records)
    assert set(producer.stored) == {r.value for r in records}  # each stored at least once
    resent = [r for r in caplog.records if "written again" in r.getMessage()]
    assert [r.records for r in resent] == [3]


def test_records_never_acknowledged_with_an_offset_fail_the_write(producer):
    producer.offsetless_flushes = 100
    with pytest.raises(DeliveryError, match="without an offset"):
        FailedTopicWriter({}, "failed").write([record(n) for n in range(3)])
