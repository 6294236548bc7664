"""``python -m tools.replay`` against the embedded broker: failed records written by the jobs' own
writer (``flows.runtime.outcome.failed_record`` + ``FailedTopicWriter``), replayed into input topics."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


from connectors.failed_records import FailedRecord
from connectors.kafka import FailedTopicWriter, SourceMessage, too_large_stand_in
from flows.runtime.outcome import BAD_INPUT, FAILED, Outcome, failed_record
from sandbox.job import user_delete_config
from sandbox.kafka_tools import produce, read_all
from sandbox.user_events import delete_event
from tests.conftest import wait_for
from tools import replay as tool

ROOT = Path(__file__).resolve().parents[2]


def event(mid: str, user: str, iteration: int | None = None) -> dict:
    edata = {"action": "delete-user", "userId": user}
    if iteration is not None:
        edata["iteration"] = iteration
    # a number past 64 bits must come back exactly as it was
    return {"eid": "BE_JOB_REQUEST", "ets": 123456789012345678901234, "mid": mid,
            "object": {"id": user, "type": "User"}, "edata": edata}


def failed(job: str, topic: str, offset: int, key: bytes | None, document: dict, partition: int = 0) -> FailedRecord:
    message = SourceMessage(key=key, value=json.dumps(document).encode(), topic=topic, partition=partition,
                                 offset=offset)
    return failed_record(job, Outcome(message, FAILED, event=document, stage="process", detail="HTTP 400",
                                      status=400))


def bad_input(job: str, topic: str, offset: int, value: bytes) -> FailedRecord:
    message = SourceMessage(key=b"raw", value=value, topic=topic, partition=0, offset=offset)
    return failed_record(job, Outcome(message, BAD_INPUT, stage="parse", detail="not JSON"))


def write(broker, topic: str, records: list[FailedRecord]) -> None:
    writer = FailedTopicWriter({"bootstrap.servers": broker.bootstrap}, topic, timeout_s=30)
    writer.write(records)
    writer.close()


def run(broker, from_topic: str, **options) -> tuple[tool.Summary, list[dict], str]:
    """The replay as a function; its summary, dry-run lines and messages to stderr."""
    out, err = io.StringIO(), io.StringIO()
    summary = tool.replay(tool.Options(brokers=broker.bootstrap, from_topic=from_topic, **options), out, err)
    return summary, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def received(broker, topic: str, count: int) -> list:
    """The records of ``topic`` once it has ``count`` of them."""
    return wait_for(lambda: (records := read_all(broker.bootstrap, topic)) and len(records) >= count and records,
                    30, f"{count} records on {topic}")


def test_the_cli_sends_the_cleaned_events_with_their_keys_to_their_source_topic(broker, names):
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs], partitions=2)
    broker.create_topics([failed_topic])
    originals = [event("m1", "u1", iteration=1), event("m2", "u2"), event("m3", "u3", iteration=4)]
    write(broker, failed_topic, [failed("user-delete", inputs, n, f"u{n + 1}".encode(), doc)
                                 for n, doc in enumerate(originals)] + [bad_input("user-delete", inputs, 3, b"{oops")])

    done = subprocess.run([sys.executable, "-m", "tools.replay", "--brokers", broker.bootstrap,
                           "--from-topic", failed_topic], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "read 4, sent 3, skipped 1 (bad input (use --include-bad-input): 1)" in done.stderr
    records = received(broker, inputs, 3)
    by_key = {r.key(): json.loads(r.value()) for r in records}
    assert len(records) == 3 and set(by_key) == {b"u1", b"u2", b"u3"}
    for n, original in enumerate(originals):
        replayed = by_key[f"u{n + 1}".encode()]
        assert "jobName" not in replayed and "failInfo" not in replayed
        # edata.iteration stays as the job wrote it (raised by one): the replay is a further attempt
        expected_iteration = (original["edata"].get("iteration") or 0) + 1
        assert replayed == {**original, "edata": {**original["edata"], "iteration": expected_iteration}}
    assert read_all(broker.bootstrap, failed_topic)  # the failed topic is left as it was


def test_a_dry_run_prints_what_would_be_sent_and_sends_nothing(broker, names):
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs, failed_topic])
    write(broker, failed_topic, [failed("user-delete", inputs, 7, b"u1", event("m1", "u1", iteration=1))])

    summary, lines, _ = run(broker, failed_topic, dry_run=True)

    assert (summary.read, summary.sent, summary.ok) == (1, 1, True)
    assert len(lines) == 1
    line = lines[0]
    assert (line["from"], line["source"], line["to"], line["key"]) == ("0@0", f"{inputs}/0/7", inputs, "u1")
    assert (line["job"], line["error"], line["bad_input"]) == ("user-delete", "HTTP 400", False)
    value = json.loads(line["value"])
    assert value["edata"]["iteration"] == 2 and "failInfo" not in value and "jobName" not in value
    assert read_all(broker.bootstrap, inputs) == []


def test_job_keeps_one_jobs_records_of_a_shared_failed_topic(broker, names):
    content_input, questions_input = names("auto.creation.job.request"), names("object.import.request")
    failed_topic = names("auto.creation.job.request.failed")
    broker.create_topics([content_input, questions_input, failed_topic])
    write(broker, failed_topic, [
        failed("content-auto-creator", content_input, 0, b"do_1", {"object": {"id": "do_1"}, "edata": {}}),
        failed("auto-creator-v2", questions_input, 0, b"do_2", {"edata": {"metadata": {"identifier": "do_2"}}}),
        failed("content-auto-creator", content_input, 1, b"do_3", {"object": {"id": "do_3"}, "edata": {}}),
        failed("auto-creator-v2", questions_input, 1, b"do_4", {"edata": {"metadata": {"identifier": "do_4"}}}),
    ])

    summary, _, _ = run(broker, failed_topic, job="auto-creator-v2")

    assert (summary.read, summary.sent, summary.skipped[tool.OTHER_JOB]) == (4, 2, 2)
    assert sorted(r.key() for r in received(broker, questions_input, 2)) == [b"do_2", b"do_4"]
    assert read_all(broker.bootstrap, content_input) == []


def test_bad_input_goes_back_unchanged_only_when_asked(broker, names):
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs, failed_topic])
    raw = [b"\x00not json", b"[1, 2]", b'{"edata": "not an object"}']
    write(broker, failed_topic, [bad_input("user-delete", inputs, n, value) for n, value in enumerate(raw)])

    summary, _, _ = run(broker, failed_topic, include_bad_input=True)

    assert (summary.read, summary.sent) == (3, 3)
    assert [(r.key(), r.value()) for r in received(broker, inputs, 3)] == [(b"raw", value) for value in raw]


def test_offsets_limit_and_to_topic_choose_what_is_sent(broker, names):
    inputs, elsewhere, failed_topic = names("delete.user"), names("replayed"), names("delete.user.failed")
    broker.create_topics([inputs, elsewhere, failed_topic])
    write(broker, failed_topic, [failed("user-delete", inputs, n, f"u{n}".encode(), event(f"m{n}", f"u{n}"))
                                 for n in range(6)])

    summary, _, _ = run(broker, failed_topic, to_topic=elsewhere, since=tool.Position(offset=1),
                        until=tool.Position(offset=5), limit=3)

    assert (summary.read, summary.sent, summary.ok) == (3, 3, True)
    assert [r.key() for r in received(broker, elsewhere, 3)] == [b"u1", b"u2", b"u3"]
    assert read_all(broker.bootstrap, inputs) == []


def test_times_outside_since_until_are_skipped(broker, names):
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs, failed_topic])
    write(broker, failed_topic, [failed("user-delete", inputs, 0, b"u0", event("m0", "u0"))])
    now = datetime.now(timezone.utc)

    later, _, _ = run(broker, failed_topic, since=tool.Position.parse((now + timedelta(hours=1)).isoformat()))
    earlier, _, _ = run(broker, failed_topic, until=tool.Position.parse((now - timedelta(hours=1)).isoformat()))
    window, _, _ = run(broker, failed_topic, dry_run=True,
                       since=tool.Position.parse((now - timedelta(hours=1)).isoformat()),
                       until=tool.Position.parse((now + timedelta(hours=1)).isoformat()))

    assert (later.sent, later.skipped[tool.BEFORE]) == (0, 1)
    assert (earlier.sent, earlier.skipped[tool.AFTER]) == (0, 1)
    assert window.sent == 1
    assert read_all(broker.bootstrap, inputs) == []


def test_a_too_large_stand_in_is_never_sent_and_its_origin_is_shown(broker, names):
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs, failed_topic])
    original = failed("user-delete", inputs, 42, b"u", event("m", "u"))
    write(broker, failed_topic, [too_large_stand_in(original)])

    summary, _, err = run(broker, failed_topic)

    assert (summary.read, summary.sent, summary.skipped[tool.OMITTED_VALUE]) == (1, 0, 1)
    assert f"its original is at {inputs}/0/42" in err
    assert read_all(broker.bootstrap, inputs) == []


def test_an_offset_past_the_end_is_an_error_not_a_jump_to_the_beginning(broker, names):
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs, failed_topic])
    write(broker, failed_topic, [failed("user-delete", inputs, 0, b"u0", event("m0", "u0"))])

    started = time.monotonic()
    try:
        summary, _, _ = run(broker, failed_topic, since=tool.Position(offset=1000), idle_timeout_s=5)
    except tool.ReplayError as err:
        assert "1000" in str(err) or "offset" in str(err).lower()
    else:  # Tansu sends neither an error nor an end of partition: the idle timeout ends the read, not ok
        assert (summary.read, summary.sent, summary.complete, summary.ok) == (0, 0, False, False)
    assert time.monotonic() - started < 60
    assert read_all(broker.bootstrap, inputs) == []


def test_after_the_fix_the_job_does_the_replayed_event(broker, sandbox, names, jobs):
    deletes, transfers, failed_topic = names("delete.user"), names("transfer"), names("delete.user.failed")
    broker.create_topics([deletes, transfers, failed_topic])
    sandbox.contribution.add_user("u-later")
    sandbox.faults.script("DELETE", "/program/v1/user/u-later", [500] * 2)  # the outage, then the fix
    produce(broker.bootstrap, deletes, [delete_event("u-later", mid="LP.later")], keys=[b"key-later"])
    config = user_delete_config(broker.bootstrap, sandbox.url, names("group"), deletes, transfers, failed_topic,
                                "retry.max_attempts = 2\nretry.initial_backoff_s = 0.05\n")
    job = jobs("flows.user_delete", config)
    wait_for(lambda: read_all(broker.bootstrap, failed_topic), 60, "the failed record")
    assert sandbox.contribution.deleted == []

    summary, _, _ = run(broker, failed_topic)

    assert (summary.read, summary.sent) == (1, 1)
    wait_for(lambda: [o["outcome"] for o in job.outcomes()] == ["failed", "success"], 60, "the replayed event done")
    assert sandbox.contribution.deleted == ["u-later"]
    assert [r.key() for r in read_all(broker.bootstrap, deletes)] == [b"key-later", b"key-later"]
    assert job.stop() == 0


# The decision for one record, without a broker.

RECORD = tool.Record(0, 5, b"k", json.dumps({"edata": {"iteration": 2}, "jobName": "user-delete",
                                             "failInfo": {"error": "x"}}).encode(), {})


def test_plan_uses_the_value_s_job_name_when_the_flink_job_wrote_the_record():
    # The Flink content-auto-creator wrote failed records without headers (and without a key).
    options = tool.Options(brokers="unused", from_topic="failed", job="user-delete", to_topic="input")
    decision = tool.plan(RECORD, options)
    assert isinstance(decision, tool.Replay)
    assert (decision.topic, decision.key, json.loads(decision.value)) == ("input", b"k", {"edata": {"iteration": 2}})
    assert tool.plan(RECORD, tool.Options(brokers="unused", from_topic="failed", job="auto-creator-v2",
                                          to_topic="input")) == tool.OTHER_JOB


def test_plan_needs_a_destination_and_never_sends_back_into_the_failed_topic():
    assert tool.plan(RECORD, tool.Options(brokers="unused", from_topic="failed")) == tool.NO_DESTINATION
    looping = tool.Record(0, 5, b"k", RECORD.value, {"source.topic": "failed"})
    assert tool.plan(looping, tool.Options(brokers="unused", from_topic="failed")) == tool.LOOP


def test_the_command_line_refuses_to_replay_a_topic_into_itself():
    done = subprocess.run([sys.executable, "-m", "tools.replay", "--brokers", "127.0.0.1:1", "--from-topic", "t",
                           "--to-topic", "t"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--to-topic must differ" in done.stderr


def test_since_reads_offsets_and_iso_times():
    assert tool.Position.parse("17") == tool.Position(offset=17)
    assert tool.Position.parse("2024-05-01T00:00:00Z").time_ms == 1714521600000
    assert tool.Position.parse("2024-05-01T00:00:00").time_ms == 1714521600000  # no zone: UTC


def test_a_record_whose_error_or_key_is_too_large_still_leaves_a_stand_in(broker, names):
    """A service's 2 MB error message (it becomes the ``error`` header) or a 2 MB source key: the stand-in
    must be small too, or no record at all is written while the offset is committed."""
    inputs, failed_topic = names("delete.user"), names("delete.user.failed")
    broker.create_topics([inputs, failed_topic])
    message = SourceMessage(key=b"u", value=b"{}", topic=inputs, partition=0, offset=42)
    huge_error = failed_record("user-delete", Outcome(message, FAILED, event={}, stage="process",
                                                      detail="e" * 2_000_000, status=400))
    huge_key = FailedRecord(b"k" * 2_000_000, b"{}", [("source.offset", b"43")])
    write(broker, failed_topic, [huge_error, huge_key])
    records = read_all(broker.bootstrap, failed_topic)
    assert sorted(dict(r.headers())["source.offset"] for r in records) == [b"42", b"43"]
    assert all(dict(r.headers())["value.omitted"] == b"too large" for r in records)


def test_a_paused_source_reads_nothing_until_it_is_resumed(broker, names):
    """The linking backlog's brake: while ``paused()``, a partition takes no message from Kafka."""
    from connectors.kafka import BrokerWatch, ConsumerGroupSource

    topic = names("paused")
    broker.create_topics([topic])
    produce(broker.bootstrap, topic, [b"{}"] * 5)
    paused = {"now": True}
    source = ConsumerGroupSource({"bootstrap.servers": broker.bootstrap}, names("g"), [topic], "earliest", 10,
                                 lambda: False, BrokerWatch(30), lambda: None, paused=lambda: paused["now"])
    part = source.build_part("read", f"0-{topic}", None)
    try:
        assert all(part.next_batch() == [] for _ in range(20))
        paused["now"] = False
        taken: list = []
        wait_for(lambda: taken.extend(part.next_batch()) or len(taken) == 5, 30, "the messages after the pause")
        assert [message.offset for message in taken] == [0, 1, 2, 3, 4]
    finally:
        part.close()
