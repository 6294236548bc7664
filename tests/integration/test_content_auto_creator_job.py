"""The content-auto-creator as operators run it: ``python -m bytewax.run flows.content_auto_creator`` in a
subprocess, on the embedded broker, against the sandbox's content, search and file services."""

from __future__ import annotations

import copy
import json
import urllib.request

from sandbox.process import free_port
from sandbox.job import content_auto_creator_config
from sandbox.kafka_tools import committed, produce, read_all
from tests.conftest import EVENTS_DIR, wait_for

MODULE = "flows.content_auto_creator"
EXAMPLE_A, EXAMPLE_B, EXAMPLE_C = [json.loads(line) for line in
                                   (EVENTS_DIR / "content-auto-creator.events.jsonl").read_text().splitlines()]


class Setup:
    def __init__(self, broker, sandbox, names, tmp_path):
        self.broker, self.sandbox = broker, sandbox
        self.topic, self.failed_topic, self.group = names("auto.creation.job.request"), names("failed"), names("g")
        broker.create_topics([self.topic, self.failed_topic])
        self.storage = tmp_path / "storage"
        self.public = sandbox.files.serve_directory(self.storage)
        self.tmp = tmp_path / "tmp"

    def config(self, extra: str = "") -> str:
        return content_auto_creator_config(self.broker.bootstrap, self.sandbox.url, self.group, self.topic,
                                           self.failed_topic, self.storage, self.public, self.tmp,
                                           "retry { initial_backoff_s = 0.05, max_attempts = 3 }\n" + extra)

    def host(self, event: dict) -> dict:
        """The event with its artifact and icon on the sandbox's file server, and its collection there."""
        event = copy.deepcopy(event)
        metadata = event["edata"]["metadata"]
        files = self.sandbox.files
        if "drive.google.com" in metadata["artifactUrl"]:
            metadata["artifactUrl"] = files.add_drive("artifact-b", "About Water.pdf", b"%PDF-1.7 water", "application/pdf")
            metadata["appIcon"] = files.add_drive("icon-b", "water.png", b"\x89PNG water", "image/png")
        else:
            metadata["artifactUrl"] = files.add("mp4_219.mp4", b"\x00\x00\x00\x18ftypmp42" * 100, "video/mp4")
            metadata["appIcon"] = files.add("rhinocerous.thumb.jpg", b"\xff\xd8\xff jpeg", "image/jpeg")
        entry = event["edata"]["collection"][0]
        self.sandbox.content.add_collection(entry["identifier"], [entry["unitId"]])
        return event


def test_the_three_examples(broker, sandbox, names, jobs, tmp_path):
    setup = Setup(broker, sandbox, names, tmp_path)
    events = [setup.host(EXAMPLE_A), setup.host(EXAMPLE_B), setup.host(EXAMPLE_C)]
    produce(broker.bootstrap, setup.topic, [json.dumps(e).encode() for e in events])
    job = jobs(MODULE, setup.config())
    outcomes = wait_for(lambda: len(job.outcomes()) == 3 and job.outcomes(), 90, "3 outcomes")
    assert [o["outcome"] for o in outcomes] == ["success"] * 3, [o.get("error") for o in outcomes]
    contents = sandbox.content.contents
    a, b = contents[EXAMPLE_A["object"]["id"]], contents[EXAMPLE_B["object"]["id"]]
    assert a["status"] in ("Processing", "Live") and b["status"] in ("Processing", "Live")
    assert b["artifactUrl"] == f"{setup.public}/content/{EXAMPLE_B['object']['id']}/artifact/about-water.pdf"
    assert (setup.storage / "content" / EXAMPLE_B["object"]["id"] / "artifact" / "water.png").exists()
    assert "origin" not in b  # a bulk upload keeps its identifier and records no origin
    # Example C is Example A again: the copy is found, already published, so it is only linked again.
    publishes = sandbox.journal.matching("POST", f"/content/v4/publish/{EXAMPLE_A['object']['id']}")
    assert len(publishes) == 1
    adds = sandbox.journal.matching("PATCH", "/content/v3/hierarchy/add")
    added = [child for add in adds for child in add.body["request"]["children"]]
    # A and C link the same content: linked twice, or once when they came in the same batch of links
    assert sorted(set(added)) == sorted({EXAMPLE_A["object"]["id"], EXAMPLE_B["object"]["id"]}) and len(adds) <= 3
    wait_for(lambda: committed(broker.bootstrap, setup.group, setup.topic) == [3], 30, "offsets committed")
    assert job.stop() == 0
    assert read_all(broker.bootstrap, setup.failed_topic) == []


def test_a_failure_in_the_middle_marks_the_content_and_writes_one_failed_record(broker, sandbox, names, jobs,
                                                                                 tmp_path):
    setup = Setup(broker, sandbox, names, tmp_path)
    event = setup.host(EXAMPLE_A)
    sandbox.faults.script("POST", "/content/v4/publish/", [500] * 10)
    value = json.dumps(event).encode()
    produce(broker.bootstrap, setup.topic, [value, b"{not json"])
    port = free_port()
    job = jobs(MODULE, setup.config(),
               env={"BYTEWAX_DATAFLOW_API_ENABLED": "1", "BYTEWAX_DATAFLOW_API_PORT": str(port)})
    failed = wait_for(lambda: len(read_all(broker.bootstrap, setup.failed_topic)) == 2
                      and read_all(broker.bootstrap, setup.failed_topic), 90, "2 failed records")
    record = json.loads(failed[0].value())
    info = record.pop("failInfo")
    expected = copy.deepcopy(event)
    expected["edata"]["iteration"] = 2
    assert record == {**expected, "jobName": "content-auto-creator"}
    assert info["stage"] == "process" and info["status"] == 500 and "HTTP 500" in info["error"]
    assert dict(failed[0].headers())["job"] == b"content-auto-creator"
    assert failed[1].value() == b"{not json"
    content = sandbox.content.contents[event["object"]["id"]]
    assert content["status"] == "Failed" and "HTTP 500" in content["importError"]
    assert len(sandbox.journal.matching("POST", f"/content/v4/publish/{event['object']['id']}")) == 3

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return answer.read().decode()

    text = wait_for(lambda: 'outcome="bad_input"} 1.0' in scrape() and scrape(), 30, "the metrics")
    assert 'cokreat_events_total{job="content-auto-creator",outcome="failed"} 1.0' in text
    assert 'cokreat_retries_total{job="content-auto-creator",service="content-service"} 2.0' in text
    assert job.stop() == 0


def test_storage_settings_are_checked_at_start(broker, sandbox, names, jobs, tmp_path):
    setup = Setup(broker, sandbox, names, tmp_path)
    job = jobs(MODULE, setup.config('cloud_storage.public_base_url = ""'))
    assert job.wait(60) == 2
    assert "cloud_storage" in job.log_path.read_text().strip().splitlines()[-1]


def test_300_contents_linked_into_one_unit_from_two_processes_are_all_there(broker, sandbox, names, jobs, tmp_path):
    """A bulk upload into one textbook unit, read by two processes (``-i/-a``), against a content service
    that adds by read-modify-write 20 ms apart: one collection's adds run in one place, one at a time."""
    setup = Setup(broker, sandbox, names, tmp_path)
    setup.topic = names("bulk.upload")
    broker.create_topics([setup.topic], partitions=2)  # each process reads one partition
    template = setup.host(EXAMPLE_A)
    unit = template["edata"]["collection"][0]
    sandbox.content.add_delay_s = 0.02
    events = []
    for n in range(300):
        event = copy.deepcopy(template)
        identifier = f"do_bulk_{n:03d}"
        event["object"]["id"] = identifier
        event["edata"]["originData"] = {"identifier": identifier, "repository": "https://consumption/api"}
        sandbox.content.add_content(identifier, status="Live")  # exists already: the job only links it
        events.append(json.dumps(event).encode())
    produce(broker.bootstrap, setup.topic, events[:150], partition=0)
    produce(broker.bootstrap, setup.topic, events[150:], partition=1)
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    processes = [jobs(MODULE, setup.config("http.max_in_flight = 16"), args=["-i", str(i), "-a", addresses])
                 for i in (0, 1)]
    wait_for(lambda: sum(len(p.outcomes()) for p in processes) == 300, 240, "300 outcomes")
    assert {o["outcome"] for p in processes for o in p.outcomes()} == {"success"}
    linked = sandbox.content.collections[unit["identifier"]][unit["unitId"]]
    assert sorted(linked) == [f"do_bulk_{n:03d}" for n in range(300)]
