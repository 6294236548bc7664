"""The user-delete job as operators run it: ``python -m bytewax.run flows.user_delete`` in a
subprocess, the embedded broker, the sandbox contribution service over 127.0.0.1."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from sandbox.process import free_port
from sandbox.job import user_delete_config
from sandbox.kafka_tools import committed, produce, read_all
from sandbox.user_events import EXAMPLES, delete_event, transfer_event
from tests.conftest import wait_for

MODULE = "flows.user_delete"
DELETE_USER, DELETE_DOC_USER = "5deed393-6e04-449a-b98d-7f0fbf88f22e", "02c4e0dc-3e25-4f7d-b811-242c73e24a01"


class Setup:
    """Topics and a config file in the original keys for one test."""

    def __init__(self, broker, sandbox, names, partitions=2):
        self.broker, self.sandbox = broker, sandbox
        self.delete_topic, self.transfer_topic = names("delete.user"), names("user.ownership.transfer")
        self.failed_topic, self.group = names("delete.user.failed"), names("group")
        broker.create_topics([self.delete_topic, self.transfer_topic], partitions=partitions)
        broker.create_topics([self.failed_topic])

    def config(self, extra: str = "") -> str:
        return user_delete_config(self.broker.bootstrap, self.sandbox.url, self.group, self.delete_topic,
                                  self.transfer_topic, self.failed_topic, "retry.initial_backoff_s = 0.05\n" + extra)

    def delete_backlog(self, count: int, partition: int | None = None, first: int = 0) -> list[str]:
        """Delete events for ``count`` users the contribution service knows; their ids."""
        users = [f"user-{n}" for n in range(first, first + count)]
        for user in users:
            self.sandbox.contribution.add_user(user)
        produce(self.broker.bootstrap, self.delete_topic, [delete_event(u) for u in users], partition=partition)
        return users

    def failed(self) -> list:
        return read_all(self.broker.bootstrap, self.failed_topic)

    def committed_total(self) -> int:
        return sum(max(0, o) for topic in (self.delete_topic, self.transfer_topic)
                   for o in committed(self.broker.bootstrap, self.group, topic, partitions=2))


def negative_cases() -> tuple[list[bytes], bytes]:
    """The original's negative examples: for the delete topic, and one for the transfer topic."""
    delete = json.loads(EXAMPLES[0])
    event_2 = {"eid": "BE_JOB_REQUEST", "ets": 1, "mid": "LP.fixture", "actor": {"id": "delete-user"},
               "object": {"id": "delete-user", "ver": "1.0"},
               "edata": {"action": "delete-user", "userId": "delete-user", "iteration": 1}}
    cases = [event_2]
    for value in ("", None):
        cases.append({**delete, "edata": {**delete["edata"], "userId": value}})
    for action in ("user-ownership-transfer", "DELETE-USER"):
        cases.append({**delete, "edata": {**delete["edata"], "action": action}})
    no_last_name = json.loads(EXAMPLES[2])
    no_last_name["edata"]["toUserProfile"]["lastName"] = ""
    return [json.dumps(c).encode() for c in cases], json.dumps(no_last_name).encode()


def test_examples_and_negative_cases(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    sandbox.contribution.add_user(DELETE_USER)
    sandbox.contribution.add_user(DELETE_DOC_USER)
    negatives, transfer_without_last_name = negative_cases()
    produce(broker.bootstrap, setup.delete_topic, EXAMPLES[:2] + negatives + [b'{"edata": "not json'])
    produce(broker.bootstrap, setup.transfer_topic, [EXAMPLES[2], transfer_without_last_name])
    job = jobs(MODULE, setup.config())
    outcomes = wait_for(lambda: len(job.outcomes()) == 4 and job.outcomes(), 60, "4 outcome lines")
    counts = {kind: sum(o["outcome"] == kind for o in outcomes) for kind in ("success", "skipped", "bad_input")}
    assert counts == {"success": 3, "skipped": 0, "bad_input": 1}
    skips = wait_for(lambda: job.validation_skips().total() == 6 and job.validation_skips(), 30, "6 skips counted")
    assert skips == {"edata.userId is blank": 2, "edata.action is not delete-user or ownership-transfer": 2,
                     "edata.toUserProfile.lastName is blank": 1, "object.type is not User": 1}
    assert sorted(sandbox.contribution.deleted) == sorted([DELETE_USER, DELETE_DOC_USER])
    assert sandbox.contribution.transfers == [json.loads(EXAMPLES[2])]
    assert sandbox.journal.count() == 3  # the invalid events made no call
    failed = wait_for(lambda: setup.failed(), 30, "the failed record")
    assert [m.value() for m in failed] == [b'{"edata": "not json']
    wait_for(lambda: setup.committed_total() == 10, 30, "offsets of all 10 events committed")
    assert job.stop() == 0


def test_retry_then_success(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    sandbox.contribution.add_user("u-retry")
    sandbox.faults.script("DELETE", "/program/v1/user/u-retry", [503, 502], html=True)
    produce(broker.bootstrap, setup.delete_topic, [delete_event("u-retry")])
    job = jobs(MODULE, setup.config())
    wait_for(lambda: job.outcomes(), 60, "an outcome")
    assert [o["outcome"] for o in job.outcomes()] == ["success"]
    assert [r.status for r in sandbox.journal.all()] == [503, 502, 200]
    assert job.stop() == 0
    assert setup.failed() == []


def test_retries_exhausted_give_one_failed_record_in_the_contract_format(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names, partitions=1)
    sandbox.contribution.add_user("u-down")
    sandbox.faults.script("DELETE", "/program/v1/user/u-down", [500] * 10)
    value = delete_event("u-down", mid="LP.1.down")
    produce(broker.bootstrap, setup.delete_topic, [value], keys=[b"key-1"])
    job = jobs(MODULE, setup.config("retry.max_attempts = 3"))
    failed = wait_for(lambda: setup.failed(), 60, "the failed record")
    assert len(failed) == 1 and sandbox.journal.count() == 3
    record = failed[0]
    expected = json.loads(value)
    expected["edata"]["iteration"] = 2
    expected["jobName"] = "user-delete"
    document = json.loads(record.value())
    error = document["failInfo"].pop("error")
    assert document == {**expected, "failInfo": {"stage": "process", "status": 500}}
    assert "HTTP 500" in error and "3 attempts" in error
    assert record.key() == b"key-1"
    assert dict(record.headers()) == {
        "job": b"user-delete", "error": error.encode(), "stage": b"process",
        "source.topic": setup.delete_topic.encode(), "source.partition": b"0", "source.offset": b"0"}
    wait_for(lambda: setup.committed_total() == 1, 30, "the offset committed")
    assert job.stop() == 0
    assert len(setup.failed()) == 1


def test_a_restart_continues_from_the_committed_offsets(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    users = setup.delete_backlog(20)
    first = jobs(MODULE, setup.config())
    wait_for(lambda: len(first.outcomes()) == 20, 60, "the first 20 outcomes")
    assert first.stop() == 0
    users += setup.delete_backlog(20, first=20)
    second = jobs(MODULE, setup.config())
    wait_for(lambda: len(second.outcomes()) == 20, 60, "the next 20 outcomes")
    assert second.stop() == 0
    assert sorted(sandbox.contribution.deleted) == sorted(users)  # each once: nothing lost, nothing repeated


def test_a_killed_job_loses_nothing(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    users = setup.delete_backlog(300)
    sandbox.faults.latency(0.02)
    first = jobs(MODULE, setup.config("http.max_in_flight = 4\nkafka.batch_size = 20"))
    wait_for(lambda: len(sandbox.contribution.deleted) >= 50, 60, "50 deletes")
    first.kill()
    done_before = len(set(sandbox.contribution.deleted))
    assert done_before < len(users)
    second = jobs(MODULE, setup.config())
    wait_for(lambda: set(sandbox.contribution.deleted) == set(users), 90, "every user deleted")
    assert second.stop() == 0
    repeated = len(sandbox.contribution.deleted) - len(users)
    print(f"killed after {done_before} deletes; {repeated} repeated after the restart")
    assert setup.committed_total() == len(users)


def test_sigterm_finishes_in_flight_events_and_commits(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    users = setup.delete_backlog(500)
    sandbox.faults.latency(0.05)
    job = jobs(MODULE, setup.config("http.max_in_flight = 8\nkafka.batch_size = 50"))
    wait_for(lambda: len(sandbox.contribution.deleted) >= 20, 60, "the job at work")
    assert job.stop(timeout_s=30) == 0
    handled = len(job.outcomes())
    assert 0 < handled < len(users)
    assert handled == len(sandbox.contribution.deleted)  # nothing was left half done
    assert setup.committed_total() == handled  # every outcome committed, nothing beyond


def test_one_users_events_stay_in_order(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names, partitions=1)
    sandbox.faults.latency(0.01)
    values = []
    for n in range(30):
        values.append(transfer_event("same-user", f"mid-{n}"))
        values.append(transfer_event(f"other-{n}", f"other-{n}"))
    produce(broker.bootstrap, setup.transfer_topic, values)
    job = jobs(MODULE, setup.config("http.max_in_flight = 16"))
    wait_for(lambda: len(job.outcomes()) == 60, 60, "60 outcomes")
    order = [t["mid"] for t in sandbox.contribution.transfers if t["edata"]["fromUserProfile"]["userId"] == "same-user"]
    assert order == [f"mid-{n}" for n in range(30)]
    assert job.stop() == 0


def test_metrics_and_logs_without_personal_data(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    sandbox.contribution.add_user(DELETE_USER)
    produce(broker.bootstrap, setup.delete_topic, [EXAMPLES[0]])
    produce(broker.bootstrap, setup.transfer_topic, [EXAMPLES[2]])
    port = free_port()
    job = jobs(MODULE, setup.config(),
               env={"BYTEWAX_DATAFLOW_API_ENABLED": "1", "BYTEWAX_DATAFLOW_API_PORT": str(port)})
    wait_for(lambda: len(job.outcomes()) == 2, 60, "2 outcomes")

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return answer.read().decode()

    text = wait_for(lambda: 'outcome="success"} 2.0' in scrape() and scrape(), 30, "the success count")
    assert re.search(r'cokreat_http_requests_total\{code="200",job="user-delete",service="program-service"\} 2', text)
    assert 'cokreat_http_request_seconds_count{job="user-delete",service="program-service"} 2.0' in text
    assert 'cokreat_in_flight{job="user-delete"} 0.0' in text
    assert job.stop() == 0
    log = job.log_path.read_text()
    for personal in (DELETE_USER, "contributor_x7k2", "gtest-user-005", "G-Test", "User-006",
                     "72d8cd69-2469-4234-82e7-6b849e0a28d9"):
        assert personal not in log


@pytest.mark.parametrize("config, key", [
    ('http.max_in_flight = "many"', "http.max_in_flight"),
    ('program-service-baseUrl = "localhost:6000"', "program-service-baseUrl"),
    ('kafka.auto.offset.reset = "sometimes"', "kafka.auto.offset.reset"),
])
def test_a_bad_configuration_stops_the_job_with_one_line(broker, sandbox, names, jobs, config, key):
    setup = Setup(broker, sandbox, names)
    job = jobs(MODULE, setup.config(config))
    assert job.wait(60) == 2
    lines = job.log_path.read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: ") and key in lines[0]


def test_two_workers_share_the_partitions(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    users = setup.delete_backlog(50, partition=0) + setup.delete_backlog(50, partition=1, first=50)
    job = jobs(MODULE, setup.config(), args=["-w", "2"])
    wait_for(lambda: len(job.outcomes()) == 100, 60, "100 outcomes")
    assert sorted(sandbox.contribution.deleted) == sorted(users)
    wait_for(lambda: setup.committed_total() == 100, 30, "all offsets committed")
    assert job.stop() == 0


def test_a_failed_topic_that_does_not_exist_yet_is_created_by_the_broker(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    setup.failed_topic = names("created.on.demand")
    produce(broker.bootstrap, setup.delete_topic, [b"not json"])
    job = jobs(MODULE, setup.config())
    wait_for(lambda: job.outcomes(), 60, "an outcome")
    assert [m.value() for m in setup.failed()] == [b"not json"]
    assert job.stop() == 0

def test_events_still_in_flight_after_the_grace_period_are_read_again(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    users = setup.delete_backlog(10)
    sandbox.faults.latency(20.0)  # every answer slower than the grace period
    first = jobs(MODULE, setup.config("shutdown.grace_s = 1"))
    wait_for(lambda: sandbox.journal.arrived >= 1, 60, "the job waiting for answers")
    assert first.stop(timeout_s=15) == 0
    assert first.outcomes() == [] and setup.committed_total() == 0
    sandbox.faults.clear()
    second = jobs(MODULE, setup.config())
    wait_for(lambda: len(second.outcomes()) == 10, 60, "the 10 events handled by the next run")
    assert second.stop() == 0
    assert set(sandbox.contribution.deleted) == set(users)



def environment_only(setup: Setup, **extra: str) -> dict[str, str]:
    """The settings of ``Setup.config`` as environment variables, with no config file."""
    return {"KAFKA_BROKER_SERVERS": setup.broker.bootstrap, "KAFKA_GROUPID": setup.group,
            "KAFKA_INPUT_USER_DELETE_TOPIC": setup.delete_topic,
            "KAFKA_INPUT_OWNERSHIP_TRANSFER_TOPIC": setup.transfer_topic, "KAFKA_FAILED_TOPIC": setup.failed_topic,
            "KAFKA_AUTO_OFFSET_RESET": "earliest", "PROGRAM_SERVICE_BASEURL": setup.sandbox.url, **extra}


def test_a_job_configured_only_from_the_environment(broker, sandbox, names, jobs):
    """The README's way to pass credentials: map entries (client properties, headers) one variable each,
    keys the defaults file does not have, and a misspelt variable named (never its value) in a warning."""
    setup = Setup(broker, sandbox, names)
    users = setup.delete_backlog(3)
    job = jobs(MODULE, None, env=environment_only(
        setup, HTTP_HEADERS_AUTHORIZATION="Bearer t0ken", HTTP_HEADERS_X_CHANNEL_ID="ch-1",
        KAFKA_CLIENT_CLIENT_ID="cokreat-env-test", KAFKA_GROUP_ID="typo-value", USER_DELETE_PATH_PREFIX="/program"))
    wait_for(lambda: len(job.outcomes()) == 3, what="three outcomes")
    assert sorted(sandbox.contribution.deleted) == sorted(users)
    for call in sandbox.journal.matching("DELETE"):
        assert call.headers["Authorization"] == "Bearer t0ken" and call.headers["X-Channel-Id"] == "ch-1"
    lines = job.log_lines()
    warnings = [line for line in lines if line.get("variable")]
    assert [w["variable"] for w in warnings] == ["KAFKA_GROUP_ID"]
    assert "typo-value" not in job.log_path.read_text() and "t0ken" not in job.log_path.read_text()
    starting = next(line for line in lines if line.get("message") == "starting")
    assert starting["settings"]["kafka.client"] == {"client.id": "cokreat-env-test"}
    assert starting["settings"]["http.headers"] == {"Authorization": "***", "X-Channel-Id": "***"}
    assert "kafka.client" in starting["from_environment"]
    assert job.stop() == 0


def test_a_client_property_from_the_environment_reaches_the_kafka_client(broker, sandbox, names, jobs):
    """``KAFKA_CLIENT_SECURITY_PROTOCOL=SSL`` against the plaintext broker: the start fails in one clear line."""
    setup = Setup(broker, sandbox, names)
    job = jobs(MODULE, None, env=environment_only(setup, KAFKA_CLIENT_SECURITY_PROTOCOL="SSL",
                                                   KAFKA_UNAVAILABLE_TIMEOUT_S="3"))
    assert job.wait(60) == 2
    last = job.log_path.read_text().strip().splitlines()[-1]
    assert last.startswith("kafka error: no answer from the brokers") and "security.protocol SSL" in last, last


def test_a_misspelt_client_property_is_a_configuration_error(broker, sandbox, names, jobs):
    setup = Setup(broker, sandbox, names)
    job = jobs(MODULE, None, env=environment_only(setup, KAFKA_CLIENT_SASL_PASWORD="x"))
    assert job.wait(60) == 2
    last = job.log_path.read_text().strip().splitlines()[-1]
    assert last.startswith("configuration error: kafka.client: No such configuration property"), last
    assert "sasl.pasword" in last
