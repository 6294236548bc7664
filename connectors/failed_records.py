"""The failed topic's records, in one place: the jobs write them, ``tools/replay.py`` reads them.

A record's value is the failed event with ``edata.iteration`` raised by one (1 when absent), plus
``jobName`` and ``failInfo`` (``error``, ``stage``, ``status``); a value that was not a JSON object is
kept byte for byte. Its headers say which job failed it (``job``), why (``error``), at which stage
(``stage``) and where the event came from (``source.topic``, ``source.partition``, ``source.offset``).
A stand-in replaces a record that cannot be written (unwritable, or too large for the topic): the same
headers, each cut to 1 KiB, plus ``value.omitted``, and a value with only ``failInfo``. The event is
still at its source offset.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum

from connectors.json_bytes import dumps

JOB_NAME, FAIL_INFO = "jobName", "failInfo"
ADDED_FIELDS = (JOB_NAME, FAIL_INFO)  # what a record's value adds to the event
JOB = "job"  # the header naming the job that failed the event
OMITTED = "value.omitted"  # the header of a stand-in: the event is only at its source offset
SOURCE = ("source.topic", "source.partition", "source.offset")
STAND_IN_PART = 1024  # bytes of each header value (and of the key) a stand-in keeps


class Stage(StrEnum):
    """Where an event's way ended, when not in success: ``failInfo.stage`` and the ``stage`` header."""

    PARSE = "parse"
    VALIDATE = "validate"
    PROCESS = "process"
    LINK = "link"
    REPORT = "report"  # the record itself could not be written: a stand-in


@dataclass(frozen=True)
class FailedRecord:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def next_iteration(event: dict) -> dict:
    """A copy of the event with ``edata.iteration`` increased by one."""
    retried = copy.copy(event)
    edata = dict(event.get("edata") or {})
    iteration = edata.get("iteration")
    valid = isinstance(iteration, int) and not isinstance(iteration, bool)
    edata["iteration"] = iteration + 1 if valid else 1
    retried["edata"] = edata
    return retried


def headers(job: str, error: str | None, stage: str | None, topic: str | None, partition: int,
            offset: int) -> list[tuple[str, bytes]]:
    """UTF-8 header values; text that is not Unicode (a lone surrogate) as a ``\\udc80`` escape."""
    named = [(JOB, job), ("error", error or ""), ("stage", stage or ""),
             *zip(SOURCE, (topic or "", str(partition), str(offset)))]
    return [(name, text.encode("utf-8", "backslashreplace")) for name, text in named]


def record(job: str, event: dict, error: str | None, stage: str | None, status: int | None, key: bytes | None,
           header_list: list[tuple[str, bytes]]) -> FailedRecord:
    """The record of a failed event that was a JSON object."""
    document = next_iteration(event)
    document[JOB_NAME] = job
    document[FAIL_INFO] = {"error": error, "stage": stage, "status": status}
    return FailedRecord(key, dumps(document), header_list)


def stand_in(key: bytes | None, header_list: list[tuple[str, bytes]], error: str, stage: str | None,
             why_omitted: str, job: str | None = None) -> FailedRecord:
    """A small record in place of one that cannot be written: it says why, and where the event is."""
    value = {FAIL_INFO: {"error": error, "stage": stage, "status": None}}
    if job is not None:
        value = {JOB_NAME: job, **value}
    kept_key = key if key is None or len(key) <= STAND_IN_PART else None
    kept = [(name, text[:STAND_IN_PART]) for name, text in header_list]
    return FailedRecord(kept_key, dumps(value), [*kept, (OMITTED, why_omitted.encode())])


def source_of(named_headers: dict[str, str]) -> str:
    """Where the failed event came from, as ``topic/partition/offset``."""
    return "/".join(named_headers.get(name, "?") for name in SOURCE)
