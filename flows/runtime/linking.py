"""Linking objects into collection units: one add at a time per collection, in the whole cluster.

The content service adds a child to a collection's hierarchy by read-modify-write, so two adds into
one collection at once can lose one (a bulk upload sends hundreds of contents to the same units).
So a job's handler does not link: it returns :class:`~flows.runtime.job.Link`, and the pipeline sends one
:class:`LinkWork` per collection to a step keyed by collection id. Bytewax routes a key to one worker
of the whole cluster, where :class:`CollectionLinks` runs that collection's links one batch after the
other: the works that arrive while a batch runs go together in the next one (at most
:data:`MAX_BATCH`), so a busy collection costs one read, one add per unit and one check per batch, not
per object. Different collections run concurrently. The results go back, keyed by
partition, to :class:`PartitionOrder`, which lets the outcomes out in the partition's offset order
again, so the sink commits as before::

    handle_event --+-- outcomes, and the events waiting for links --------------------+
                   '-- one LinkWork per collection -> link_collection (by collection) -+-> in_partition_order -> sink

At a stop, links already started finish; an event whose links did not all finish is not reported,
so it is not committed and is read again after the restart (adding a child twice is harmless).
A failed link fails its event (a failed record, which replays the link); the content is not marked
``Failed``: it is published and usable, and a later event about it may already have run.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, wait
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import Callable, Iterable

import bytewax.operators as op
from bytewax.operators import StatefulBatchLogic

from connectors.failed_records import Stage
from flows.runtime.in_flight import POLL, CoroutinePool
from flows.runtime.job import Job, Link
from flows.runtime.outcome import FAILED, Outcome, partition_key, shortened, unkeyed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Linking:
    """An event whose work is done but for its links: ``outcome`` once they all succeed."""

    outcome: Outcome
    link: Link


@dataclass(frozen=True)
class LinkWork:
    """Link ``identifier`` into the units of one collection, for the event at ``partition``/``offset``."""

    partition: str
    offset: int
    collection_id: str
    unit_ids: tuple[str, ...]
    identifier: str


@dataclass(frozen=True)
class LinkResult:
    partition: str
    offset: int
    error: str | None = None
    status: int | None = None


def works_of(item: object) -> list[LinkWork]:
    """One :class:`LinkWork` per collection of an event waiting for links; none for anything else."""
    if not isinstance(item, Linking):
        return []
    message, link = item.outcome.message, item.link
    return [LinkWork(partition_key(message), message.offset, collection_id, tuple(unit_ids), link.identifier)
            for collection_id, unit_ids in link.units.items()]


MAX_BATCH = 100  # objects linked into one collection in one go


async def link_batch(job: Job, works: list[LinkWork]) -> list[LinkResult]:
    """Run the job's link for one collection's works; every error becomes the results' errors, none escapes."""
    collection_id = works[0].collection_id
    try:
        errors = await job.link(collection_id, [(work.identifier, list(work.unit_ids)) for work in works])
        return [_result(work, errors.get(work.identifier)) for work in works]
    except job.expected as err:
        error, status = f"{err}", getattr(err, "status", None)
    except Exception as err:  # a bug or an unforeseen answer must not stop the job
        log.exception("link error", extra={"entity": collection_id})
        error, status = f"{err.__class__.__name__}: {err}", None
    return [_result(work, error, status) for work in works]


def _result(work: LinkWork, error: str | None, status: int | None = None) -> LinkResult:
    if error is None:
        return LinkResult(work.partition, work.offset)
    return LinkResult(work.partition, work.offset, shortened(f"linking into collection {work.collection_id}: {error}"),
                      status)


class CollectionLinks(StatefulBatchLogic):
    """One collection's links on the worker that owns its key: one batch at a time, made of the works that
    came while the one before ran."""

    def __init__(self, links: CoroutinePool):
        self._links = links
        self._queued: list[LinkWork] = []
        self._running: Future | None = None

    def on_batch(self, works: list[LinkWork]) -> tuple[Iterable, bool]:
        self._queued.extend(works)
        return self._step()

    def on_notify(self) -> tuple[Iterable, bool]:
        return self._step()

    def on_eof(self) -> tuple[Iterable, bool]:
        """The input ended: every work is linked, batch after batch; at a stop, only the batch running
        finishes, and the events of the works still queued are not reported (read again after the restart)."""
        results: list[LinkResult] = []
        while self._running is not None:
            wait([self._running])
            done, _ = self._step(start=not self._links.stop_requested())
            results += done
        return results, StatefulBatchLogic.DISCARD

    def notify_at(self) -> datetime | None:
        return datetime.now(timezone.utc) + POLL if self._running is not None else None

    def snapshot(self) -> None:
        return None  # no bytewax recovery: the committed offsets are the position

    def _step(self, start: bool = True) -> tuple[list[LinkResult], bool]:
        results: list[LinkResult] = []
        running = self._running
        if running is not None and running.done():  # one look: a batch finishing meanwhile is seen next time
            results = [] if running.cancelled() else running.result()
            self._running = None
        if start and self._running is None and self._queued:
            batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
            self._running = self._links.submit(batch[0].collection_id, batch)
        busy = self._running is not None or self._queued
        return results, StatefulBatchLogic.RETAIN if busy else StatefulBatchLogic.DISCARD


class Backlog:
    """How many events this process's :class:`PartitionOrder` steps hold, waiting for links or behind an
    event that does. Past ``limit`` the process's Kafka sources stop reading until it drops: links slower
    than the rest of the work cannot fill the memory, and nothing waits inside a worker (a worker that
    waited could never receive the link results it waits for)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self._held += count

    def full(self) -> bool:
        return self._held >= self.limit


class PartitionOrder(StatefulBatchLogic):
    """A partition's outcomes in offset order again: an event waiting for links holds back those after it.

    Outcomes and waiting events arrive in offset order (from the partition's window); link results in
    any order, each naming its event's offset. What it holds counts in the process's :class:`Backlog`.
    """

    def __init__(self, backlog: Backlog) -> None:
        self._backlog = backlog
        self._waiting: deque = deque()  # outcomes and Linking, in offset order
        self._results: dict[int, list[LinkResult]] = {}  # offset -> the results come so far

    def on_batch(self, items: list) -> tuple[Iterable, bool]:
        held = len(self._waiting)
        for item in items:
            if isinstance(item, LinkResult):
                self._results.setdefault(item.offset, []).append(item)
            else:
                self._waiting.append(item)
        ready = self._ready()
        self._backlog.add(len(self._waiting) - held)
        return ready, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable, bool]:
        held = len(self._waiting)
        ready = self._ready()
        self._backlog.add(-held)  # what still waits is read again after the restart
        return ready, StatefulBatchLogic.DISCARD

    def snapshot(self) -> None:
        return None

    def _ready(self) -> list[Outcome]:
        ready = []
        while self._waiting:
            head = self._waiting[0]
            if isinstance(head, Linking):
                offset = head.outcome.message.offset
                results = self._results.get(offset, [])
                if len(results) < len(head.link.units):
                    break
                self._results.pop(offset, None)
                head = _linked(head.outcome, results)
            ready.append(head)
            self._waiting.popleft()
        return ready


def _linked(outcome: Outcome, results: list[LinkResult]) -> Outcome:
    failed = [result for result in results if result.error]
    if not failed:
        return outcome
    return replace(outcome, kind=FAILED, stage=Stage.LINK, detail=shortened("; ".join(r.error for r in failed)),
                   status=failed[0].status)


def in_partition_order(job: Job, handled: op.KeyedStream, max_in_flight: int, stop_requested: Callable[[], bool],
                       backlog: Backlog) -> op.Stream:
    """The steps after ``handle_event`` for a job that links: the outcomes, links done, in offset order."""
    links = CoroutinePool(partial(link_batch, job), max_in_flight, stop_requested)
    works = op.flat_map("links_of_event", handled, lambda keyed: works_of(keyed[1]))
    by_collection = op.key_on("by_collection", works, lambda work: work.collection_id)
    results = op.stateful_batch("link_collection", by_collection, lambda _resume: CollectionLinks(links))
    back = op.key_on("back_to_partition", op.key_rm("link_results", results), lambda result: result.partition)
    merged = op.merge("with_link_results", handled, back)
    ordered = op.stateful_batch("in_partition_order", merged, lambda _resume: PartitionOrder(backlog))
    return op.flat_map_batch("outcomes", ordered, unkeyed)
