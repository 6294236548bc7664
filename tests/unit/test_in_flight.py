"""The partition window: a full window waits for its oldest event, but never past a stop; a batch goes to
the event loop at once."""

import asyncio
import threading
from concurrent.futures import wait

import pytest

from flows.runtime.in_flight import CoroutinePool, PartitionWindow, event_loop


@pytest.mark.timeout(30)
def test_a_full_window_stops_waiting_for_a_hung_event_when_asked_to_stop():
    hung, stop = threading.Event(), threading.Event()

    async def hang(_item):
        return await asyncio.to_thread(hung.wait)

    handlers = CoroutinePool(hang, 2, stop.is_set)
    window = PartitionWindow(handlers, lambda item: False, lambda item: None, limit=1)
    returned = threading.Event()

    def take():
        window.on_batch(["a", "b", "c"])
        returned.set()

    threading.Thread(target=take, daemon=True).start()
    try:
        assert not returned.wait(0.3)  # the window is full: reading waits for the oldest
        stop.set()
        assert returned.wait(10), "the window still waits for a hung event after a stop"
    finally:
        hung.set()
    out, _ = window.on_eof()
    assert list(out) == [True]  # the hung event, once done; the later ones were never started


def test_a_batch_crosses_to_the_event_loop_at_once(monkeypatch):
    """One wake-up of the loop per batch, not per event: each crossing is a write to the loop's pipe and a
    hand-over of the GIL (about 20 µs an event in all)."""
    async def echo(item):
        return item

    handlers = CoroutinePool(echo, 8)
    loop, crossings = event_loop(), []
    real = loop.call_soon_threadsafe
    monkeypatch.setattr(loop, "call_soon_threadsafe", lambda *args, **kw: crossings.append(1) or real(*args, **kw))
    window = PartitionWindow(handlers, lambda item: False, lambda item: item % 3, limit=1000)
    out, _ = window.on_batch(list(range(100)))
    assert len(crossings) == 1
    out = list(out)
    while len(out) < 100:
        wait([held for held in window._held], timeout=10)
        out.extend(window.on_notify()[0])
    assert out == list(range(100))
