"""The health endpoint of a real job process (user-delete): liveness fails while events are stuck and
recovers when they reach an outcome, readiness follows the broker, a taken port stops the job at start."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from sandbox.broker import EmbeddedBroker
from sandbox.process import free_port
from sandbox.job import JobProcess, user_delete_config
from sandbox.kafka_tools import produce
from sandbox.user_events import delete_event
from tests.conftest import wait_for

MODULE = "flows.user_delete"


def probe(job: JobProcess, path: str) -> tuple[int | None, dict | None]:
    """The status and JSON body of ``GET path``; ``(None, None)`` while nothing listens yet."""
    try:
        with urllib.request.urlopen(job.health_url + path, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())
    except urllib.error.URLError:
        return None, None


def answered(job: JobProcess, path: str, status: int) -> dict | None:
    """The body when ``path`` answers ``status``, for polling."""
    code, body = probe(job, path)
    return body if code == status else None


def test_liveness_fails_while_events_are_stuck_and_recovers_when_they_reach_an_outcome(broker, sandbox, names,
                                                                                       jobs):
    delete_topic, transfer_topic, failed_topic = names("d"), names("t"), names("f")
    broker.create_topics([delete_topic, transfer_topic, failed_topic])
    users = [f"user-{n}" for n in range(3)]
    for user in users:
        sandbox.contribution.add_user(user)
    sandbox.faults.latency(8.0)  # every call hangs far longer than the stall timeout, within the read timeout
    job = jobs(MODULE, user_delete_config(broker.bootstrap, sandbox.url, names("g"), delete_topic, transfer_topic,
                                          failed_topic, "health.stall_timeout_s = 2\nhttp.read_timeout_s = 60"))
    wait_for(lambda: answered(job, "/readyz", 200), 30, "/readyz 200")
    assert answered(job, "/livez", 200)["pending"] == 0
    produce(broker.bootstrap, delete_topic, [delete_event(user) for user in users])
    stalled = wait_for(lambda: answered(job, "/livez", 503), 20, "/livez 503")
    assert stalled["status"] == "stalled" and stalled["pending"] == 3 and stalled["seconds_since_progress"] >= 2
    assert probe(job, "/readyz") == (200, {"status": "ready"})
    assert job.outcomes() == []
    wait_for(lambda: len(job.outcomes()) == 3, 30, "3 outcomes once the calls answer")
    live = wait_for(lambda: answered(job, "/livez", 200), 10, "/livez 200 again")
    assert live["pending"] == 0
    started = [line for line in job.log_lines() if line.get("message") == "health endpoint listening"]
    assert [line["port"] for line in started] == [int(job.health_url.rsplit(":", 1)[1])]
    assert job.stop() == 0


def test_readiness_fails_while_the_brokers_are_unreachable(sandbox, jobs, tmp_path):
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        broker.create_topics(["d", "t", "f"])
        job = jobs(MODULE, user_delete_config(broker.bootstrap, sandbox.url, "g", "d", "t", "f",
                                              "kafka.unavailable_timeout_s = 60"))
        wait_for(lambda: answered(job, "/readyz", 200), 30, "/readyz 200")
        wait_for(lambda: sum(line.get("message") == "reading partition" for line in job.log_lines()) == 2, 30,
                 "both topics read")  # their consumers now poll, and hear of the outage
        broker.stop()
        not_ready = wait_for(lambda: answered(job, "/readyz", 503), 20, "/readyz 503")
    assert not_ready["reason"].startswith("Kafka brokers unreachable for ")
    assert probe(job, "/livez")[0] == 200  # nothing pending: a broker outage is not a reason to restart
    assert job.running()


def test_a_taken_health_port_stops_the_job_at_start(sandbox, jobs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        job = jobs(MODULE, user_delete_config(f"127.0.0.1:{free_port()}", sandbox.url, "g", "d", "t", "f"),
                   env={"HEALTH_PORT": str(port)})
        assert job.wait(60) == 2
    last = job.log_path.read_text().strip().splitlines()[-1]
    assert last == f"health error: cannot listen on port {port} (health.port): Address already in use"
