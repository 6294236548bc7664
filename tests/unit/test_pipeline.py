"""The shared pipeline with a made-up job, through bytewax's TestingSource and run_main."""

import asyncio
import inspect
import json
import logging
import random
import threading
import time

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main

from connectors.http import RetriesExhausted
from connectors.kafka import DeliveryError, SourceMessage
from flows.runtime.event import BadValue, text
from flows.runtime.outcome import BAD_INPUT, FAILED, SKIPPED, SUCCESS, Outcome
from flows.runtime.job import Done, Fail, Job, Skip
from flows.runtime.pipeline import build_flow
from flows.runtime.report import OutcomePartition


def message(value: bytes, offset: int, topic="t", partition=0) -> SourceMessage:
    return SourceMessage(key=None, value=value, topic=topic, partition=partition, offset=offset)


def run(job, values, batch_size=10, max_in_flight=4):
    outcomes = []
    source = TestingSource([message(v, i) for i, v in enumerate(values)], batch_size=batch_size)
    run_main(build_flow(job, source, TestingSink(outcomes), max_in_flight))
    return outcomes


def on_the_event_loop(handle):
    """A plain function as the job's coroutine handler: its body on a thread of asyncio's, so that a test's
    handler may block (wait for an event, sleep) without holding up the event loop."""
    async def coroutine(topic, event):
        return await asyncio.to_thread(handle, topic, event)
    return coroutine


def make_job(handle):
    return Job(name="test-job", topics=("t",), entity=lambda _t, e: text(e, "id"),
               validate=lambda _t, e: None if text(e, "kind") == "work" else "not work",
               handle=handle if inspect.iscoroutinefunction(handle) else on_the_event_loop(handle),
               expected=(RetriesExhausted,))


def test_every_message_gets_exactly_one_outcome_in_order():
    def handle(_topic, event):
        return {"ok": Done(), "skip": Skip("nothing to do"), "fail": Fail("HTTP 400", 400)}[event["do"]]

    values = [b'{"id":"a","kind":"work","do":"ok"}', b"not json", b'{"id":"b","kind":"other"}',
              b'{"id":"c","kind":"work","do":"skip"}', b'{"id":"d","kind":"work","do":"fail"}',
              b'[1]', b'{"id":"e","kind":"work","edata":"text"}']
    outcomes = run(make_job(handle), values)
    assert [o.message.offset for o in outcomes] == list(range(7))
    assert [o.kind for o in outcomes] == [SUCCESS, BAD_INPUT, SKIPPED, SKIPPED, FAILED, BAD_INPUT, BAD_INPUT]
    assert outcomes[2].detail == "not work" and outcomes[2].stage == "validate"
    assert (outcomes[4].detail, outcomes[4].status, outcomes[4].stage) == ("HTTP 400", 400, "process")


def test_errors_of_the_handler_become_failed_outcomes():
    def handle(_topic, event):
        if event["do"] == "exhaust":
            raise RetriesExhausted("HTTP 503 (gave up)", 503)
        if event["do"] == "type":
            raise BadValue("edata.x", "a string", 1)
        raise KeyError("bug")

    values = [b'{"id":"a","kind":"work","do":"exhaust"}', b'{"id":"b","kind":"work","do":"type"}',
              b'{"id":"c","kind":"work","do":"bug"}']
    outcomes = run(make_job(handle), values)
    assert [(o.kind, o.status) for o in outcomes] == [(FAILED, 503), (FAILED, None), (FAILED, None)]
    assert "KeyError" in outcomes[2].detail


def test_a_wrong_type_found_by_the_rules_fails_the_event():
    outcomes = run(make_job(lambda *_: Done()), [b'{"id": 5, "kind":"work"}'])
    assert outcomes[0].kind == FAILED and outcomes[0].stage == "validate"
    assert "id must be a string" in outcomes[0].detail


def test_a_handler_that_is_not_a_coroutine_function_is_refused_when_the_flow_is_built():
    job = Job(name="test-job", topics=("t",), entity=lambda _t, e: None, validate=lambda _t, e: None,
              handle=lambda _t, _e: Done())
    with pytest.raises(TypeError, match="test-job: the handler must be a coroutine function"):
        build_flow(job, TestingSource([]), TestingSink([]), 4)


def test_one_entity_in_order_different_entities_concurrently():
    seen: dict[str, list[int]] = {}
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def handle(_topic, event):
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(random.uniform(0, 0.01))
        with lock:
            seen.setdefault(event["id"], []).append(event["n"])
            active["now"] -= 1
        return Done()

    values = [f'{{"id":"e{n % 5}","kind":"work","n":{n}}}'.encode() for n in range(100)]
    outcomes = run(make_job(handle), values, batch_size=50, max_in_flight=8)
    assert len(outcomes) == 100
    for entity, order in seen.items():
        assert order == sorted(order), entity
    assert active["max"] > 1


def test_a_slow_event_holds_back_only_the_reporting_of_later_events_not_their_handling():
    """The batch does not wait for its slowest event: the others are handled meanwhile, and every
    outcome still leaves in offset order, so offsets stay safe to commit."""
    handled_behind_the_slow_one = threading.Event()
    handled: list[int] = []

    def handle(_topic, event):
        if event["n"] == 0:  # the slow one: done only once all the events behind it were handled
            assert handled_behind_the_slow_one.wait(10), "the events behind a slow one were not handled"
        else:
            handled.append(event["n"])
            if len(handled) == 19:
                handled_behind_the_slow_one.set()
        return Done()

    values = [f'{{"id":"e{n}","kind":"work","n":{n}}}'.encode() for n in range(20)]
    outcomes = run(make_job(handle), values, batch_size=5, max_in_flight=4)
    assert [o.message.offset for o in outcomes] == list(range(20))
    assert [o.kind for o in outcomes] == [SUCCESS] * 20


def test_each_partition_reports_in_its_own_offset_order():
    def handle(_topic, event):
        time.sleep(random.uniform(0, 0.005))
        return Done()

    messages = [message(f'{{"id":"e{n}","kind":"work"}}'.encode(), n // 3, partition=n % 3) for n in range(90)]
    outcomes = []
    run_main(build_flow(make_job(handle), TestingSource(messages, batch_size=7), TestingSink(outcomes), 8,
                        window=5))
    assert len(outcomes) == 90
    for partition in range(3):
        offsets = [o.message.offset for o in outcomes if o.message.partition == partition]
        assert offsets == list(range(30))


def test_after_a_stop_no_waiting_event_starts_and_only_a_prefix_is_reported():
    """A stop lets the events already started finish; the ones still waiting for a thread are not
    started and not reported, so their offsets are not committed and they are read again."""
    stop = threading.Event()
    started: list[int] = []

    def handle(_topic, event):
        started.append(event["n"])
        if event["n"] == 3:
            stop.set()
        time.sleep(0.01)
        return Done()

    messages = [message(f'{{"id":"e{n}","kind":"work","n":{n}}}'.encode(), n) for n in range(50)]
    outcomes = []
    run_main(build_flow(make_job(handle), TestingSource(messages, batch_size=50), TestingSink(outcomes), 2,
                        stop_requested=stop.is_set))
    offsets = [o.message.offset for o in outcomes]
    assert offsets == list(range(len(offsets))) and 4 <= len(offsets) < 10
    assert len(started) < 10 and set(offsets) <= set(started)


class FakeWriter:
    def __init__(self, fail=False):
        self.records, self.fail = [], fail

    def write(self, records):
        if self.fail and records:
            raise DeliveryError("broker gone")
        self.records.extend(records)

    def close(self):
        pass


class FakeCommitter:
    def __init__(self):
        self.pending, self.commits = {}, []

    def done(self, topic, partition, offset):
        self.pending[(topic, partition)] = offset + 1

    def commit(self):
        self.commits.append(dict(self.pending))

    def close(self):
        pass


def outcomes_for(*kinds):
    return [Outcome(message(b"{}", i, partition=i % 2), kind, event={}, stage="process")
            for i, kind in enumerate(kinds)]


def test_the_sink_writes_failures_then_commits_after_the_last_outcome():
    writer, committer = FakeWriter(), FakeCommitter()
    OutcomePartition(make_job(None), writer, committer).write_batch(
        outcomes_for(SUCCESS, FAILED, SKIPPED, BAD_INPUT, SUCCESS))
    assert len(writer.records) == 2
    assert committer.commits == [{("t", 0): 5, ("t", 1): 4}]


def test_the_sink_stores_failed_records_before_anything_else_and_commits_last():
    """The order the commit point relies on, written once (OutcomePartition): if it changes, this fails."""
    calls = []

    class Writer(FakeWriter):
        def write(self, records):
            calls.append("failed records stored")
            super().write(records)

    class Committer(FakeCommitter):
        def done(self, *args):
            calls.append("done")
            super().done(*args)

        def commit(self):
            calls.append("commit")
            super().commit()

    OutcomePartition(make_job(None), Writer(), Committer()).write_batch(outcomes_for(SUCCESS, FAILED))
    assert calls == ["failed records stored", "done", "done", "commit"]


def test_an_outcome_out_of_offset_order_stops_the_sink_before_it_commits():
    from flows.runtime.report import OutcomeOutOfOrder

    committer = FakeCommitter()
    early, late = Outcome(message(b"{}", 4), SUCCESS), Outcome(message(b"{}", 3), SUCCESS)
    with pytest.raises(OutcomeOutOfOrder, match=r"t\[0\]: offset 3 reported after 4"):
        OutcomePartition(make_job(None), FakeWriter(), committer).write_batch([early, late])
    assert committer.commits == []


def test_the_sink_commits_nothing_when_failed_records_are_not_delivered():
    committer = FakeCommitter()
    with pytest.raises(DeliveryError):
        OutcomePartition(make_job(None), FakeWriter(fail=True), committer).write_batch(
            outcomes_for(SUCCESS, FAILED))
    assert committer.commits == []


def test_nothing_an_outcome_holds_raises_out_of_the_sink(capfd, caplog):
    """Text that is not Unicode, values no writer knows: each outcome still logged, reported, committed."""
    caplog.set_level(logging.DEBUG, logger="cokreat.outcome")  # the validation skip's own line too
    writer, committer = FakeWriter(), FakeCommitter()
    odd = [Outcome(message(b"{}", 0), FAILED, event={"mid": "\udc80", "edata": {"userId": "\ud800"}},
                   entity="\udfff", stage="process", detail="id \ud800"),
           Outcome(message(b"{}", 1), SKIPPED, event={"mid": "\ud800"}, entity="\ud800", stage="validate",
                   detail="not for this job \udc80"),
           Outcome(message(b"{}", 2), FAILED, event={"edata": {"x": object()}}, stage="process", detail="x")]
    sink = OutcomePartition(make_job(None), writer, committer)
    sink.write_batch(odd)
    sink.close()
    assert [dict(r.headers)["source.offset"] for r in writer.records] == [b"0", b"2"]
    assert committer.commits == [{("t", 0): 3}]
    written = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    lines = [line for line in written if line["message"].startswith("event ")]
    assert [line["offset"] for line in lines] == [0, 1, 2]
    assert lines[0]["mid"] == "\udc80"
    [summary] = [line for line in written if line["message"] == "events skipped by validation"]
    assert summary["reasons"] == {"not for this job \udc80": 1}


def test_an_error_as_long_as_a_service_answer_is_cut_for_the_log_line_and_the_failed_record():
    """The error repeats what a service answered (up to http.max_answer_bytes): megabytes in one log line
    and one header otherwise."""
    def handle(_topic, event):
        if event["do"] == "fail":
            return Fail("HTTP 400 | Error Message : " + "e" * 5_000_000, 400)
        raise RetriesExhausted("x" * 5_000_000, 503)

    outcomes = run(make_job(handle), [b'{"id":"a","kind":"work","do":"fail"}', b'{"id":"b","kind":"work","do":"x"}'])
    assert [o.kind for o in outcomes] == [FAILED, FAILED]
    assert all(len(o.detail) < 2_100 for o in outcomes)
    assert outcomes[0].detail.startswith("HTTP 400 | Error Message : eee")
