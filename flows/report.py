"""The end of the pipeline: each outcome counted, logged and, when it failed, written to the
failed topic; then the offsets committed. Nothing is committed before its failed record is stored.
"""

from __future__ import annotations

import logging
from typing import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.kafka import FailedTopicWriter, OffsetCommitter
from connectors.metrics import EVENTS
from flows.job import Job
from flows.outcome import Outcome, failed_record

log = logging.getLogger("cokreat.outcome")


def log_outcome(job: Job, outcome: Outcome) -> None:
    """One INFO line per event (WARNING when it failed); no personal data."""
    mid = outcome.event.get("mid") if outcome.event else None
    log.log(logging.WARNING if outcome.reported else logging.INFO, "event %s", outcome.kind, extra={
        "mid": mid if isinstance(mid, str) else None,
        "outcome": outcome.kind,
        "entity": job.loggable(outcome.entity),
        "topic": outcome.message.topic,
        "partition": outcome.message.partition,
        "offset": outcome.message.offset,
        "duration_ms": round(outcome.seconds * 1000, 1),
        "status": outcome.status,
        "stage": outcome.stage,
        "error" if outcome.reported else "reason": outcome.detail,
    })


class OutcomeSink(DynamicSink):
    """The commit point: failed records stored, then counted and logged, then offsets committed."""

    def __init__(self, job: Job, make_writer: Callable[[], FailedTopicWriter],
                 make_committer: Callable[[], OffsetCommitter]):
        self._job = job
        self._make_writer = make_writer
        self._make_committer = make_committer

    def build(self, step_id: str, worker_index: int, worker_count: int) -> "OutcomePartition":
        return OutcomePartition(self._job, self._make_writer(), self._make_committer())


class OutcomePartition(StatelessSinkPartition):
    def __init__(self, job: Job, writer: FailedTopicWriter, committer: OffsetCommitter):
        self._job = job
        self._writer = writer
        self._committer = committer

    def write_batch(self, outcomes: list[Outcome]) -> None:
        self._writer.write([failed_record(self._job.name, o) for o in outcomes if o.reported])
        for outcome in outcomes:
            EVENTS.labels(self._job.name, outcome.kind).inc()
            log_outcome(self._job, outcome)
            self._committer.done(outcome.message.topic, outcome.message.partition, outcome.message.offset)
        self._committer.commit()

    def close(self) -> None:
        self._writer.close()
        self._committer.close()
