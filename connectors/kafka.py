"""Kafka at the edges of a job: a consumer-group source, an offset committer, a failed-topic writer.

bytewax's own ``KafkaSource`` joins no consumer group and commits nothing, and its
``KafkaSink`` ignores delivery reports. A drop-in replacement for the Flink jobs needs
both: a real ``group.id`` whose committed offsets say what is done (so a restart, or an
operator's lag tool, sees the truth), and failed records that are known to be stored
before their offsets are committed. Example::

    watch = BrokerWatch(timeout_s=60)
    source = ConsumerGroupSource(client_config, "my-group", ["topic-a"], "latest", 500, stop.is_set, watch,
                                 on_started=lambda: None)
    committer = OffsetCommitter(client_config, "my-group", watch)
    writer = FailedTopicWriter(watch.client_config(client_config), "topic-a.failed")

Partitions are assigned (not subscribed), each to one bytewax worker, and start at the
group's committed offset, or at ``auto.offset.reset`` when the group has none.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient

from connectors import failed_records
from connectors.failed_records import FailedRecord, Stage

log = logging.getLogger(__name__)

_IDLE_WAIT = timedelta(milliseconds=20)
_RESET = {"earliest": OFFSET_BEGINNING, "latest": OFFSET_END}


_UNREACHABLE = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}
_QUIET_AFTER_S = 30.0  # no "unreachable" error for this long: the brokers are back


class SourceMessage:
    """One record read from Kafka: the fields of bytewax's ``KafkaSourceMessage`` that the jobs read (not its
    headers nor its timestamp), in a plain class with slots, made for every event in a sixth of the time
    bytewax's dataclass takes."""

    __slots__ = ("key", "value", "topic", "partition", "offset")

    def __init__(self, key: bytes | None, value: bytes | None, topic: str, partition: int, offset: int):
        self.key, self.value, self.topic, self.partition, self.offset = key, value, topic, partition, offset

    def __repr__(self) -> str:
        return f"SourceMessage({self.topic}[{self.partition}]@{self.offset})"


class BrokerUnavailable(RuntimeError):
    """The brokers could not be reached for longer than ``kafka.unavailable_timeout_s``."""


class BrokerWatch:
    """Notices, through librdkafka's error callback, how long the brokers have been out of reach.

    The job logs one line when they go away and one when they are back; past the timeout
    :meth:`check` raises, so the process exits non-zero and the orchestrator restarts it. What was
    not done is not committed, so nothing is lost.
    """

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._down_since: float | None = None
        self._last_error = 0.0

    def on_error(self, error: KafkaError) -> None:
        if error.code() not in _UNREACHABLE:
            log.warning("kafka client error", extra={"error": error.str()})
            return
        now = time.monotonic()
        if self._down_since is None or now - self._last_error > _QUIET_AFTER_S:
            self._down_since = now
            log.warning("Kafka brokers unreachable; retrying", extra={"timeout_s": self.timeout_s,
                                                                      "error": error.str()})
        self._last_error = now

    def answered(self, sent_at: float) -> None:
        """A request sent at ``sent_at`` (``time.monotonic()``) was answered: the brokers are reachable, unless
        an error came after it was sent (its answer may have waited in the client until it was read)."""
        if sent_at > self._last_error:
            self.reachable()

    def reachable(self) -> None:
        if self._down_since is not None:
            log.info("Kafka brokers reachable again")
        self._down_since = None

    def unreachable_s(self) -> float | None:
        """How long the brokers have been out of reach, or None while they are not (for readiness)."""
        down_since, now = self._down_since, time.monotonic()
        if down_since is None or now - self._last_error > _QUIET_AFTER_S:
            return None
        return now - down_since

    def check(self) -> None:
        if self._down_since is None:
            return
        if time.monotonic() - self._last_error > _QUIET_AFTER_S:
            self.reachable()
        elif time.monotonic() - self._down_since > self.timeout_s:
            raise BrokerUnavailable(f"Kafka brokers unreachable for more than {self.timeout_s:.0f}s")

    def client_config(self, client: dict[str, str]) -> dict:
        """``client`` with this watch as the error callback, and librdkafka's own connection logs off."""
        return {"log_level": 2, **client, "error_cb": self.on_error}


def consumer_config(client: dict, group_id: str, watch: BrokerWatch) -> dict:
    """Settings for every consumer of the job: the watch's error callback, no auto commit, only committed
    transactions. Closing one waits for the group's coordinator at most ``session.timeout.ms`` (45 s by
    default, each time the brokers are gone); the consumers never join the group, so that setting has no
    other use here, and is ``kafka.unavailable_timeout_s`` unless ``kafka.client`` sets it."""
    return {
        "session.timeout.ms": max(int(watch.timeout_s * 1000), 1),
        **watch.client_config(client),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
    }


def partitions_of(client: dict[str, str], topics: Iterable[str], timeout_s: float = 30.0) -> list[str]:
    """Every partition of the topics as ``"{partition}-{topic}"``; a missing topic is an error.

    Each topic is asked for by name, so a broker that creates topics on demand creates it.
    """
    admin = AdminClient(dict(client))
    parts = []
    for topic in topics:
        found = admin.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if found is None or found.error is not None:
            problem = found.error.str() if found is not None else "it does not exist"
            raise RuntimeError(f"cannot read Kafka topic {topic!r}: {problem}")
        parts.extend(f"{index}-{topic}" for index in sorted(found.partitions))
    return parts


class ConsumerGroupSource(FixedPartitionedSource):
    """Reads the topics' partitions from the consumer group's committed offsets.

    Ends its input (so the dataflow drains and stops) once ``stop_requested()`` is true; reads nothing
    while ``paused()`` is true.
    Resume state is not used: the committed offsets are the job's only position.
    ``on_started()`` is called once the topics' partitions are known, before any is read (a worker
    may own none of them: more workers than partitions).
    """

    def __init__(self, client: dict[str, str], group_id: str, topics: list[str],
                 auto_offset_reset: str, batch_size: int, stop_requested: Callable[[], bool], watch: BrokerWatch,
                 on_started: Callable[[], None], paused: Callable[[], bool] = lambda: False):
        self._client = client
        self._watch = watch
        self._on_started = on_started
        self._group_id = group_id
        self._topics = topics
        self._reset = auto_offset_reset
        self._batch_size = batch_size
        self._stop_requested = stop_requested
        self._paused = paused

    def list_parts(self) -> list[str]:
        parts = partitions_of(self._client, self._topics, self._watch.timeout_s)
        self._on_started()
        return parts

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> "_GroupPartition":
        index, topic = for_part.split("-", 1)
        config = consumer_config(self._client, self._group_id, self._watch)
        return _GroupPartition(config, topic, int(index), self._reset, self._batch_size, self._stop_requested,
                               self._watch, self._paused)


class _GroupPartition(StatefulSourcePartition):
    def __init__(self, config: dict, topic: str, index: int, reset: str, batch_size: int,
                 stop_requested: Callable[[], bool], watch: BrokerWatch, paused: Callable[[], bool] = lambda: False):
        self._consumer = Consumer(config)
        self._paused = paused
        self._watch = watch
        self._topic = topic
        self._batch_size = batch_size
        self._stop_requested = stop_requested
        self._next_awake: datetime | None = None
        start = self._start_offset(TopicPartition(topic, index), reset)
        self._consumer.assign([start])
        log.info("reading partition", extra={"topic": topic, "partition": index, "offset": start.offset})

    def _start_offset(self, partition: TopicPartition, reset: str) -> TopicPartition:
        committed = self._consumer.committed([partition], timeout=self._watch.timeout_s)[0]
        if committed.error is not None:
            raise RuntimeError(f"cannot read committed offset of {partition.topic}[{partition.partition}]: "
                               f"{committed.error}")
        if committed.offset >= 0:
            return TopicPartition(partition.topic, partition.partition, committed.offset)
        return TopicPartition(partition.topic, partition.partition, _RESET[reset])

    def next_batch(self) -> list[SourceMessage]:
        if self._stop_requested():
            raise StopIteration()
        if self._paused():  # the process holds enough events already: read nothing for now
            self._next_awake = datetime.now(timezone.utc) + _IDLE_WAIT
            return []
        batch = []
        for message in self._consumer.consume(self._batch_size, 0.001):
            error = message.error()
            if error is None:
                batch.append(SourceMessage(message.key(), message.value(), message.topic(), message.partition(),
                                           message.offset()))
            elif error.fatal():
                raise KafkaException(error)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._watch.on_error(error)
        if batch:
            self._watch.reachable()
        self._watch.check()
        self._next_awake = None if batch else datetime.now(timezone.utc) + _IDLE_WAIT
        return batch

    def next_awake(self) -> datetime | None:
        return self._next_awake

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._consumer.close()


class OffsetCommitter:
    """Commits, per partition, the offset after the last event that reached an outcome.

    Callers pass done offsets in partition order (a partition's outcomes leave its window in
    offset order, always on the same worker), so the highest done offset + 1 is safe to commit.

    A commit is sent without waiting for its answer, which is read at the next commit: waiting for the
    broker's round trip after every batch took 7 % of the skipped path's time. So every batch's offsets
    are sent when it is written, and one commit at a time is unanswered. An offset stays :meth:`pending`
    until the broker confirms it, so a failed commit's offsets go with the next one, and a crash in between
    only repeats events. An answer is waited for at most ``kafka.unavailable_timeout_s``, then counts as a
    failure (librdkafka's synchronous commit had waited for a group coordinator for about 45 s once the
    brokers had gone, so the job noticed their absence late). :meth:`close` sends the last commit and waits
    for the answers, at most that long too.
    """

    def __init__(self, client: dict[str, str], group_id: str, watch: BrokerWatch):
        config = consumer_config(client, group_id, watch)
        self._consumer = Consumer({**config, "on_commit": self._answered})
        self._watch = watch
        self._pending: dict[tuple[str, int], int] = {}
        self._unanswered: deque[tuple[float, dict[tuple[str, int], int]]] = deque()  # (sent at, offsets), oldest first
        self._answers: deque[str | None] = deque()  # None for success, else what went wrong; in the order sent

    def done(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        self._pending[key] = max(self._pending.get(key, -1), offset + 1)

    def pending(self) -> dict[tuple[str, int], int]:
        """The offsets done and not yet confirmed committed, by (topic, partition)."""
        return dict(self._pending)

    def commit(self) -> None:
        """Reads the answers come back since the last call (the last commit's usually has, a batch later), waits
        for any still to come, then sends what is pending without waiting for its own answer."""
        self._consumer.poll(0)  # serves the commit callbacks
        self._read_answers()
        if self._unanswered:
            self._settle(time.monotonic() + self._watch.timeout_s)
            if self._unanswered:
                self._failed(f"no answer within {self._watch.timeout_s:g}s (kafka.unavailable_timeout_s)")
        if self._pending:
            self._send()

    def _send(self) -> None:
        offsets = dict(self._pending)
        try:
            self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                  asynchronous=True)
        except KafkaException as err:
            self._failed(str(err))
            return
        self._unanswered.append((time.monotonic(), offsets))

    def _read_answers(self) -> None:
        while self._answers and self._unanswered:
            error = self._answers.popleft()
            sent_at, offsets = self._unanswered.popleft()
            if error is not None:
                self._failed(error)
                continue
            self._watch.answered(sent_at)
            for key, offset in offsets.items():
                if self._pending.get(key) == offset:  # not done further since it was sent
                    del self._pending[key]

    def _failed(self, error: str) -> None:
        log.warning("offset commit failed; its offsets go with the next commit", extra={"error": error})
        self._watch.check()

    def _answered(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        failed = error or next((p.error for p in partitions if p.error is not None), None)
        self._answers.append(None if failed is None else failed.str())

    def _settle(self, deadline: float) -> None:
        """Waits for the unanswered commits' answers until ``deadline``."""
        while self._unanswered and time.monotonic() < deadline:
            self._consumer.poll(0.001)  # a longer wait is not cut short by an answer
            self._read_answers()

    def close(self) -> None:
        """The last commit, once the earlier ones are answered, then the consumer closed; the answers are
        waited for at most ``kafka.unavailable_timeout_s`` in all. Never raises: the job may be stopping because
        the brokers are gone, and an error out of a sink's close while bytewax unwinds aborts the process
        before it can say why it stopped. What is not committed is read again after the restart."""
        deadline, error = time.monotonic() + self._watch.timeout_s, None
        try:
            self._settle(deadline)
            if self._pending:
                self._send()
                self._settle(deadline)
        except BrokerUnavailable as err:
            error = str(err)
        finally:
            if self._pending:
                log.warning("the last offset commit was not made; those events will be read again",
                            extra={"error": error, "partitions": len(self._pending)})
            self._consumer.close()


def produce_waiting(producer: Producer, topic: str, value: bytes | None, key: bytes | None = None,
                    headers: list | None = None, on_delivery: Callable | None = None) -> None:
    """Queue one record, waiting while the producer's local queue is full."""
    while True:
        try:
            producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.1)  # let deliveries drain


class DeliveryError(RuntimeError):
    """A failed record was not stored by the broker; its offset must not be committed."""


_TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE}  # the local check and the broker answer with this code
_RESENDS = 3  # times a write sends again the records acknowledged without an offset


def unconfirmed(acknowledged: list[tuple[FailedRecord, int, int | None]]) -> list[FailedRecord]:
    """The records, of ``(record, partition, offset)`` acknowledgements, that may not be on the topic: every
    record of a partition where one came back without an offset. A broker that lost a half-written batch
    answers its retry with DUPLICATE_SEQUENCE_NUMBER, which the idempotent producer reports as delivered
    with no offset, and gives the batch's other records offsets made up from it. librdkafka also reports
    records without an offset when it infers they were stored (a request that timed out, followed by one that
    succeeded): those are written twice, which the failed topic allows."""
    lost = {partition for _record, partition, offset in acknowledged if offset is None or offset < 0}
    return [record for record, partition, _offset in acknowledged if partition in lost]


def too_large_stand_in(record: FailedRecord) -> FailedRecord:
    """What is written instead of a record the topic refuses as too large (:mod:`connectors.failed_records`)."""
    return failed_records.stand_in(record.key, record.headers,
                                   f"the failed record ({len(record.value)} bytes) is too large for the failed topic "
                                   f"(message.max.bytes); read it at its source offset", Stage.REPORT, "too large")


class FailedTopicWriter:
    """Writes failed records and returns only once the broker has acknowledged all of them.

    A record the topic refuses as too large is replaced by a small stand-in (see
    :func:`too_large_stand_in`), so one huge event cannot stop the job. Records acknowledged without
    an offset (:func:`unconfirmed`) are written again, so such a record may be on the topic twice. Any
    other delivery error raises :class:`DeliveryError`: nothing after it is committed.
    """

    def __init__(self, client: dict, topic: str, timeout_s: float = 300.0):
        self._producer = Producer({**client, "acks": "all", "enable.idempotence": True,
                                   "linger.ms": 5, "message.timeout.ms": int(timeout_s * 1000)})
        self._topic = topic
        self._timeout_s = timeout_s

    def write(self, records: list[FailedRecord]) -> None:
        if not records:
            return
        too_large: list[FailedRecord] = []
        errors = self._deliver(records, too_large)
        if too_large and not errors:
            still_too_large: list[FailedRecord] = []
            errors = self._deliver([too_large_stand_in(r) for r in too_large], still_too_large)
            errors += [f"a stand-in of {len(r.value)} bytes is too large as well" for r in still_too_large]
        if errors:
            raise DeliveryError(f"{len(errors)} of {len(records)} records not delivered to {self._topic}: "
                                f"{errors[0]}")

    def _deliver(self, records: list[FailedRecord], too_large: list[FailedRecord]) -> list[str]:
        """Produce and flush, and again (up to ``_RESENDS`` times) for the records :func:`unconfirmed`; the
        errors, with too-large records set aside in ``too_large``."""
        for resend in range(_RESENDS + 1):
            acknowledged: list[tuple[FailedRecord, int, int | None]] = []
            errors = self._send(records, too_large, acknowledged)
            records = unconfirmed(acknowledged)
            if errors or not records:
                return errors
            if resend < _RESENDS:
                log.warning("failed records acknowledged without an offset; written again",
                            extra={"records": len(records), "topic": self._topic})
        return [f"{len(records)} acknowledged without an offset {_RESENDS + 1} times"]

    def _send(self, records: list[FailedRecord], too_large: list[FailedRecord],
              acknowledged: list[tuple[FailedRecord, int, int | None]]) -> list[str]:
        """Produce and flush once; the errors, with each acknowledgement in ``acknowledged``."""
        errors: list[str] = []

        def on_delivery_of(record: FailedRecord):
            def on_delivery(err, msg) -> None:
                if err is None:
                    acknowledged.append((record, msg.partition(), msg.offset()))
                elif err.code() in _TOO_LARGE:
                    too_large.append(record)
                else:
                    errors.append(err.str())
            return on_delivery

        for record in records:
            try:
                produce_waiting(self._producer, self._topic, record.value, record.key, record.headers,
                                on_delivery_of(record))
            except KafkaException as err:
                if err.args[0].code() not in _TOO_LARGE:
                    raise
                too_large.append(record)
        remaining = self._producer.flush(self._timeout_s)
        if remaining:
            errors.append(f"{remaining} still queued after {self._timeout_s:.0f}s")
        return errors

    def close(self) -> None:
        self._producer.flush(self._timeout_s)
