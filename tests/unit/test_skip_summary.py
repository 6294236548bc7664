"""Events skipped by validation (not for the job) are counted by reason in a periodic INFO line, each at
DEBUG (CONTRACT.md, Logs); every other outcome keeps its INFO line."""

import json
import logging
import time

from connectors.kafka import SourceMessage
from flows.runtime.job import Job
from flows.runtime.outcome import SKIPPED, SUCCESS, Outcome
from flows.runtime.report import OutcomePartition, SkipSummary
from sandbox.job import SKIP_SUMMARY as SUMMARY  # what the tests, demo and bench look for


class Writer:
    def write(self, records):
        assert not records

    def close(self):
        pass


class Committer:
    def __init__(self):
        self.done_offsets = {}

    def done(self, topic, partition, offset):
        self.done_offsets[(topic, partition)] = offset

    def commit(self):
        pass

    def close(self):
        pass


def job():
    return Job(name="test-job", topics=("t",), entity=lambda _t, e: None, validate=lambda _t, e: None,
               handle=None)


def outcome(offset, kind=SKIPPED, stage="validate", reason="not for this job"):
    return Outcome(SourceMessage(key=None, value=b"{}", topic="t", partition=0, offset=offset), kind,
                   event={}, stage=stage, detail=reason)


def lines(capfd):
    return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]


def batch():
    return [outcome(0, reason="a"), outcome(1, reason="b"), outcome(2, reason="a"),
            outcome(3, stage="process", reason="user not found"), outcome(4, SUCCESS, stage=None, reason=None)]


def test_validation_skips_are_one_summary_by_reason_and_every_other_outcome_its_line(capfd, caplog):
    caplog.set_level(logging.INFO, logger="cokreat.outcome")
    committer = Committer()
    sink = OutcomePartition(job(), Writer(), committer)
    sink.write_batch(batch())
    sink.close()
    written = lines(capfd)
    assert [line["offset"] for line in written if "outcome" in line] == [3, 4]
    [summary] = [line for line in written if line["message"] == SUMMARY]
    assert (summary["level"], summary["skipped"], summary["reasons"]) == ("INFO", 3, {"a": 2, "b": 1})
    assert committer.done_offsets == {("t", 0): 4}  # skipped or not, every event is committed


def test_at_debug_each_validation_skip_has_its_line_as_well(capfd, caplog):
    caplog.set_level(logging.DEBUG, logger="cokreat.outcome")
    sink = OutcomePartition(job(), Writer(), Committer())
    sink.write_batch(batch())
    sink.close()
    written = lines(capfd)
    assert [(line["offset"], line["level"]) for line in written if "outcome" in line] == [
        (0, "DEBUG"), (1, "DEBUG"), (2, "DEBUG"), (3, "INFO"), (4, "INFO")]
    assert sum(line["message"] == SUMMARY for line in written) == 1


def test_the_summary_comes_within_its_interval_when_no_further_event_does(capfd, caplog):
    caplog.set_level(logging.INFO, logger="cokreat.outcome")
    summary = SkipSummary("test-job", interval_s=0.05)
    summary.count(["a", "a"])
    deadline, seen = time.monotonic() + 10, []
    while not seen and time.monotonic() < deadline:
        seen = [line for line in lines(capfd) if line["message"] == SUMMARY]
    assert [(line["skipped"], line["reasons"]) for line in seen] == [(2, {"a": 2})]
    summary.close()
    assert not [line for line in lines(capfd) if line["message"] == SUMMARY]  # nothing new: no empty summary


def test_many_different_reasons_keep_the_summary_short(capfd, caplog):
    """A reason may quote the event (``edata.action X does not belong on topic Y``): a producer sending a
    new action in every event must not make one summary line as long as the backlog."""
    caplog.set_level(logging.INFO, logger="cokreat.outcome")
    summary = SkipSummary("test-job")
    summary.count(["common"] * 50 + [f"edata.action x{n} is not for this job" for n in range(10_000)])
    summary.close()
    [line] = [line for line in lines(capfd) if line["message"] == SUMMARY]
    assert line["skipped"] == 10_050 and line["reasons"]["common"] == 50
    assert len(line["reasons"]) == SkipSummary.MAX_REASONS
    assert line["other_reasons"] == 10_050 - sum(line["reasons"].values())


def test_an_event_skipped_by_validation_is_let_go_but_its_line_at_debug_keeps_its_mid(capfd, caplog):
    """The skip drops the parsed event at once (its objects then die young, which the garbage collector
    does not walk again); the line at DEBUG still names the event by its mid."""
    from bytewax.testing import TestingSink, TestingSource, run_main

    from flows.runtime.pipeline import build_flow

    caplog.set_level(logging.DEBUG, logger="cokreat.outcome")
    async def never(_topic, _event):
        raise AssertionError("an event skipped by validation reached the handler")

    skipping = Job(name="test-job", topics=("t",), entity=lambda _t, e: None, validate=lambda _t, e: "not ours",
                   handle=never)
    outcomes = []
    run_main(build_flow(skipping, TestingSource([SourceMessage(None, b'{"mid":"LP.1","edata":{}}', "t", 0, 0)]),
                        TestingSink(outcomes), 4))
    assert [(o.kind, o.event, o.mid) for o in outcomes] == [(SKIPPED, None, "LP.1")]
    sink = OutcomePartition(job(), Writer(), Committer())
    sink.write_batch(outcomes)
    sink.close()
    [line] = [line for line in lines(capfd) if line.get("outcome") == "skipped"]
    assert (line["level"], line["mid"], line["reason"]) == ("DEBUG", "LP.1", "not ours")
