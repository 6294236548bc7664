"""The partition window: a full window waits for its oldest event, but never past a stop."""

import asyncio
import threading

import pytest

from flows.runtime.in_flight import CoroutinePool, PartitionWindow


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
