"""Linking objects into collection units: one add at a time per collection, in the whole cluster.

The content service adds a child to a collection's hierarchy by read-modify-write, so two adds into
one collection at once can lose one (a bulk upload sends hundreds of contents to the same units).
So a job's handler does not link: it returns :class:`~flows.runtime.job.Link`, and the pipeline sends one
:class:`LinkWork` per collection to a step keyed by collection id. Bytewax routes a key to one worker
of the whole cluster, where a lane of :class:`~flows.runtime.in_flight.HandlerPool` runs that collection's links
one after the other (different collections run concurrently). The results go back, keyed by
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
from flows.runtime.in_flight import POLL, HandlerPool
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


def link_one(job: Job, work: LinkWork) -> LinkResult:
    """Run the job's link for one collection; every error becomes the result's error, none escapes."""
    try:
        job.link(work.collection_id, list(work.unit_ids), work.identifier)
        return LinkResult(work.partition, work.offset)
    except job.expected as err:
        error, status = f"linking into collection {work.collection_id}: {err}", getattr(err, "status", None)
    except Exception as err:  # a bug or an unforeseen answer must not stop the job
        log.exception("link error", extra={"entity": work.identifier})
        error, status = f"linking into collection {work.collection_id}: {err.__class__.__name__}: {err}", None
    return LinkResult(work.partition, work.offset, shortened(error), status)


class CollectionLinks(StatefulBatchLogic):
    """One collection's links on the worker that owns its key, each after the one before."""

    def __init__(self, links: HandlerPool):
        self._links = links
        self._running: list[Future] = []

    def on_batch(self, works: list[LinkWork]) -> tuple[Iterable, bool]:
        self._running.extend(self._links.submit(work.collection_id, work) for work in works)
        return self._finished()

    def on_notify(self) -> tuple[Iterable, bool]:
        return self._finished()

    def on_eof(self) -> tuple[Iterable, bool]:
        wait(self._running)
        return self._finished()

    def notify_at(self) -> datetime | None:
        return datetime.now(timezone.utc) + POLL if self._running else None

    def snapshot(self) -> None:
        return None  # no bytewax recovery: the committed offsets are the position

    def _finished(self) -> tuple[list[LinkResult], bool]:
        done, running = [], []
        for future in self._running:  # one look each: a link finishing meanwhile is in one list, not none
            (done if future.done() else running).append(future)
        self._running = running
        results = [future.result() for future in done if not future.cancelled()]
        return results, StatefulBatchLogic.RETAIN if self._running else StatefulBatchLogic.DISCARD


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
    links = HandlerPool(partial(link_one, job), max_in_flight, stop_requested)
    works = op.flat_map("links_of_event", handled, lambda keyed: works_of(keyed[1]))
    by_collection = op.key_on("by_collection", works, lambda work: work.collection_id)
    results = op.stateful_batch("link_collection", by_collection, lambda _resume: CollectionLinks(links))
    back = op.key_on("back_to_partition", op.key_rm("link_results", results), lambda result: result.partition)
    merged = op.merge("with_link_results", handled, back)
    ordered = op.stateful_batch("in_partition_order", merged, lambda _resume: PartitionOrder(backlog))
    return op.flat_map_batch("outcomes", ordered, unkeyed)
