"""The shape every job shares, built once::

    Kafka (consumer group) -> parse -> validate (skip) -> handle: HTTP calls -> outcome
                                                                   |- success / skipped -> commit
                                                                   '- failed / bad input -> failed topic -> commit

A job supplies only its rules as a :class:`Job`: which topics, what an event's entity is,
when to skip it, and how to handle it. Everything else (lenient parsing, outcomes,
bounded concurrency with per-entity order (:mod:`flows.runtime.in_flight`), the failed topic, metrics,
logs, offsets) lives here and knows nothing about any one job.

Tests build the same flow around a ``TestingSource`` and a ``TestingSink``::

    flow = build_flow(job, TestingSource(messages), TestingSink(outcomes), max_in_flight=4)
    run_main(flow)
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Callable, Union

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink
from confluent_kafka import KafkaError, KafkaException

from connectors.failed_records import Stage
from connectors.kafka import (BrokerWatch, ConsumerGroupSource, FailedTopicWriter, OffsetCommitter, SourceMessage,
                              partitions_of)
from connectors.metrics import IN_FLIGHT
from flows.runtime.event import BadValue, parse_object
from flows.runtime.health import Health, Progress, serve
from flows.runtime.in_flight import CoroutinePool, PartitionWindow
from flows.runtime.job import Done, Job, Link, Result, Skip
from flows.runtime.lifecycle import StopSignal, exit_at_start
from flows.runtime.linking import Backlog, Linking, in_partition_order
from flows.runtime.logs import configure as configure_logs
from flows.runtime.outcome import (BAD_INPUT, FAILED, SKIPPED, SUCCESS, Outcome, OutcomeKind, partition_key, shortened,
                                   unkeyed)
from flows.runtime.report import OutcomeSink
from flows.runtime.settings import CommonSettings, ConfigError, HealthSettings, Reader, load_config

log = logging.getLogger("cokreat.pipeline")


@dataclass(slots=True)
class _Pending:
    """An event that passed validation and waits for its handler."""

    message: SourceMessage
    event: dict
    entity: str | None
    started: float


_Item = Union[_Pending, Outcome]


def checked_batch(job: Job, progress: Progress, messages: list[SourceMessage]) -> list[tuple[str, _Item]]:
    """Each message parsed and validated, keyed by its partition, in one step (a step per item costs
    more than the work); the batch counts as taken until the sink reports it."""
    progress.took(len(messages))
    return [(partition_key(message), checked(job, message)) for message in messages]


def checked(job: Job, message: SourceMessage) -> _Item:
    """The value as a JSON object (anything else is bad input, kept byte for byte), then skipped when the
    job's rules say it is not for the job, or failed on a wrong type; else pending, for its handler.

    The rules come first, as in the original jobs: an event for another job is skipped whatever the fields
    this job would read hold, and its entity (which it has none of here) is not read."""
    started = time.monotonic()
    try:
        event = parse_object(message.value)
        if "edata" in event and not isinstance(event["edata"], dict):
            raise ValueError("edata is present but not an object")
    except ValueError as err:
        return Outcome(message, BAD_INPUT, stage=Stage.PARSE, detail=str(err), seconds=time.monotonic() - started)
    topic = message.topic
    try:
        reason = job.validate(topic, event)
        if reason is None:
            return _Pending(message, event, job.entity(topic, event), started)
    except BadValue as err:
        return Outcome(message, FAILED, event, _safe_entity(job, topic, event), Stage.VALIDATE, shortened(str(err)),
                       seconds=time.monotonic() - started)
    mid = event.get("mid")  # not for this job: its event is let go at once, but for its mid (see Outcome)
    return Outcome(message, SKIPPED, None, None, Stage.VALIDATE, shortened(reason), seconds=time.monotonic() - started,
                   mid=mid if isinstance(mid, str) else None)


def _safe_entity(job: Job, topic: str, event: dict) -> str | None:
    try:
        return job.entity(topic, event)
    except BadValue:
        return None


def _finish(item: _Pending, kind: OutcomeKind, *, stage: Stage | None = None, detail: str | None = None,
            status: int | None = None, entity: str | None = None) -> Outcome:
    return Outcome(item.message, kind, event=item.event, entity=entity or item.entity, stage=stage,
                   detail=None if detail is None else shortened(detail), status=status,
                   seconds=time.monotonic() - item.started)


async def handle_one(job: Job, item: _Pending) -> Outcome | Linking:
    """Run the job's handler; every error becomes an outcome, none escapes. An event the handler leaves
    to be linked waits for its links (:mod:`flows.runtime.linking`) with the outcome it will have then."""
    in_flight = _in_flight(job.name)
    in_flight.inc()
    try:
        return _outcome(item, await job.handle(item.message.topic, item.event))
    except Exception as err:
        return _failure(job, item, err)
    finally:
        in_flight.dec()


@lru_cache(maxsize=None)
def _in_flight(job_name: str):
    """The job's in-flight gauge: ``labels()`` takes a lock and a lookup, twice an event."""
    return IN_FLIGHT.labels(job_name)


def _outcome(item: _Pending, result: Result) -> Outcome | Linking:
    if isinstance(result, Done):
        return _finish(item, SUCCESS, status=result.status)
    if isinstance(result, Skip):
        return _finish(item, SKIPPED, stage=Stage.PROCESS, detail=result.reason, status=result.status)
    if isinstance(result, Link):
        return Linking(_finish(item, SUCCESS), result) if result.units else _finish(item, SUCCESS)
    return _finish(item, FAILED, stage=Stage.PROCESS, detail=result.error, status=result.status)


def _failure(job: Job, item: _Pending, err: Exception) -> Outcome:
    """An error of the handler: an expected failure or a wrong type ends the event in one line; anything
    else (a bug, an unforeseen answer) is logged with its traceback, and must not stop the job either."""
    if isinstance(err, job.expected):
        return _finish(item, FAILED, stage=Stage.PROCESS, detail=str(err), status=getattr(err, "status", None))
    if isinstance(err, BadValue):
        return _finish(item, FAILED, stage=Stage.PROCESS, detail=str(err))
    log.error("handler error", exc_info=err, extra={"entity": job.loggable(item.entity)})
    return _finish(item, FAILED, stage=Stage.PROCESS, detail=f"{err.__class__.__name__}: {err}")


def build_flow(job: Job, source: Source, sink: Sink, max_in_flight: int, progress: Progress | None = None,
               window: int = 1000, stop_requested: Callable[[], bool] = lambda: False,
               backlog: Backlog | None = None) -> Dataflow:
    """The dataflow of a job, from its source to the sink that receives every outcome.

    ``progress`` counts the events taken, for the health probes; the sink counts their outcomes.
    ``window``: events a partition may have taken and not yet reported (see :mod:`flows.runtime.in_flight`);
    once ``stop_requested()``, no further event is started. ``backlog`` counts the events held for
    links (:mod:`flows.runtime.linking`): the source should stop reading while it is full.
    """
    if not inspect.iscoroutinefunction(job.handle):
        raise TypeError(f"{job.name}: the handler must be a coroutine function (async def)")
    handlers = CoroutinePool(partial(handle_one, job), max_in_flight, stop_requested)
    flow = Dataflow(job.name.replace("-", "_"))
    messages = op.input("read_events", flow, source)
    by_partition = op.flat_map_batch("parse_and_validate", messages,
                                     partial(checked_batch, job, progress or Progress()))
    handled = op.stateful_batch("handle_event", by_partition,
                                lambda _resume: PartitionWindow(handlers, _is_outcome, _entity_of, window))
    if job.link is None:
        outcomes = op.flat_map_batch("outcomes", handled, unkeyed)
    else:
        outcomes = in_partition_order(job, handled, max_in_flight, stop_requested, backlog or Backlog(window))
    op.output("report_outcome", outcomes, sink)
    return flow


def _is_outcome(item: _Item) -> bool:
    return isinstance(item, Outcome)


def _entity_of(item: _Pending) -> str | None:
    return item.entity


def job_flow(defaults: str, make_job: Callable[[Reader, CommonSettings], Job], job_name: str) -> Dataflow:
    """The production dataflow: settings, logs, signals, Kafka and the job's rules.

    A bad configuration stops the process here with one line naming the key.
    """
    configure_logs(job_name, os.environ.get("LOG_LEVEL", "INFO"))
    try:
        config = load_config(defaults)
        reader = Reader(config)
        settings = CommonSettings.read(reader)
        job = make_job(reader, settings)
    except ConfigError as err:
        exit_at_start(f"configuration error: {err}")
    for variable in reader.unread_environment():
        log.warning("an environment variable named like a setting is not read by this job (a typo?)",
                    extra={"variable": variable})
    kafka = settings.kafka
    client = {"bootstrap.servers": kafka.brokers, **kafka.client}
    watch = BrokerWatch(kafka.unavailable_timeout_s)
    progress = Progress()
    if settings.health.port:
        _serve_health(settings.health, Health(progress, watch.unreachable_s, settings.health.stall_timeout_s))
    try:
        partitions_of(watch.client_config(client), [*job.topics, kafka.failed_topic], kafka.unavailable_timeout_s)
    except KafkaException as err:
        if err.args and err.args[0].code() == KafkaError._INVALID_ARG:  # a property librdkafka does not take
            exit_at_start(f"configuration error: kafka.client: {err.args[0].str()}")
        protocol = kafka.client.get("security.protocol", "plaintext")
        exit_at_start(f"kafka error: no answer from the brokers at {kafka.brokers} (kafka.broker-servers) with "
                      f"security.protocol {protocol} (kafka.client) within {kafka.unavailable_timeout_s:g}s "
                      f"(kafka.unavailable_timeout_s): {err.args[0].str() if err.args else err}")
    except RuntimeError as err:
        exit_at_start(f"kafka error: {err}")
    stop = StopSignal()
    stop.install(settings.shutdown_grace_s)
    window = 4 * kafka.batch_size
    backlog = Backlog(window)  # events held for links, in this process
    source = ConsumerGroupSource(client, kafka.group_id, list(job.topics), kafka.auto_offset_reset,
                                 kafka.batch_size, stop.requested, watch, progress.start, paused=backlog.full)
    sink = OutcomeSink(job, lambda: FailedTopicWriter(watch.client_config(client), kafka.failed_topic,
                                                      kafka.unavailable_timeout_s),
                       lambda: OffsetCommitter(client, kafka.group_id, watch), progress)
    log.info("starting", extra={"topics": list(job.topics), "group": kafka.group_id,
                                "failed_topic": kafka.failed_topic, "settings": reader.shown(),
                                "from_environment": sorted(k for k, o in reader.origins.items() if o == "environment")})
    flow = build_flow(job, source, sink, settings.http.max_in_flight, progress, window=window,
                      stop_requested=stop.requested, backlog=backlog)
    # The garbage collector, tuned for a stream of short-lived events: what start-up made lives as long as
    # the process, so it is frozen (never walked again); and a young collection waits for 20,000 new objects
    # rather than 700, by when most of a batch's objects have died with their outcomes instead of being
    # promoted and walked again (make bench: the skipped path 28,000-36,000 -> 37,000-43,000 events/s).
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    return flow


def _serve_health(settings: HealthSettings, health: Health) -> None:
    """The probes' endpoint, once per process (the workers share it); a taken port stops the job at start."""
    try:
        serve(settings.port, health)
    except OSError as err:
        exit_at_start(f"health error: cannot listen on port {settings.port} (health.port): {err.strerror or err}")
    log.info("health endpoint listening", extra={"port": settings.port, "stall_timeout_s": settings.stall_timeout_s})
