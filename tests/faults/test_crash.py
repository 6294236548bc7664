"""Crash: the job is killed with SIGKILL at random moments and restarted each time. Afterwards every
event has had its effect at the sandbox at least once; the test prints how many were repeated."""

from __future__ import annotations

import json
import random
from typing import Callable

import pytest

from sandbox.process import free_port
from sandbox.job import content_auto_creator_config, user_delete_config
from sandbox.kafka_tools import produce
from sandbox.user_events import delete_event
from tests.conftest import EVENTS_DIR, wait_for

KILLS = 5


def crash_and_recover(start: Callable[[], list], done: Callable[[], int], total: int, seed: int) -> None:
    """Start, let it work until a random point, SIGKILL every process; five times; then run to the end
    (and stop a single process with SIGTERM: exit 0). A cluster's processes are killed by the fixture."""
    chance = random.Random(seed)
    for _ in range(KILLS):
        before = done()
        if before >= total:
            break
        processes = start()
        target = min(total, before + chance.randint(1, max(1, (total - before) // 3)))
        wait_for(lambda: done() >= target, 120, f"{target} events done")
        for process in processes:
            process.kill()
    processes = start()
    wait_for(lambda: done() >= total, 180, "every event done")
    if len(processes) == 1:
        assert processes[0].stop() == 0


def user_delete_backlog(broker, sandbox, names, count):
    delete_topic, transfer_topic, failed_topic = names("d"), names("t"), names("f")
    broker.create_topics([delete_topic, transfer_topic], partitions=2)
    broker.create_topics([failed_topic])
    users = [f"user-{n}" for n in range(count)]
    for user in users:
        sandbox.contribution.add_user(user)
    produce(broker.bootstrap, delete_topic, [delete_event(u) for u in users[0::2]], partition=0)
    produce(broker.bootstrap, delete_topic, [delete_event(u) for u in users[1::2]], partition=1)
    return users, user_delete_config(broker.bootstrap, sandbox.url, names("g"), delete_topic, transfer_topic,
                                     failed_topic, "retry.initial_backoff_s = 0.05")


@pytest.mark.parametrize("layout, seed", [("one process", 1), ("-w 2", 2), ("two processes", 3)])
def test_user_delete_survives_kills(broker, sandbox, names, jobs, layout, seed):
    users, config = user_delete_backlog(broker, sandbox, names, 10_000)
    sandbox.faults.latency(0.005)

    def start():
        if layout == "-w 2":
            return [jobs("flows.user_delete", config, args=["-w", "2"])]
        if layout == "two processes":
            addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
            return [jobs("flows.user_delete", config, args=["-i", str(i), "-a", addresses]) for i in (0, 1)]
        return [jobs("flows.user_delete", config)]

    crash_and_recover(start, lambda: len(set(sandbox.contribution.deleted)), len(users), seed)
    assert set(sandbox.contribution.deleted) == set(users)
    repeated = len(sandbox.contribution.deleted) - len(users)
    print(f"user-delete ({layout}): {len(users)} events, killed {KILLS} times, {repeated} repeated")


def test_content_auto_creator_survives_kills(broker, sandbox, names, jobs, tmp_path):
    topic, failed_topic = names("in"), names("f")
    broker.create_topics([topic], partitions=2)
    broker.create_topics([failed_topic])
    template = json.loads((EVENTS_DIR / "content-auto-creator.events.jsonl").read_text().splitlines()[1])
    events = []
    for n in range(300):
        event = json.loads(json.dumps(template))
        event["object"]["id"] = event["edata"]["identifier"] = f"do_crash_{n}"
        event["edata"]["metadata"].update(appIcon="", artifactUrl=sandbox.files.add(f"f{n}.pdf", b"%PDF" + bytes(2048)),
                                          name=f"lesson {n}")
        event["edata"]["collection"] = []
        events.append(json.dumps(event).encode())
    produce(broker.bootstrap, topic, events)
    storage = tmp_path / "storage"
    config = content_auto_creator_config(broker.bootstrap, sandbox.url, names("g"), topic, failed_topic, storage,
                                         sandbox.files.serve_directory(storage), tmp_path / "tmp",
                                         "retry.initial_backoff_s = 0.05")

    def published() -> int:
        return len({r.path.split("/")[-1] for r in sandbox.journal.matching("POST") if "/content/v4/publish/" in r.path
                    and r.status == 200})

    crash_and_recover(lambda: [jobs("flows.content_auto_creator", config)], published, len(events), seed=300)
    assert published() == len(events)
    repeated = len([r for r in sandbox.journal.matching("POST") if "/content/v4/publish/" in r.path]) - len(events)
    print(f"content-auto-creator: {len(events)} events, killed {KILLS} times, {repeated} publishes repeated")
