"""The pipeline's handlers are coroutines: events on the process's event loop
(:class:`~flows.runtime.in_flight.CoroutinePool`), one entity's in order, at most ``max_in_flight`` at
once, every error an outcome. (``test_pipeline`` holds it to its order and stop tests too.)"""

import asyncio
import gc
import random
import weakref

from connectors.http import RetriesExhausted
from flows.runtime.event import BadValue
from flows.runtime.in_flight import CoroutinePool
from flows.runtime.job import Done, Fail
from flows.runtime.outcome import FAILED, SUCCESS
from tests.conftest import wait_for
from tests.unit.test_pipeline import make_job, run


def test_one_entity_in_order_at_most_max_in_flight_at_once():
    seen: dict[str, list[int]] = {}
    active = {"now": 0, "max": 0}

    async def handle(_topic, event):
        active["now"] += 1  # on the loop's one thread: no lock needed
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(random.uniform(0, 0.01))
        seen.setdefault(event["id"], []).append(event["n"])
        active["now"] -= 1
        return Done()

    values = [f'{{"id":"e{n % 5}","kind":"work","n":{n}}}'.encode() for n in range(100)]
    values += [f'{{"id":"u{n}","kind":"work","n":{n}}}'.encode() for n in range(100, 200)]
    outcomes = run(make_job(handle), values, batch_size=50, max_in_flight=8)
    assert [o.kind for o in outcomes] == [SUCCESS] * 200
    for entity, order in seen.items():
        assert order == sorted(order), entity
    assert 1 < active["max"] <= 8


def test_every_error_of_the_handler_becomes_an_outcome(caplog):
    async def handle(_topic, event):
        if event["do"] == "exhaust":
            raise RetriesExhausted("HTTP 503 (gave up)", 503)
        if event["do"] == "type":
            raise BadValue("edata.x", "a string", 1)
        if event["do"] == "fail":
            return Fail("HTTP 400", 400)
        raise KeyError("bug")

    values = [f'{{"id":"{do}","kind":"work","do":"{do}"}}'.encode() for do in ("exhaust", "type", "fail", "bug")]
    outcomes = run(make_job(handle), values)
    assert [o.kind for o in outcomes] == [FAILED] * 4
    assert [(o.detail, o.status) for o in outcomes] == [
        ("HTTP 503 (gave up)", 503), ("edata.x must be a string, got a number", None), ("HTTP 400", 400),
        ("KeyError: 'bug'", None)]
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == ["handler error"]  # the bug only


def test_a_handler_that_raises_does_not_stall_its_lane():
    async def handle(item):
        if item == "bad":
            raise RuntimeError("a bug")
        return item

    pool = CoroutinePool(handle, 2)
    first, second = pool.submit("entity", "bad"), pool.submit("entity", "good")
    assert second.result(timeout=10) == "good"
    assert isinstance(first.exception(timeout=10), RuntimeError)


def test_an_event_waiting_on_what_only_it_holds_is_not_collected():
    """The loop keeps only weak references to its tasks: a handler waiting on a future nothing else holds
    (a reply it alone waits for) would be collected with it, and its outcome never come."""
    waiting = weakref.WeakValueDictionary()

    async def handle(item):
        reply = asyncio.get_running_loop().create_future()
        waiting[item] = reply
        return await reply

    pool = CoroutinePool(handle, 2)
    outcome = pool.submit(None, "e1")
    wait_for(lambda: "e1" in waiting, 5, "the handler to wait")
    gc.collect()
    reply = waiting.get("e1")
    assert reply is not None, "the waiting event was collected"
    reply.get_loop().call_soon_threadsafe(reply.set_result, "done")
    assert outcome.result(timeout=5) == "done"
