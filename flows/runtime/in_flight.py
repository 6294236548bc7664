"""Events in flight: handled concurrently, reported in their partition's order.

No batch waits for its slowest event. Each partition has a :class:`PartitionWindow`
(a bytewax stateful step keyed by partition) that hands events to the process-wide
:class:`CoroutinePool` as they arrive and lets outcomes out in offset order, as soon as every earlier
event of the partition has one. So one slow call holds back only the commit of what follows it,
not the work: the other events keep the pool busy. Because outcomes leave in offset order, the
sink can keep committing "the last outcome's offset + 1".

Events about the same entity run one after the other, in the order they arrived, whatever their
partition (a lane per entity); different entities run concurrently, at most ``max_in_flight``
per process, as coroutines on the process's event loop: one thread holds every call in flight, so no
answer waits for the GIL to be handed over. What blocks (a download, a stored file) runs on threads,
awaited (:func:`in_thread`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from concurrent.futures import Executor, Future, wait
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Awaitable, Callable, Iterable, TypeVar

from bytewax.operators import StatefulBatchLogic

POLL = timedelta(milliseconds=5)  # how often finished events are looked for while some are in flight
_WAIT_SLICE_S = 0.5  # a full window waits for its oldest event in slices, to notice a stop
_LOOP_LOCK = threading.Lock()
_LOOPS: list[asyncio.AbstractEventLoop] = []  # at most one: the process's event loop, on a thread of its own
T = TypeVar("T")


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop, running on a thread of its own from the first call on."""
    with _LOOP_LOCK:
        if not _LOOPS:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="event-loop", daemon=True).start()
            _LOOPS.append(loop)
        return _LOOPS[0]


async def in_thread(threads: Executor, call: Callable[[], T]) -> T:
    """``call()`` on one of ``threads``, awaited: blocking work (a download, a stored file, a zip read) kept
    off the event loop, so that it holds up no other event's calls."""
    return await asyncio.get_running_loop().run_in_executor(threads, call)


class CoroutinePool:
    """Events run on the process's event loop, at most ``max_in_flight`` at once, and one entity's in the
    order they came (each waits for the one before it).

    One per process: the workers of a process and all their partitions share it, so
    ``max_in_flight`` bounds the events in flight per process.
    """

    def __init__(self, handle: Callable[[object], Awaitable[object]], max_in_flight: int,
                 stop_requested: Callable[[], bool] = lambda: False):
        self._handle = handle
        self._loop = event_loop()
        self._slots = asyncio.Semaphore(max_in_flight)
        self.stop_requested = stop_requested
        self._lanes: dict[str, asyncio.Future] = {}  # entity -> done when its latest event is (loop thread only)
        self._tasks: set[asyncio.Task] = set()  # the loop keeps only weak references to its tasks (loop thread only)

    def submit(self, entity: str | None, item: object) -> Future:
        """The outcome of ``item``, to come; after every earlier event of the same entity."""
        future = Future()
        self.start([(entity, item, future)])
        return future

    def start(self, work: list[tuple[str | None, object, Future]]) -> None:
        """Each ``(entity, item, future)`` started in the list's order, its outcome to come in ``future``; the
        whole list handed to the loop in one crossing (a write to its pipe and a hand-over of the GIL)."""
        if work:
            self._loop.call_soon_threadsafe(self._start, work)

    def _start(self, work: list[tuple[str | None, object, Future]]) -> None:
        for entity, item, future in work:
            task = self._loop.create_task(self._run(entity, item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(partial(_settle, future))

    async def _run(self, entity: str | None, item: object) -> object:
        # Coroutines start in the order they were submitted, so the lane is taken in that order.
        before = self._lanes.get(entity) if entity is not None else None
        mine = self._loop.create_future()
        if entity is not None:
            self._lanes[entity] = mine
        try:
            if before is not None:
                await asyncio.wait([before])
            async with self._slots:
                if self.stop_requested():  # not started before the stop: not reported, so read again after it
                    raise asyncio.CancelledError()
                return await self._handle(item)  # the handler turns every error into an outcome
        finally:
            mine.set_result(None)
            if entity is not None and self._lanes.get(entity) is mine:
                del self._lanes[entity]


def _settle(future: Future, task: asyncio.Task) -> None:
    """The task's end, told to the threads that wait on ``future`` (a cancel reaches ``wait()`` only through
    ``set_running_or_notify_cancel``, as ``asyncio.run_coroutine_threadsafe`` does it)."""
    if task.cancelled():
        future.cancel()
    if not future.set_running_or_notify_cancel():
        return
    error = task.exception()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())


class PartitionWindow(StatefulBatchLogic):
    """One partition's events from "taken" to "reported", in offset order.

    Items that already are outcomes (bad input, skipped) wait only for the events before them.
    At most ``limit`` events of the partition are held; when that many are, taking more waits for
    the oldest, which bounds memory on a backlog. That wait ends at a stop, even if the oldest event
    hangs: what comes after it is then never started nor reported, and is read again after the restart.
    """

    def __init__(self, handlers: CoroutinePool, is_done: Callable[[object], bool],
                 entity_of: Callable[[object], str | None], limit: int):
        self._handlers = handlers
        self._is_done = is_done
        self._entity_of = entity_of
        self._limit = limit
        self._held: deque = deque()  # outcomes and futures of outcomes, in offset order

    def on_batch(self, items: list) -> tuple[Iterable, bool]:
        out, work = [], []
        try:
            for item in items:
                if self._is_done(item):
                    if not self._held:
                        out.append(item)  # nothing before it in flight: straight through
                        continue
                    self._held.append(item)
                else:
                    if len(self._held) >= self._limit:
                        self._handlers.start(work)  # what is held so far must run before it can be waited for
                        work = []
                        self._wait_for_oldest()
                        out.extend(self._ready())
                    future = Future()
                    work.append((self._entity_of(item), item, future))
                    self._held.append(future)
        finally:  # every future held is started, whatever happened: a stop waits for each of them
            self._handlers.start(work)
        out.extend(self._ready())
        return out, StatefulBatchLogic.RETAIN

    def _wait_for_oldest(self) -> None:
        oldest = self._held[0]
        while not self._handlers.stop_requested() and not oldest.done():
            wait([oldest], timeout=_WAIT_SLICE_S)

    def on_notify(self) -> tuple[Iterable, bool]:
        return self._ready(), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable, bool]:
        """The input ended (a stop): the events already started reach their outcome; those that were
        waiting for a slot are not started, and what follows them is not reported."""
        wait([held for held in self._held if isinstance(held, Future)])
        ready = self._ready()
        self._held.clear()  # after a cancelled one: never reported, never committed
        return ready, StatefulBatchLogic.DISCARD

    def notify_at(self) -> datetime | None:
        return datetime.now(timezone.utc) + POLL if self._held else None

    def snapshot(self) -> None:
        return None  # no bytewax recovery: the committed offsets are the position

    def _ready(self) -> list:
        """The outcomes at the front that have nothing unfinished before them."""
        ready = []
        held = self._held
        while held:
            head = held[0]
            if isinstance(head, Future):
                if not head.done() or head.cancelled():
                    break
                head = head.result()
            ready.append(head)
            held.popleft()
        return ready
