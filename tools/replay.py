"""Send a job's failed records back to its input topic, once the cause of the failures is fixed.

    python -m tools.replay --brokers kafka-1:9092 --from-topic prod.delete.user.failed --dry-run
    python -m tools.replay --brokers kafka-1:9092 --from-topic prod.auto.creation.job.request.failed \\
        --job content-auto-creator --since 2024-05-01T00:00:00Z --limit 100

The failed topic is read from its beginning (or ``--since``) to the end it has when the tool
reaches it, with ``assign()``: no consumer group is joined and no offset is committed, so the
tool can be run again over the same records. Each record is handled by what it is:

* a failed record (a JSON object with ``failInfo``): the top-level ``jobName`` and ``failInfo``
  the job added are removed; everything else, ``edata.iteration`` included (the job raised it, as
  the Flink jobs did, so a replayed event counts as a further attempt), is sent unchanged, with the
  record's key, to ``--to-topic`` or else to the topic named in its ``source.topic`` header;
* a bad-input record (the original value byte for byte: not JSON, JSON of another type, or an
  object the job could not read): sent unchanged only with ``--include-bad-input``;
* a stand-in for a record that was too large for the failed topic (header ``value.omitted``): never
  sent; its original is at the ``source.*`` position the tool prints.

``--job`` keeps the records of one job (header ``job``, or the value's ``jobName`` for records the
Flink content-auto-creator wrote, which have no headers): content-auto-creator and auto-creator-v2
share a failed topic by default. Every record sent is confirmed by the brokers before the summary
(read / sent / skipped by reason / not delivered) is printed; the exit code is 0 only when every
record that was to be sent was delivered and the end of every partition was reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Producer, TopicPartition

from connectors import failed_records
from connectors.failed_records import ADDED_FIELDS, SOURCE, source_of
from connectors.json_bytes import dumps
from connectors.kafka import produce_waiting
from flows.runtime.event import parse_object

# librdkafka needs a group.id even for assign(); nothing is ever committed under it, so no group is created.
READER_GROUP = "cokreat-replay"

# Why a record was not sent (the summary counts each).
OTHER_JOB = "other job"
BAD_INPUT = "bad input (use --include-bad-input)"
OMITTED_VALUE = "value omitted (too large for the failed topic)"
NO_DESTINATION = "no destination (no source.topic header: use --to-topic)"
LOOP = "destination is the failed topic itself"
BEFORE = "before --since"
AFTER = "at or after --until"


class ReplayError(RuntimeError):
    """The replay cannot start or go on (a missing topic, an offset out of range, a broker error)."""


@dataclass(frozen=True)
class Position:
    """A ``--since``/``--until`` bound: an offset (in every partition read) or a time in ms since the epoch."""

    offset: int | None = None
    time_ms: int | None = None

    @classmethod
    def parse(cls, text: str) -> "Position":
        text = text.strip()
        if text.isdigit():
            return cls(offset=int(text))
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is neither an offset nor an ISO 8601 time (e.g. 2024-05-01T10:00:00Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return cls(time_ms=int(moment.timestamp() * 1000))


@dataclass(frozen=True)
class Record:
    """One record of the failed topic, as the tool needs it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp_ms: int | None = None

    @property
    def where(self) -> str:
        return f"{self.partition}@{self.offset}"


@dataclass(frozen=True)
class Replay:
    """What is sent for one record."""

    topic: str
    key: bytes | None
    value: bytes | None
    bad_input: bool = False


@dataclass
class Options:
    brokers: str
    from_topic: str
    to_topic: str | None = None
    job: str | None = None
    partition: int | None = None
    since: Position | None = None
    until: Position | None = None
    limit: int | None = None
    dry_run: bool = False
    include_bad_input: bool = False
    client: dict[str, str] = field(default_factory=dict)
    idle_timeout_s: float = 10.0
    delivery_timeout_s: float = 60.0


@dataclass
class Summary:
    read: int = 0
    sent: int = 0  # delivered (in a dry run: would be sent)
    not_delivered: int = 0
    skipped: Counter = field(default_factory=Counter)
    complete: bool = True  # the end of every partition was reached
    dry_run: bool = False
    first_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.complete and self.not_delivered == 0

    def line(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        text = f"read {self.read}, {verb} {self.sent}, skipped {sum(self.skipped.values())}"
        if self.skipped:
            text += " (" + ", ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items())) + ")"
        if self.not_delivered:
            text += f", NOT DELIVERED {self.not_delivered} (first error: {self.first_error})"
        if not self.complete:
            text += ", INCOMPLETE: the end of the failed topic was not reached"
        return text


def _headers(raw: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    return {name: (value or b"").decode("utf-8", "replace") for name, value in raw or ()}


def plan(record: Record, options: Options) -> Replay | str:
    """What to send for ``record``, or why it is skipped (one of the reasons above)."""
    if options.since is not None and options.since.time_ms is not None:
        if record.timestamp_ms is None or record.timestamp_ms < options.since.time_ms:
            return BEFORE
    if options.until is not None and options.until.time_ms is not None:
        if record.timestamp_ms is None or record.timestamp_ms >= options.until.time_ms:
            return AFTER
    if failed_records.OMITTED in record.headers:
        return OMITTED_VALUE
    try:
        event: dict | None = parse_object(record.value)
    except ValueError:
        event = None
    failed = event is not None and failed_records.FAIL_INFO in event
    job = record.headers.get(failed_records.JOB) or (event.get(failed_records.JOB_NAME) if failed else None)
    if options.job is not None and job != options.job:
        return OTHER_JOB
    if not failed and not options.include_bad_input:
        return BAD_INPUT
    destination = options.to_topic or record.headers.get(SOURCE[0])
    if not destination:
        return NO_DESTINATION
    if destination == options.from_topic:
        return LOOP
    if not failed:
        return Replay(destination, record.key, record.value, bad_input=True)
    for name in ADDED_FIELDS:
        event.pop(name, None)
    return Replay(destination, record.key, dumps(event))


def _reader(options: Options) -> tuple[Consumer, list[int]]:
    consumer = Consumer({**options.client, "bootstrap.servers": options.brokers, "group.id": READER_GROUP,
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "enable.partition.eof": True, "isolation.level": "read_committed",
                         # a --since offset outside the partition is an error, never a silent jump
                         "auto.offset.reset": "error"})
    try:
        found = consumer.list_topics(options.from_topic, timeout=30).topics.get(options.from_topic)
    except Exception:
        consumer.close()
        raise
    if found is None or found.error is not None:
        consumer.close()
        problem = found.error.str() if found is not None else "it does not exist"
        raise ReplayError(f"cannot read topic {options.from_topic!r}: {problem}")
    partitions = sorted(found.partitions)
    if options.partition is not None:
        if options.partition not in partitions:
            consumer.close()
            raise ReplayError(f"topic {options.from_topic!r} has no partition {options.partition}")
        partitions = [options.partition]
    start = OFFSET_BEGINNING
    if options.since is not None and options.since.offset is not None:
        start = options.since.offset
    consumer.assign([TopicPartition(options.from_topic, p, start) for p in partitions])
    return consumer, partitions


def _records(consumer: Consumer, partitions: list[int], options: Options, summary: Summary,
             clock: Callable[[], float] = time.monotonic) -> Iterable[Record]:
    """The records up to the end of each partition (or ``--until`` offset)."""
    pending = set(partitions)
    until = options.until.offset if options.until is not None else None
    quiet_since = clock()
    while pending:
        messages = consumer.consume(500, 0.2)
        if not messages:
            if clock() - quiet_since > options.idle_timeout_s:
                summary.complete = False
                return
            continue
        quiet_since = clock()
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
                    continue
                raise ReplayError(f"reading {options.from_topic!r}: {error.str()}")
            if message.partition() not in pending:
                continue  # written after this partition's end was reached (or past --until)
            if until is not None and message.offset() >= until:
                pending.discard(message.partition())
                continue
            kind, stamp = message.timestamp()
            yield Record(message.partition(), message.offset(), message.key(), message.value(),
                         _headers(message.headers()), None if kind == TIMESTAMP_NOT_AVAILABLE else stamp)


def replay(options: Options, out=sys.stdout, err=sys.stderr) -> Summary:
    """Replay the failed topic as ``options`` say; the summary (also printed to ``err``)."""
    summary = Summary(dry_run=options.dry_run)
    producer = None
    if not options.dry_run:
        # murmur2_random: the partitioner of the Java clients, so a key lands where the original producer put it
        producer = Producer({**options.client, "bootstrap.servers": options.brokers, "acks": "all",
                             "enable.idempotence": True, "linger.ms": 5, "partitioner": "murmur2_random",
                             "message.timeout.ms": int(options.delivery_timeout_s * 1000)})

    def delivered(error, _message) -> None:
        if error is None:
            summary.sent += 1
        else:
            summary.not_delivered += 1
            summary.first_error = summary.first_error or error.str()

    consumer, partitions = _reader(options)
    taken = 0  # records sent or queued (in a dry run: printed)
    try:
        for record in _records(consumer, partitions, options, summary):
            summary.read += 1
            decision = plan(record, options)
            if isinstance(decision, str):
                summary.skipped[decision] += 1
                if decision == OMITTED_VALUE:
                    print(f"record {record.where} was too large for the failed topic; its original is at "
                          f"{source_of(record.headers)} (topic/partition/offset)", file=err)
                continue
            taken += 1
            if options.dry_run:
                summary.sent += 1
                print(json.dumps({"from": record.where, "source": source_of(record.headers), "to": decision.topic,
                                  "job": record.headers.get("job"),
                                  "error": record.headers.get("error"), "bad_input": decision.bad_input,
                                  "key": None if decision.key is None else decision.key.decode("utf-8", "replace"),
                                  "value": (decision.value or b"").decode("utf-8", "replace")},
                                 ensure_ascii=False), file=out)
            else:
                produce_waiting(producer, decision.topic, decision.value, decision.key, on_delivery=delivered)
            if options.limit is not None and taken >= options.limit:
                break
    finally:
        consumer.close()
        if producer is not None:
            remaining = producer.flush(options.delivery_timeout_s)
            if remaining:
                summary.not_delivered += remaining
                summary.first_error = summary.first_error or f"{remaining} still queued after " \
                                                             f"{options.delivery_timeout_s:.0f}s"
        print(summary.line(), file=err)  # also when reading failed half-way: what was sent is known
    return summary


def _property(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m tools.replay",
                                     description="Send a job's failed records back to its input topic.")
    parser.add_argument("--brokers", required=True, help="bootstrap servers, e.g. kafka-1:9092,kafka-2:9092")
    parser.add_argument("--from-topic", required=True, help="the job's failed topic (kafka.failed.topic)")
    parser.add_argument("--to-topic", help="where to send; default: each record's source.topic header")
    parser.add_argument("--job", help="only records of this job (user-delete, content-auto-creator, auto-creator-v2)")
    parser.add_argument("--partition", type=int, help="read only this partition of the failed topic")
    parser.add_argument("--since", type=Position.parse,
                        help="first offset (in every partition read) or ISO 8601 time of the records to replay")
    parser.add_argument("--until", type=Position.parse,
                        help="offset or ISO 8601 time at which to stop (not included)")
    parser.add_argument("--limit", type=int, help="send at most this many records")
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent (JSON lines), send nothing")
    parser.add_argument("--include-bad-input", action="store_true",
                        help="also send bad-input records (values that were not JSON objects), unchanged")
    parser.add_argument("-X", "--property", dest="properties", action="append", type=_property, default=[],
                        metavar="NAME=VALUE", help="librdkafka property for the consumer and the producer "
                                                   "(SASL, TLS), as in kafka.client; repeatable")
    parser.add_argument("--idle-timeout", type=float, default=10.0,
                        help="seconds without any message or end-of-partition before giving up (default 10)")
    parser.add_argument("--delivery-timeout", type=float, default=60.0,
                        help="seconds to wait for the brokers to confirm the records sent (default 60)")
    args = parser.parse_args(argv)
    if args.to_topic is not None and args.to_topic == args.from_topic:
        parser.error("--to-topic must differ from --from-topic")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return Options(brokers=args.brokers, from_topic=args.from_topic, to_topic=args.to_topic, job=args.job,
                   partition=args.partition, since=args.since, until=args.until, limit=args.limit,
                   dry_run=args.dry_run, include_bad_input=args.include_bad_input, client=dict(args.properties),
                   idle_timeout_s=args.idle_timeout, delivery_timeout_s=args.delivery_timeout)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        summary = replay(options)
    except ReplayError as err:
        print(f"replay: {err}", file=sys.stderr)
        return 2
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
