"""The pipeline with a handler that is a coroutine: events on the process's event loop
(:class:`~flows.runtime.in_flight.CoroutinePool`), with the promises of the threaded pool: one entity's
events in order, at most ``max_in_flight`` at once, outcomes in offset order, nothing started after a
stop, every error an outcome."""

import asyncio
import random
import threading

from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.http import RetriesExhausted
from flows.runtime.event import BadValue
from flows.runtime.job import Done, Fail
from flows.runtime.outcome import FAILED, SUCCESS
from flows.runtime.pipeline import build_flow
from tests.unit.test_pipeline import make_job, message, run


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


def test_a_slow_event_holds_back_only_the_reporting_of_later_events():
    behind = threading.Event()
    handled: list[int] = []

    async def handle(_topic, event):
        if event["n"] == 0:
            for _ in range(1000):
                if behind.is_set():
                    break
                await asyncio.sleep(0.01)
            assert behind.is_set(), "the events behind a slow one were not handled"
        else:
            handled.append(event["n"])
            if len(handled) == 19:
                behind.set()
        return Done()

    values = [f'{{"id":"e{n}","kind":"work","n":{n}}}'.encode() for n in range(20)]
    outcomes = run(make_job(handle), values, batch_size=5, max_in_flight=4)
    assert [o.message.offset for o in outcomes] == list(range(20))
    assert [o.kind for o in outcomes] == [SUCCESS] * 20


def test_after_a_stop_no_waiting_event_starts_and_only_a_prefix_is_reported():
    stop = threading.Event()
    started: list[int] = []

    async def handle(_topic, event):
        started.append(event["n"])
        if event["n"] == 3:
            stop.set()
        await asyncio.sleep(0.01)
        return Done()

    messages = [message(f'{{"id":"e{n}","kind":"work","n":{n}}}'.encode(), n) for n in range(50)]
    outcomes = []
    run_main(build_flow(make_job(handle), TestingSource(messages, batch_size=50), TestingSink(outcomes), 2,
                        stop_requested=stop.is_set))
    offsets = [o.message.offset for o in outcomes]
    assert offsets == list(range(len(offsets))) and 4 <= len(offsets) < 10
    assert len(started) < 10 and set(offsets) <= set(started)


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
