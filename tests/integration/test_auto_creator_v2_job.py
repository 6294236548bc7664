"""auto-creator-v2 as operators run it: ``python -m bytewax.run flows.auto_creator_v2`` in a subprocess, on
the embedded broker, against the sandbox's source, question set service and content hierarchy."""

from __future__ import annotations

import copy
import json

from sandbox.job import auto_creator_v2_config
from sandbox.kafka_tools import committed, produce, read_all
from tests.conftest import wait_for
from sandbox.questionsets import EXAMPLES, question_set

MODULE = "flows.auto_creator_v2"


def config(broker, sandbox, names, tmp_path):
    topic, failed, group = names("object.import.request"), names("failed"), names("g")
    broker.create_topics([topic, failed])
    text = auto_creator_v2_config(broker.bootstrap, sandbox.url, group, topic, failed, tmp_path / "storage",
                                  sandbox.files.serve_directory(tmp_path / "storage"), tmp_path / "tmp",
                                  "retry { initial_backoff_s = 0.05, max_attempts = 3 }\nlink.wait_s = 10")
    return topic, failed, group, text


def test_the_example_events(broker, sandbox, names, jobs, tmp_path):
    topic, failed, group, text = config(broker, sandbox, names, tmp_path)
    event_a, _ = question_set(sandbox)
    event_b = copy.deepcopy(EXAMPLES[1])  # the minimal event, for the same set: imported again
    event_b["edata"]["repository"] = event_a["edata"]["repository"]
    event_b["edata"]["metadata"]["downloadUrl"] = event_a["edata"]["metadata"]["downloadUrl"]
    produce(broker.bootstrap, topic, [json.dumps(e).encode() for e in (event_a, event_b, EXAMPLES[2])])
    job = jobs(MODULE, text)
    outcomes = wait_for(lambda: len(job.outcomes()) == 2 and job.outcomes(), 90, "2 outcome lines")
    assert [o["outcome"] for o in outcomes] == ["success", "success"], [o.get("error") for o in outcomes]
    wait_for(lambda: job.validation_skips().total() == 1, 30, "the third event counted as skipped")
    root = event_a["edata"]["metadata"]["identifier"]
    objects = sandbox.questions.objects
    assert objects[root]["status"] == "Live"
    assert all(objects[q]["status"] == "Live" for q in ("do_q1", "do_q2", "do_q3", "do_q4"))
    assert "do_q5" not in objects
    assert len(sandbox.journal.matching("PATCH", f"/questionset/v4/system/update/{root}")) == 1  # the re-import
    assert len(sandbox.journal.matching("PATCH", "/content/v3/hierarchy/add")) == 2
    wait_for(lambda: committed(broker.bootstrap, group, topic) == [3], 30, "offsets committed")
    assert job.stop() == 0
    assert read_all(broker.bootstrap, failed) == []


def test_a_failing_target_gives_one_failed_record(broker, sandbox, names, jobs, tmp_path):
    topic, failed, _, text = config(broker, sandbox, names, tmp_path)
    event, _ = question_set(sandbox)
    sandbox.faults.script("PATCH", "/questionset/v4/hierarchy/update", [503] * 10)
    produce(broker.bootstrap, topic, [json.dumps(event).encode()])
    job = jobs(MODULE, text)
    records = wait_for(lambda: read_all(broker.bootstrap, failed), 90, "the failed record")
    document = json.loads(records[0].value())
    assert document["jobName"] == "auto-creator-v2" and document["edata"]["iteration"] == 2
    assert document["failInfo"]["status"] == 503 and document["failInfo"]["stage"] == "process"
    assert len(sandbox.journal.matching("PATCH", "/questionset/v4/hierarchy/update")) == 3
    assert job.stop() == 0
