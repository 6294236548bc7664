"""What became of one event, and the failed-topic record that reports a failure (its format:
:mod:`connectors.failed_records`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


from connectors import failed_records
from connectors.failed_records import FailedRecord, Stage
from connectors.kafka import SourceMessage

MAX_DETAIL = 2000  # characters of an error or a skip reason kept (it may repeat a whole service answer)


def shortened(detail: str) -> str:
    """``detail`` cut to :data:`MAX_DETAIL` characters, saying how much was left out."""
    if len(detail) <= MAX_DETAIL:
        return detail
    return f"{detail[:MAX_DETAIL]}... ({len(detail) - MAX_DETAIL} more characters)"


class OutcomeKind(StrEnum):
    """What became of an event: the ``outcome`` of its log line and metric."""

    SUCCESS = "success"
    SKIPPED = "skipped"
    FAILED = "failed"
    BAD_INPUT = "bad_input"  # not a JSON object: its bytes go to the failed topic as they are


SUCCESS, SKIPPED, FAILED, BAD_INPUT = OutcomeKind


@dataclass(slots=True)  # not frozen: made for every event, and a frozen one takes 2.5 times as long
class Outcome:
    """The end of one event's way through a job."""

    message: SourceMessage
    kind: OutcomeKind
    event: dict | None = None
    entity: str | None = None
    stage: Stage | None = None
    detail: str | None = None  # the skip reason or the error
    status: int | None = None
    seconds: float = 0.0
    # The event's mid, for an outcome that does not keep its event: one skipped by validation lets it go at
    # once, so that its objects die young (the garbage collector walks again what outlives a collection).
    mid: str | None = None

    @property
    def to_failed_topic(self) -> bool:
        """Whether the failed topic gets a record for it."""
        return self.kind in (FAILED, BAD_INPUT)


def partition_key(message: SourceMessage) -> str:
    """The key of everything done per partition (its window, its order, its commits): ``"0-topic"``."""
    return f"{message.partition}-{message.topic}"


def unkeyed(pairs: list[tuple[str, Outcome]]) -> list[Outcome]:
    """A keyed batch's outcomes, as a batch step (bytewax's ``key_rm`` takes a call per outcome)."""
    return [value for _key, value in pairs]


def failed_record(job_name: str, outcome: Outcome) -> FailedRecord:
    """The failed-topic record for a ``failed`` or ``bad_input`` outcome."""
    message = outcome.message
    header_list = failed_records.headers(job_name, outcome.detail, outcome.stage, message.topic, message.partition,
                                         message.offset)
    if outcome.kind == BAD_INPUT or outcome.event is None:
        value = message.value if message.value is not None else b""
        return FailedRecord(message.key, value, header_list)
    return failed_records.record(job_name, outcome.event, outcome.detail, outcome.stage, outcome.status, message.key,
                                 header_list)


def failed_record_or_stand_in(job_name: str, outcome: Outcome) -> FailedRecord:
    """:func:`failed_record`; when it cannot be written, a small stand-in naming the source offset,
    where the event still is, so that no event can stop the sink."""
    try:
        return failed_record(job_name, outcome)
    except Exception as err:
        message = outcome.message
        error = (f"the failed record could not be written ({err.__class__.__name__}); read the event at its "
                 f"source offset")
        return failed_records.stand_in(message.key, failed_records.headers(
            job_name, error, outcome.stage, message.topic, message.partition, message.offset),
            error, outcome.stage, "unwritable", job=job_name)
