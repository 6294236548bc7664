"""What became of one event, and the failed-topic record that reports a failure.

Record format (CONTRACT.md): the original event with ``edata.iteration`` increased by
one (1 when absent), plus ``jobName`` and ``failInfo``; a value that was not a JSON
object is written back byte for byte. Headers say which job failed it, why, at which
stage, and where the event came from.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from bytewax.connectors.kafka import KafkaSourceMessage

from connectors.kafka import FailedRecord
from connectors.json_bytes import dumps

SUCCESS, SKIPPED, FAILED, BAD_INPUT = "success", "skipped", "failed", "bad_input"


@dataclass(frozen=True)
class Outcome:
    """The end of one event's way through a job."""

    message: KafkaSourceMessage
    kind: str
    event: dict | None = None
    entity: str | None = None
    stage: str | None = None
    detail: str | None = None  # the skip reason or the error
    status: int | None = None
    seconds: float = 0.0

    @property
    def reported(self) -> bool:
        """Whether the failed topic gets a record for it."""
        return self.kind in (FAILED, BAD_INPUT)


def next_iteration(event: dict) -> dict:
    """A copy of the event with ``edata.iteration`` increased by one."""
    retried = copy.copy(event)
    edata = dict(event.get("edata") or {})
    iteration = edata.get("iteration")
    valid = isinstance(iteration, int) and not isinstance(iteration, bool)
    edata["iteration"] = iteration + 1 if valid else 1
    retried["edata"] = edata
    return retried


def failed_record(job_name: str, outcome: Outcome) -> FailedRecord:
    """The failed-topic record for a ``failed`` or ``bad_input`` outcome."""
    message = outcome.message
    if outcome.kind == BAD_INPUT or outcome.event is None:
        value = message.value if message.value is not None else b""
    else:
        document = next_iteration(outcome.event)
        document["jobName"] = job_name
        document["failInfo"] = {"error": outcome.detail, "stage": outcome.stage, "status": outcome.status}
        value = dumps(document)
    headers = [
        ("job", job_name),
        ("error", outcome.detail or ""),
        ("stage", outcome.stage or ""),
        ("source.topic", message.topic or ""),
        ("source.partition", str(message.partition)),
        ("source.offset", str(message.offset)),
    ]
    return FailedRecord(key=message.key, value=value, headers=_encoded(headers))


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """UTF-8 header values; text that is not Unicode (a lone surrogate) as a ``\\udc80`` escape."""
    return [(name, text.encode("utf-8", "backslashreplace")) for name, text in headers]


def failed_record_or_stand_in(job_name: str, outcome: Outcome) -> FailedRecord:
    """:func:`failed_record`; when it cannot be written, a small stand-in naming the source offset,
    where the event still is, so that no event can stop the sink."""
    try:
        return failed_record(job_name, outcome)
    except Exception as err:
        message = outcome.message
        error = (f"the failed record could not be written ({err.__class__.__name__}); read the event at its "
                 f"source offset")
        value = dumps({"jobName": job_name, "failInfo": {"error": error, "stage": outcome.stage, "status": None}})
        return FailedRecord(message.key, value, _encoded([
            ("job", job_name), ("error", error), ("stage", outcome.stage or ""),
            ("source.topic", message.topic or ""), ("source.partition", str(message.partition)),
            ("source.offset", str(message.offset)), ("value.omitted", "unwritable")]))
