"""Links through the shared pipeline: one collection's adds one at a time, outcomes in offset order."""

import asyncio
import json

from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.sunbird import ApiError
from flows.runtime.event import text
from flows.runtime.job import Job, Link
from flows.runtime.linking import Backlog, LinkResult, Linking, PartitionOrder
from flows.runtime.outcome import FAILED, SUCCESS, Outcome
from flows.runtime.pipeline import build_flow
from tests.unit.test_pipeline import message


def linking_job(link):
    async def handle(_topic, event):
        return Link(event["id"], event["units"])
    return Job(name="link-job", topics=("t",), entity=lambda _t, e: text(e, "id"), validate=lambda _t, e: None,
               handle=handle, link=link, expected=(ApiError,))


def run(job, events, max_in_flight=8):
    outcomes = []
    source = TestingSource([message(json.dumps(e).encode(), i) for i, e in enumerate(events)], batch_size=20)
    run_main(build_flow(job, source, TestingSink(outcomes), max_in_flight))
    return outcomes


def test_outcomes_leave_in_offset_order_whatever_order_the_links_finish_in():
    released = asyncio.Event()

    async def link(collection_id, _adds):
        if collection_id == "slow":
            await asyncio.wait_for(released.wait(), 30)  # a TimeoutError: the fast link never ran meanwhile
        elif collection_id == "release":
            released.set()
        return {}

    events = [{"id": f"c{n}", "units": {"slow" if n == 0 else "release" if n == 5 else f"k{n}": ["u"]}}
              for n in range(10)]
    outcomes = run(linking_job(link), events)
    assert [o.message.offset for o in outcomes] == list(range(10))
    assert {o.kind for o in outcomes} == {SUCCESS}


def test_one_collections_links_run_one_at_a_time_and_others_alongside():
    running, most, linked = {}, {}, []

    async def link(collection_id, adds):  # on the one event loop: no lock needed between awaits
        running[collection_id] = running.get(collection_id, 0) + 1
        most[collection_id] = max(most.get(collection_id, 0), running[collection_id])
        linked.extend(identifier for identifier, _units in adds)
        await asyncio.sleep(0.01)  # hold the lane a moment, so overlaps would show
        running[collection_id] -= 1
        return {}

    events = [{"id": f"c{n}", "units": {f"col{n % 3}": ["u"]}} for n in range(30)]
    assert [o.kind for o in run(linking_job(link), events)] == [SUCCESS] * 30
    assert most == {"col0": 1, "col1": 1, "col2": 1}
    assert sorted(linked) == sorted(f"c{n}" for n in range(30))  # each once


def test_a_failed_collection_fails_the_event():
    async def link(collection_id, _adds):
        if collection_id == "bad":
            raise ApiError("Hierarchy Update Failed For : bad.", 400)
        return {}

    outcomes = run(linking_job(link), [{"id": "a", "units": {"good": ["u"], "bad": ["u"]}},
                                       {"id": "b", "units": {"good": ["u"]}}])
    assert [(o.kind, o.stage, o.status) for o in outcomes] == [(FAILED, "link", 400), (SUCCESS, None, None)]
    assert "linking into collection bad: Hierarchy Update Failed For : bad." in outcomes[0].detail


def test_an_unforeseen_error_in_a_link_is_a_failed_outcome():
    async def link(*_args):
        raise KeyError("surprise")

    outcome = run(linking_job(link), [{"id": "a", "units": {"c": ["u"]}}])[0]
    assert outcome.kind == FAILED and "KeyError" in outcome.detail


def test_partition_order_holds_what_follows_a_waiting_event():
    def outcome(offset):
        return Outcome(message(b"{}", offset), SUCCESS)

    order = PartitionOrder(Backlog(100))
    waiting = Linking(outcome(1), Link("x", {"c1": ["u"], "c2": ["u"]}))
    ready, _ = order.on_batch([outcome(0), waiting, outcome(2)])
    assert [o.message.offset for o in ready] == [0]
    ready, _ = order.on_batch([LinkResult("0-t", 1)])
    assert ready == []  # one of its two collections
    ready, _ = order.on_batch([LinkResult("0-t", 1, "linking into collection c2: no", 502)])
    assert [(o.message.offset, o.kind) for o in ready] == [(1, FAILED), (2, SUCCESS)]


def test_partition_order_counts_what_it_holds_in_the_process_backlog():
    def outcome(offset):
        return Outcome(message(b"{}", offset), SUCCESS)

    backlog = Backlog(limit=2)
    order = PartitionOrder(backlog)
    order.on_batch([outcome(0), Linking(outcome(1), Link("x", {"c": ["u"]})), outcome(2)])
    assert backlog.full()  # the waiting event and the outcome behind it: the sources stop reading
    order.on_batch([LinkResult("0-t", 1)])
    assert not backlog.full() and backlog._held == 0
    order.on_batch([Linking(outcome(3), Link("x", {"c": ["u"]}))])
    order.on_eof()  # a stop: what waits is dropped, and no longer counted
    assert backlog._held == 0


def test_a_link_that_finishes_while_the_step_looks_is_reported_once():
    """A batch finishing just after the step looked at it is reported at the next look: never lost (its
    partition would stall), never twice."""
    from concurrent.futures import Future

    from flows.runtime.linking import CollectionLinks, LinkWork

    class FinishesWhenLookedAt(Future):
        looks = 0

        def done(self):
            finished = super().done()
            self.looks += 1
            if self.looks == 1:
                self.set_result([LinkResult("0-t", 1)])
            return finished

    class Pool:
        def submit(self, _entity, _work):
            return FinishesWhenLookedAt()

    step = CollectionLinks(Pool())
    results, _ = step.on_batch([LinkWork("0-t", 1, "c", ("u",), "x")])
    for _ in range(3):
        results += step.on_notify()[0]
    assert results == [LinkResult("0-t", 1)]


def test_the_works_that_come_while_a_batch_runs_go_together_in_the_next_one():
    from concurrent.futures import Future

    from flows.runtime.linking import CollectionLinks, LinkWork

    class Pool:
        def __init__(self):
            self.batches = []

        def submit(self, _entity, works):
            self.batches.append(works)
            return Future()

    pool = Pool()
    step = CollectionLinks(pool)
    step.on_batch([LinkWork("0-t", 0, "c", ("u",), "a")])
    step.on_batch([LinkWork("0-t", n, "c", ("u",), f"x{n}") for n in range(1, 151)])
    assert [len(batch) for batch in pool.batches] == [1]  # the first still runs: the rest wait
    pool.batches[0] and pool.batches.clear()
    step._running.set_result([LinkResult("0-t", 0)])
    results, _ = step.on_notify()
    assert results == [LinkResult("0-t", 0)] and [len(batch) for batch in pool.batches] == [100]  # MAX_BATCH


def test_one_identifier_left_out_fails_only_its_event():
    async def link(_collection_id, adds):
        return {"b": "b is still not under unit u of collection c after 3 adds (retry.max_attempts)"}

    outcomes = run(linking_job(link), [{"id": "a", "units": {"c": ["u"]}}, {"id": "b", "units": {"c": ["u"]}}])
    assert [o.kind for o in outcomes] == [SUCCESS, FAILED]
    assert outcomes[1].detail == "linking into collection c: b is still not under unit u of collection c after 3 adds " \
                                 "(retry.max_attempts)"
