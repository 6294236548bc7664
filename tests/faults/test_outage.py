"""Outage: the service answers 503 and then refuses connections in the middle of a run. Within the
retry budget nothing fails and work resumes within seconds; past it, each event in the outage is
written to the failed topic exactly once, and the rest go on."""

from __future__ import annotations

import json
import time

from sandbox.job import user_delete_config
from sandbox.kafka_tools import produce, read_all
from sandbox.user_events import delete_event
from tests.conftest import wait_for

MODULE = "flows.user_delete"


def run_with_outage(broker, sandbox, names, jobs, retry: str, answer_503_s: float, refuse_s: float):
    delete_topic, transfer_topic, failed_topic = names("d"), names("t"), names("f")
    broker.create_topics([delete_topic, transfer_topic, failed_topic])
    users = [f"user-{n}" for n in range(3000)]
    for user in users:
        sandbox.contribution.add_user(user)
    sandbox.faults.latency(0.01)
    produce(broker.bootstrap, delete_topic, [delete_event(u) for u in users])
    job = jobs(MODULE, user_delete_config(broker.bootstrap, sandbox.url, names("g"), delete_topic, transfer_topic,
                                          failed_topic, retry))
    wait_for(lambda: len(sandbox.contribution.deleted) >= 300, 60, "the job at work")
    sandbox.faults.outage(answer_503_s)
    wait_for(lambda: sandbox.journal.matching("DELETE") and sandbox.journal.all()[-1].status == 503, 10, "503s")
    wait_for(lambda: not sandbox.faults.in_outage(), answer_503_s + 5, "the 503 window to end")
    sandbox.refuse(refuse_s)
    wait_for(lambda: not sandbox.refusing, refuse_s + 10, "connections accepted again")
    recovered = time.monotonic()
    done_at_recovery = len(sandbox.contribution.deleted)
    wait_for(lambda: len(sandbox.contribution.deleted) > done_at_recovery, 30, "work to resume")
    resumed_after = time.monotonic() - recovered
    return job, users, failed_topic, resumed_after


def test_an_outage_within_the_retry_budget_loses_nothing(broker, sandbox, names, jobs):
    job, users, failed_topic, resumed_after = run_with_outage(
        broker, sandbox, names, jobs, "retry { max_attempts = 100, max_elapsed_s = 90, initial_backoff_s = 0.5 }",
        answer_503_s=15, refuse_s=15)
    wait_for(lambda: set(sandbox.contribution.deleted) == set(users), 120, "every user deleted")
    assert job.stop() == 0
    assert read_all(broker.bootstrap, failed_topic) == []
    assert resumed_after < 8
    print(f"outage of 30 s within the budget: work resumed {resumed_after:.1f} s after recovery, nothing failed")


def test_an_outage_longer_than_the_budget_fails_those_events_once(broker, sandbox, names, jobs):
    job, users, failed_topic, resumed_after = run_with_outage(
        broker, sandbox, names, jobs, "retry { max_attempts = 100, max_elapsed_s = 4, initial_backoff_s = 0.2 }",
        answer_503_s=8, refuse_s=8)
    failed_users = lambda: [json.loads(r.value())["edata"]["userId"] for r in read_all(broker.bootstrap, failed_topic)]
    wait_for(lambda: len(set(sandbox.contribution.deleted)) + len(failed_users()) >= len(users), 120,
             "every event done or failed")
    assert job.stop() == 0
    failed = failed_users()
    assert failed and len(failed) == len(set(failed))  # each exactly once
    assert not set(failed) & set(sandbox.contribution.deleted)
    assert set(failed) | set(sandbox.contribution.deleted) == set(users)
    print(f"outage of 16 s past a 4 s budget: {len(failed)} events failed once each; "
          f"work resumed {resumed_after:.1f} s after recovery")
