"""The health probes: the stall watchdog and readiness with the clock injected, the HTTP endpoint, the
settings, and the counting in the pipeline."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import KafkaError

from connectors.kafka import BrokerWatch, SourceMessage
from flows.runtime.health import Health, Progress, serve
from flows.runtime.job import Done, Job
from flows.runtime.outcome import SUCCESS, Outcome
from flows.runtime.pipeline import build_flow
from flows.runtime.report import OutcomePartition
from flows.runtime.settings import CommonSettings, ConfigError, Reader, load_config
from flows.user_delete import DEFAULTS


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def probes(unreachable_s=None, stall_timeout_s=10.0):
    clock = Clock()
    progress = Progress(clock)
    return clock, progress, Health(progress, lambda: unreachable_s, stall_timeout_s)


def test_an_idle_job_is_live_however_long_nothing_happens():
    clock, _, health = probes()
    clock.now += 3600
    answer = health.live()
    assert answer.status == 200
    assert answer.body == {"status": "ok", "pending": 0, "seconds_since_progress": 3600.0}


def test_pending_events_without_an_outcome_for_the_stall_timeout_fail_liveness():
    clock, progress, health = probes(stall_timeout_s=10)
    clock.now += 3600  # idle first: the wait starts when events are taken, not at the last outcome
    progress.took(3)
    clock.now += 10
    assert health.live().status == 200
    clock.now += 0.5
    answer = health.live()
    assert answer.status == 503
    assert answer.body["status"] == "stalled" and answer.body["pending"] == 3
    assert "3 events pending and none reached an outcome for 10s" in answer.body["reason"]


def test_any_outcome_is_progress_and_all_outcomes_make_the_job_idle():
    clock, progress, health = probes(stall_timeout_s=10)
    progress.took(5)
    progress.took(5)
    clock.now += 8
    progress.reported(4)  # some events move: the others may wait longer
    clock.now += 8
    assert (health.live().status, health.live().body["pending"]) == (200, 6)
    clock.now += 3
    assert health.live().status == 503
    progress.reported(6)
    assert health.live().status == 200 and health.live().body["pending"] == 0
    clock.now += 100
    assert health.live().status == 200


def test_ready_once_the_dataflow_has_started_and_while_the_brokers_are_reachable():
    _, progress, health = probes()
    assert health.ready().status == 503 and health.ready().body["reason"] == "the dataflow has not started reading yet"
    progress.start()
    assert health.ready().status == 200
    _, progress, down = probes(unreachable_s=12.3)
    progress.start()
    assert down.ready().status == 503
    assert down.ready().body["reason"] == "Kafka brokers unreachable for 12s"


def test_the_broker_watch_says_how_long_the_brokers_have_been_unreachable():
    watch = BrokerWatch(60)
    assert watch.unreachable_s() is None
    watch.on_error(KafkaError(KafkaError._TRANSPORT))
    assert watch.unreachable_s() is not None and watch.unreachable_s() >= 0
    watch.on_error(KafkaError(KafkaError._MSG_TIMED_OUT))  # another error says nothing about reachability
    assert watch.unreachable_s() is not None
    watch.reachable()
    assert watch.unreachable_s() is None


def test_routes():
    _, progress, health = probes()
    progress.start()
    assert health.answer("/livez").status == 200
    assert health.answer("/readyz?verbose=1").status == 200
    assert health.answer("/").status == 404 and health.answer("/livez/x").status == 404


def get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.loads(reply.read()), reply.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers["Content-Type"]


@pytest.fixture
def endpoint():
    clock, progress, health = probes(stall_timeout_s=10)
    server = serve(0, health)
    yield clock, progress, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_endpoint_answers_json_over_http(endpoint):
    clock, progress, url = endpoint
    assert get(f"{url}/livez") == (200, {"status": "ok", "pending": 0, "seconds_since_progress": 0.0},
                                   "application/json")
    assert get(f"{url}/readyz") == (503, {"status": "not ready", "reason": "the dataflow has not started reading yet"},
                                    "application/json")
    progress.start()
    progress.took(2)
    clock.now += 11
    status, body, _ = get(f"{url}/livez")
    assert (status, body["status"], body["pending"]) == (503, "stalled", 2)
    assert get(f"{url}/readyz")[:2] == (200, {"status": "ready"})
    assert get(f"{url}/metrics")[0] == 404


def test_a_taken_port_is_an_error_at_start():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve(taken.getsockname()[1], probes()[2])


def test_health_settings_defaults_environment_and_validation():
    settings = CommonSettings.read(Reader(load_config(DEFAULTS, {})))
    assert (settings.health.port, settings.health.stall_timeout_s) == (8081, 600)
    settings = CommonSettings.read(Reader(load_config(DEFAULTS, {"HEALTH_PORT": "0",
                                                                 "HEALTH_STALL_TIMEOUT_S": "1800"})))
    assert (settings.health.port, settings.health.stall_timeout_s) == (0, 1800)
    with pytest.raises(ConfigError, match="^health.port: must be at most 65535"):
        CommonSettings.read(Reader(load_config(DEFAULTS, {"HEALTH_PORT": "70000"})))
    with pytest.raises(ConfigError, match="^health.stall_timeout_s: must be at least 1"):
        CommonSettings.read(Reader(load_config(DEFAULTS + "\nhealth.stall_timeout_s = 0", {})))


def message(offset: int) -> SourceMessage:
    return SourceMessage(key=None, value=b'{"id": "a"}', topic="t", partition=0, offset=offset)


def test_the_flow_counts_events_taken_and_the_sink_counts_them_done():
    async def handle(_topic, _event):
        return Done()

    job = Job(name="test-job", topics=("t",), entity=lambda _t, e: e["id"], validate=lambda _t, _e: None,
              handle=handle)
    progress = Progress()
    outcomes: list = []
    run_main(build_flow(job, TestingSource([message(n) for n in range(7)], batch_size=3), TestingSink(outcomes),
                        4, progress))
    assert len(outcomes) == 7 and progress.state()[0] == 7  # a TestingSink reports nothing

    class Nothing:
        def write(self, records): pass
        def done(self, *args): pass
        def commit(self): pass

    OutcomePartition(job, Nothing(), Nothing(), progress).write_batch([Outcome(message(n), SUCCESS) for n in range(7)])
    assert progress.state()[0] == 0


def test_an_answer_to_a_request_sent_before_the_last_error_says_nothing_of_reachability():
    """A commit's answer waits in the client until the next commit reads it: read after the brokers went, it
    would log "reachable again" and then "unreachable" a second time."""
    watch = BrokerWatch(60)
    sent = time.monotonic()
    watch.on_error(KafkaError(KafkaError._TRANSPORT))
    watch.answered(sent)
    assert watch.unreachable_s() is not None
    watch.answered(time.monotonic())
    assert watch.unreachable_s() is None
