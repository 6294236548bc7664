"""The end of the pipeline, per batch of outcomes: failed records stored (acknowledged by the broker),
then counted, then logged, then the offsets committed; nothing is committed before its failed record is
stored. Each batch then counts as progress for the liveness probe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.failed_records import Stage
from connectors.kafka import FailedTopicWriter, OffsetCommitter
from connectors.metrics import EVENTS
from flows.runtime.health import Progress
from flows.runtime.job import Job
from flows.runtime.logs import OutcomeLines
from flows.runtime.outcome import SKIPPED, Outcome, OutcomeKind, failed_record_or_stand_in

SUMMARY_INTERVAL_S = 5.0  # at most this long between an event skipped by validation and the line counting it


def log_fields(job: Job, outcome: Outcome) -> dict:
    """What the outcome line says: no personal data (user ids hashed, events never logged)."""
    mid = outcome.event.get("mid") if outcome.event else outcome.mid
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


class FailedRecords:
    """Stores a batch's failed records; returns only once the broker has acknowledged every one."""

    def __init__(self, job: Job, writer: FailedTopicWriter):
        self._job = job
        self._writer = writer

    def store(self, outcomes: list[Outcome]) -> None:
        self._writer.write([failed_record_or_stand_in(self._job.name, o) for o in outcomes if o.to_failed_topic])


class OutcomeCounts:
    """The ``cokreat_events_total`` series, by outcome."""

    def __init__(self, job: Job):
        self._counters = {kind: EVENTS.labels(job.name, kind) for kind in OutcomeKind}

    def add(self, outcomes: list[Outcome]) -> None:
        for kind, count in Counter(outcome.kind for outcome in outcomes).items():
            self._counters[kind].inc(count)


class SkipSummary:
    """Events skipped by validation (not for this job) counted by reason, in one INFO line at most every
    ``interval_s`` while there are any, and one at close: on a topic shared with other jobs, a line each
    would cost more than the rest of the pipeline. The reasons listed are capped, since a reason may
    quote the event."""

    MAX_REASONS = 20

    def __init__(self, job_name: str, interval_s: float = SUMMARY_INTERVAL_S):
        self._lines = OutcomeLines(job_name)
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._reasons: Counter = Counter()
        self._first_at = self._last_at = 0.0
        self._closed = threading.Event()
        self._timer: threading.Thread | None = None

    def count(self, reasons: list[str | None]) -> None:
        with self._lock:
            if not self._reasons:
                self._first_at = time.time()
            self._reasons.update(reasons)
            self._last_at = time.time()
            if self._timer is None:
                self._timer = threading.Thread(target=self._every_interval, name="skip-summary", daemon=True)
                self._timer.start()

    def _every_interval(self) -> None:
        while not self._closed.wait(self._interval_s):
            self.write()

    def write(self) -> None:
        """The line for the skips counted since the last one, if any (from the timer, or at close)."""
        with self._lock:
            reasons, self._reasons = self._reasons, Counter()
            if not reasons:
                return
            total, listed = reasons.total(), dict(reasons.most_common(self.MAX_REASONS))
            fields = {"skipped": total, "reasons": listed, "other_reasons": total - sum(listed.values()),
                      "first_skipped_at": _iso(self._first_at), "last_skipped_at": _iso(self._last_at)}
            self._lines.add(logging.INFO, "events skipped by validation", fields)
            self._lines.flush()

    def close(self) -> None:
        self._closed.set()
        self.write()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")


class OutcomeLog:
    """One line per outcome (a warning when it goes to the failed topic), written per batch; events skipped
    by validation at DEBUG, and counted in the :class:`SkipSummary`."""

    def __init__(self, job: Job):
        self._job = job
        self._lines = OutcomeLines(job.name)
        self.skips = SkipSummary(job.name)

    def add(self, outcomes: list[Outcome]) -> None:
        not_for_job = []
        for outcome in outcomes:
            if outcome.kind is SKIPPED and outcome.stage == Stage.VALIDATE:
                not_for_job.append(outcome.detail)
                level = logging.DEBUG
            else:
                level = logging.WARNING if outcome.to_failed_topic else logging.INFO
            if self._lines.enabled(level):  # the fields cost more than the check
                self._lines.add(level, f"event {outcome.kind}", log_fields(self._job, outcome))
        self._lines.flush()
        if not_for_job:
            self.skips.count(not_for_job)


class Commits:
    """The consumer group's offsets: after the last outcome of each partition in the batch. Outcomes
    come in offset order per partition (the partition's window, then its return to order after links):
    committing "the last offset + 1" is safe only then, so an outcome out of order stops the job."""

    def __init__(self, committer: OffsetCommitter):
        self._committer = committer
        self._last: dict[tuple[str, int], int] = {}

    def commit(self, outcomes: list[Outcome]) -> None:
        last, batch = self._last, {}
        for outcome in outcomes:
            message = outcome.message
            key = (message.topic, message.partition)
            if message.offset <= last.get(key, -1):
                raise OutcomeOutOfOrder(f"{message.topic}[{message.partition}]: offset {message.offset} reported "
                                        f"after {last[key]}; committing would skip unfinished events")
            last[key] = batch[key] = message.offset
        for (topic, partition), offset in batch.items():
            self._committer.done(topic, partition, offset)
        self._committer.commit()


class OutcomeOutOfOrder(RuntimeError):
    """A bug: an outcome reached the sink before an earlier one of its partition."""


class OutcomePartition(StatelessSinkPartition):
    """Each batch of outcomes, in this order: failed records acknowledged, counted, logged, committed
    (nothing is committed before its failed record is stored), then progress for the liveness probe."""

    def __init__(self, job: Job, writer: FailedTopicWriter, committer: OffsetCommitter,
                 progress: Progress | None = None):
        self._writer, self._committer = writer, committer
        self._progress = progress or Progress()
        self._log = OutcomeLog(job)
        self._steps: tuple[Callable[[list[Outcome]], None], ...] = (
            FailedRecords(job, writer).store,
            OutcomeCounts(job).add,
            self._log.add,
            Commits(committer).commit,
        )

    def write_batch(self, outcomes: list[Outcome]) -> None:
        for step in self._steps:
            step(outcomes)
        self._progress.reported(len(outcomes))

    def close(self) -> None:
        self._log.skips.close()
        self._writer.close()
        self._committer.close()
