"""The broker is down when the job starts, or goes away while it runs: the job retries, says so in one
line, and exits non-zero after ``kafka.unavailable_timeout_s`` so the orchestrator restarts it."""

from __future__ import annotations

import time

from connectors.kafka import BrokerUnavailable, BrokerWatch, OffsetCommitter
from sandbox.broker import EmbeddedBroker
from sandbox.process import free_port
from sandbox.job import user_delete_config
from sandbox.kafka_tools import produce
from tests.conftest import wait_for
from sandbox.user_events import delete_event

MODULE = "flows.user_delete"


def test_no_broker_at_start(sandbox, jobs):
    config = user_delete_config(f"127.0.0.1:{free_port()}", sandbox.url, "g", "d", "t", "f",
                                "kafka.unavailable_timeout_s = 3")
    started = time.monotonic()
    job = jobs(MODULE, config)
    assert job.wait(60) == 2
    assert time.monotonic() - started < 30
    last = job.log_path.read_text().strip().splitlines()[-1]
    assert last.startswith("kafka error: ") and "transport" in last.lower()


def test_the_broker_goes_away_mid_run(sandbox, jobs, tmp_path):
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        broker.create_topics(["d", "t", "f"])
        for n in range(20):
            sandbox.contribution.add_user(f"user-{n}")
        produce(broker.bootstrap, "d", [delete_event(f"user-{n}") for n in range(20)])
        job = jobs(MODULE, user_delete_config(broker.bootstrap, sandbox.url, "g", "d", "t", "f",
                                              "kafka.unavailable_timeout_s = 4"))
        wait_for(lambda: len(job.outcomes()) == 20, 60, "20 outcomes")
        broker.stop()
        stopped = time.monotonic()
        assert job.wait(90) not in (0, None)
    assert time.monotonic() - stopped < 60
    warnings = [line for line in job.log_lines() if line.get("message") == "Kafka brokers unreachable; retrying"]
    assert len(warnings) == 1
    assert "unreachable for more than 4s" in job.log_path.read_text()


def test_an_offset_commit_with_the_broker_gone_gives_up_within_the_unavailable_timeout(tmp_path):
    """A synchronous commit waited for a coordinator for about 45 s, and the commit at close once more:
    a job whose broker had gone did not exit for minutes. The offsets stay pending for the next commit."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        broker.create_topics(["d"])
        watch = BrokerWatch(timeout_s=2.0)
        committer = OffsetCommitter({"bootstrap.servers": broker.bootstrap}, "g-gone", watch)
        committer.done("d", 0, 4)
        committer.commit()  # the broker is there: committed
        broker.stop()
        committer.done("d", 0, 9)
        started = time.monotonic()
        try:
            committer.commit()
        except BrokerUnavailable:
            pass  # the watch may already say so: the job then exits, as it should
        assert time.monotonic() - started < 2.0 + 5.0
        assert committer.pending() == {("d", 0): 10}


def test_the_commit_at_close_does_not_raise_when_the_brokers_are_gone_for_good(tmp_path):
    """The job stops because the brokers are gone: the sink's close then commits once more, and its failure
    raised out of close while bytewax was already unwinding, which aborted the process (a Rust panic in a
    destructor) before the job could say why it stopped; and the consumer's close waited 45 s
    (``session.timeout.ms``) for a group coordinator."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        broker.create_topics(["d"])
        committer = OffsetCommitter({"bootstrap.servers": broker.bootstrap}, "g-closing", BrokerWatch(timeout_s=1.0))
        broker.stop()
        committer.done("d", 0, 4)
        try:
            committer.commit()  # no answer within 1 s: the brokers are down from now on
        except BrokerUnavailable:
            pass  # the watch may already say so
        committer.done("d", 0, 9)
        started = time.monotonic()
        committer.close()  # down for more than the timeout: nothing committed, and nothing raised
        assert time.monotonic() - started < 1.0 + 5.0  # librdkafka's close waited 45 s for the coordinator
        assert committer.pending() == {("d", 0): 10}
