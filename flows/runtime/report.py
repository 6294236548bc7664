"""The end of the pipeline: each outcome counted, logged and, when it failed, written to the
failed topic; then the offsets committed. Nothing is committed before its failed record is stored.
Each batch then counts as progress for the liveness probe.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.kafka import FailedTopicWriter, OffsetCommitter
from connectors.metrics import EVENTS
from flows.runtime.health import Progress
from flows.runtime.job import Job
from flows.runtime.logs import OutcomeLines
from flows.runtime.outcome import BAD_INPUT, FAILED, SKIPPED, SUCCESS, Outcome, failed_record_or_stand_in


def log_fields(job: Job, outcome: Outcome) -> dict:
    """What the outcome line says: no personal data (user ids hashed, events never logged)."""
    mid = outcome.event.get("mid") if outcome.event else None
    return {
        "mid": mid if isinstance(mid, str) else None,
        "outcome": outcome.kind,
        "entity": job.loggable(outcome.entity),
        "topic": outcome.message.topic,
        "partition": outcome.message.partition,
        "offset": outcome.message.offset,
        "duration_ms": round(outcome.seconds * 1000, 1),
        "status": outcome.status,
        "stage": outcome.stage,
        "error" if outcome.to_failed_topic else "reason": outcome.detail,
    }


class OutcomeSink(DynamicSink):
    """The commit point: failed records stored, then counted and logged, then offsets committed."""

    def __init__(self, job: Job, make_writer: Callable[[], FailedTopicWriter],
                 make_committer: Callable[[], OffsetCommitter], progress: Progress):
        self._job = job
        self._make_writer = make_writer
        self._make_committer = make_committer
        self._progress = progress

    def build(self, step_id: str, worker_index: int, worker_count: int) -> "OutcomePartition":
        return OutcomePartition(self._job, self._make_writer(), self._make_committer(), self._progress)


class OutcomePartition(StatelessSinkPartition):
    def __init__(self, job: Job, writer: FailedTopicWriter, committer: OffsetCommitter,
                 progress: Progress | None = None):
        self._job = job
        self._writer = writer
        self._committer = committer
        self._progress = progress or Progress()
        self._lines = OutcomeLines(job.name)
        self._counters = {kind: EVENTS.labels(job.name, kind) for kind in (SUCCESS, SKIPPED, FAILED, BAD_INPUT)}

    def write_batch(self, outcomes: list[Outcome]) -> None:
        self._writer.write([failed_record_or_stand_in(self._job.name, o) for o in outcomes if o.to_failed_topic])
        for kind, count in Counter(outcome.kind for outcome in outcomes).items():
            self._counters[kind].inc(count)
        for outcome in outcomes:
            level = logging.WARNING if outcome.to_failed_topic else logging.INFO
            self._lines.add(level, f"event {outcome.kind}", log_fields(self._job, outcome))
            self._committer.done(outcome.message.topic, outcome.message.partition, outcome.message.offset)
        self._lines.flush()
        self._committer.commit()
        self._progress.reported(len(outcomes))

    def close(self) -> None:
        self._writer.close()
        self._committer.close()
