"""The broker restarts under load, its topics and committed offsets kept on S3 (Tansu on moto's S3
server: :func:`sandbox.storage.durable_broker`).

Gone for 10 s, less than ``kafka.unavailable_timeout_s``: the job carries on. Gone for longer: the job
exits non-zero, and a job started again once the broker is back continues from the committed offsets.
Either way no event is lost (each had its effect at the sandbox), the failed topic holds exactly the
failures, and the test prints the replay window: the events done a second time after the restart.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from sandbox.content_events import upload_event
from sandbox.job import content_auto_creator_config, user_delete_config
from sandbox.kafka_tools import produce
from sandbox.storage import durable_broker
from sandbox.user_events import delete_event
from tests.conftest import wait_for

UNAVAILABLE_S = 20  # kafka.unavailable_timeout_s of the "short outage" runs
SHORT_OUTAGE_S = 10


@dataclass
class Load:
    module: str
    config: Callable[[str, str], str]  # (bootstrap, extra settings) -> the job's config file
    topic: str
    failed_topic: str
    values: list[bytes]
    failing: set[str]  # the events (by id) that must end on the failed topic
    done: Callable[[], set[str]]  # the events whose effect the sandbox shows
    handled: Callable[[], int]  # how many times the job has started an event, replays included
    id_of: Callable[[dict], str]


def user_delete_load(sandbox, count: int) -> Load:
    users = [f"user-{n:05d}" for n in range(count)]  # no id the prefix of another (faults match prefixes)
    for user in users:
        sandbox.contribution.add_user(user)
    failing = set(users[7::50])
    for user in failing:  # refused every time, replayed or not
        sandbox.faults.script("DELETE", f"/program/v1/user/{user}", [400] * 10)
    return Load("flows.user_delete",
                lambda bootstrap, extra: user_delete_config(bootstrap, sandbox.url, "restart", "delete.user",
                                                            "transfer", "delete.user.failed", extra),
                "delete.user", "delete.user.failed", [delete_event(user, mid=f"m-{user}") for user in users], failing,
                lambda: set(sandbox.contribution.deleted),
                lambda: sandbox.journal.count("DELETE"),
                lambda event: event["edata"]["userId"])


def content_load(sandbox, tmp_path, count: int) -> Load:
    identifiers = [f"do_restart_{n}" for n in range(count)]
    failing = set(identifiers[3::25])  # their artifact is not there: the download fails
    values = [upload_event(i, f"{sandbox.url}/files/missing-{i}.pdf" if i in failing else
                           sandbox.files.add(f"{i}.pdf", b"%PDF-1.7 " + i.encode() * 500, "application/pdf"))
              for i in identifiers]
    storage = tmp_path / "storage"
    return Load("flows.content_auto_creator",
                lambda bootstrap, extra: content_auto_creator_config(
                    bootstrap, sandbox.url, "restart", "content.request", "content.failed", storage,
                    sandbox.files.serve_directory(storage), tmp_path / "tmp", extra),
                "content.request", "content.failed", values, failing,
                lambda: {i for i, status in sandbox.content.statuses().items() if status in ("Processing", "Live")},
                lambda: sandbox.journal.count("POST", "/v3/search"),
                lambda event: event["object"]["id"])


@pytest.fixture
def broker(s3, tmp_path):
    broker = durable_broker(s3, f"tansu-{uuid.uuid4().hex[:12]}", tmp_path / "broker.log")
    yield broker.start()
    broker.stop()


class Arriving:
    """A topic's records as they arrive, from the first on, each once. Not read "to the end": after a restart
    the embedded broker can give a partition's end before its last records, so a reader stopping there misses
    some; and a fetch it answers "out of range" sends the reader back to the first record, not past the end."""

    def __init__(self, bootstrap: str, topic: str):
        partitions = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10).topics[topic]
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"arriving-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions.partitions])
        self._records: dict[tuple[int, int], bytes] = {}  # (partition, offset) -> value

    def read(self) -> list[bytes]:
        for message in self._consumer.consume(500, 0.2):
            if message.error() is None:
                self._records[message.partition(), message.offset()] = message.value()
        return list(self._records.values())

    def close(self) -> None:
        self._consumer.close()


def settle(load: Load, broker) -> list[str]:
    """Wait until every event had its effect or its failed record; the failed records' event ids."""
    failed = Arriving(broker.bootstrap, load.failed_topic)
    ids = lambda reader=failed: [load.id_of(json.loads(value)) for value in reader.read()]  # noqa: E731
    expected = {load.id_of(json.loads(v)) for v in load.values} - load.failing
    try:
        wait_for(lambda: expected <= load.done() and load.failing <= set(ids()), 180, "every event's effect")
        return ids()
    except AssertionError as err:  # say how far it got, and whether a reader from the start sees more
        seen, again = set(ids()), Arriving(broker.bootstrap, load.failed_topic)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen_again = set(ids(again))
        again.close()
        raise AssertionError(f"{err}: {len(expected & load.done())} of {len(expected)} done, "
                             f"{len(load.failing & seen)} of {len(load.failing)} failed records; not done: "
                             f"{sorted(expected - load.done())[:5]}, no failed record: "
                             f"{sorted(load.failing - seen)[:5]}, nor for a new reader: "
                             f"{sorted(load.failing - seen_again)[:5]}") from None
    finally:
        failed.close()


def resent(*jobs) -> int:
    """The failed records the jobs wrote again because the broker acknowledged them without an offset."""
    return sum(line["records"] for job in jobs for line in job.log_lines()
               if line.get("message") == "failed records acknowledged without an offset; written again")


def report(load: Load, failed: list[str], what: str, *jobs) -> None:
    replayed, written_again = load.handled() - len(load.values), resent(*jobs)
    print(f"\n{load.module}, {what}: {len(load.values)} events, {len(set(failed))} failed records "
          f"({len(failed) - len(set(failed))} written twice), replay window: {replayed} events done again, "
          f"{written_again} records written again for want of an offset")
    assert set(failed) == load.failing  # the failures, and nothing else
    # A record twice only for an event done twice, or one the broker acknowledged without an offset.
    assert len(failed) - len(set(failed)) <= max(replayed, 0) + written_again


@pytest.mark.timeout(420)  # settling alone may take 180 s on a loaded machine
@pytest.mark.parametrize("kind, count", [("user-delete", 3000), ("content-auto-creator", 600)])
def test_a_short_outage_the_job_rides_through(kind, count, broker, sandbox, jobs, tmp_path):
    load = user_delete_load(sandbox, count) if kind == "user-delete" else content_load(sandbox, tmp_path, count)
    sandbox.faults.latency(0.05)  # the job is busy when the broker goes
    broker.create_topics([load.topic, load.failed_topic, "transfer"], partitions=2)
    produce(broker.bootstrap, load.topic, load.values)
    job = jobs(load.module, load.config(broker.bootstrap, f"kafka.unavailable_timeout_s = {UNAVAILABLE_S}\n"
                                                          "http.max_in_flight = 16"))
    wait_for(lambda: len(job.outcomes()) >= count // 5, 120, "a fifth of the outcomes")
    broker.stop()
    gone_until = time.monotonic() + SHORT_OUTAGE_S
    while time.monotonic() < gone_until:  # the outage itself: the job must stay up all along
        assert job.running(), f"the job exited during a {SHORT_OUTAGE_S} s outage: {job.log_path.read_text()[-2000:]}"
        time.sleep(0.2)
    broker.start()
    failed = settle(load, broker)
    assert job.running()
    assert job.stop() == 0
    report(load, failed, f"broker gone {SHORT_OUTAGE_S} s", job)


@pytest.mark.timeout(420)
# More contents than a short outage's: held in the window (4 batches of 50 per partition), 600 could all be
# done in the seconds the job takes to exit.
@pytest.mark.parametrize("kind, count", [("user-delete", 3000), ("content-auto-creator", 1500)])
def test_a_long_outage_the_job_exits_and_its_restart_continues_from_the_committed_offsets(
        kind, count, broker, sandbox, jobs, tmp_path):
    load = user_delete_load(sandbox, count) if kind == "user-delete" else content_load(sandbox, tmp_path, count)
    sandbox.faults.latency(0.05)
    broker.create_topics([load.topic, load.failed_topic, "transfer"], partitions=2)
    produce(broker.bootstrap, load.topic, load.values)
    # Small batches: what the job has read when the broker goes cannot be all the events.
    config = load.config(broker.bootstrap, "kafka.unavailable_timeout_s = 4\nhttp.max_in_flight = 16\n"
                                           "kafka.batch_size = 50")
    job = jobs(load.module, config)
    wait_for(lambda: len(job.outcomes()) >= count // 5, 120, "a fifth of the outcomes")
    broker.stop()
    stopped = time.monotonic()
    assert job.wait(90) not in (0, None)  # past kafka.unavailable_timeout_s: exits for the orchestrator to restart
    print(f"\n{load.module} exited {time.monotonic() - stopped:.1f} s after the broker went "
          "(kafka.unavailable_timeout_s = 4)")
    assert time.monotonic() - stopped < 60
    assert len(load.done()) < count - len(load.failing), "the job had done every event: no restart was tested"
    broker.start()
    again = jobs(load.module, config)
    failed = settle(load, broker)
    assert again.stop() == 0
    report(load, failed, "broker gone past kafka.unavailable_timeout_s, job restarted", job, again)
