"""The content-auto-creator's handler through the shared flow, against the sandbox services over 127.0.0.1."""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import urllib.request

import pytest

from connectors.storage import key_segment
from flows.content_auto_creator import DEFAULTS, make_job
from flows.runtime.outcome import FAILED, SKIPPED, SUCCESS
from flows.runtime.settings import ConfigError
from flows.sunbird.rehost import IN_MEMORY_BYTES
from tests.conftest import EVENTS_DIR, run_flow
from tests.fake_network import FakeNetwork

EXAMPLES = [json.loads(line) for line in (EVENTS_DIR / "content-auto-creator.events.jsonl").read_text().splitlines()]
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"v" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"i" * 500


class Creator:
    """The job's rules and handler against the sandbox, with local storage in a temporary directory."""

    def __init__(self, sandbox, tmp_path, **env):
        self.sandbox = sandbox
        self.storage = tmp_path / "storage"
        public = sandbox.files.serve_directory(self.storage)
        self.env = {"SERVICE_CONTENT_SERVICE_BASEPATH": sandbox.url, "SERVICE_SEARCH_BASEPATH": sandbox.url,
                    "CLOUD_STORAGE_TYPE": "local", "CLOUD_STORAGE_CONTAINER": str(self.storage),
                    "CLOUD_STORAGE_PUBLIC_BASE_URL": public, "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "true",
                    "CONTENT_AUTO_CREATOR_TEMP_FILE_LOCATION": str(tmp_path / "tmp"),
                    "CONTENT_AUTO_CREATOR_GDRIVE_API_BASE_URL": sandbox.url,
                    "RETRY_INITIAL_BACKOFF_S": "0.01", "RETRY_MAX_ATTEMPTS": "2",
                    "CONTENT_AUTO_CREATOR_API_CALL_DELAY": "0.01", **env}
        self.tmp = tmp_path / "tmp"

    def run(self, *events: dict) -> list:
        return run_flow(DEFAULTS, make_job, self.env, [("in", json.dumps(e).encode()) for e in events])

    def calls(self) -> list[str]:
        """The content and search calls, as ``METHOD /path`` without ids and queries."""
        names = []
        for request in self.sandbox.journal.all():
            path = request.path.split("?")[0]
            if path.startswith(("/content/", "/v3/search")):
                names.append(f"{request.method} {re.sub(r'/(do_|unit|coll)[^/]*$', '', path)}")
        return names


@pytest.fixture
def creator(sandbox, tmp_path):
    return Creator(sandbox, tmp_path)


def repository_event(creator: Creator, stage: str = "publish", mime: str = "video/mp4", data: bytes = MP4,
                     name: str = "lesson.mp4", identifier: str = "do_2134462034258575361402") -> dict:
    """Example A with its artifact and icon on the sandbox's file server, and a collection it can join."""
    event = copy.deepcopy(EXAMPLES[0])
    event["object"]["id"] = identifier
    metadata = event["edata"]["metadata"]
    metadata["artifactUrl"] = creator.sandbox.files.add(name, data, mime)
    metadata["appIcon"] = creator.sandbox.files.add("icon.png", PNG, "image/png")
    metadata["mimeType"] = mime
    event["edata"]["stage"] = stage
    collection, unit = event["edata"]["collection"][0]["identifier"], event["edata"]["collection"][0]["unitId"]
    creator.sandbox.content.add_collection(collection, [unit])
    return event


FULL_CALLS = ["POST /v3/search", "POST /content/v4/create", "GET /content/v4/read", "PATCH /content/v4/update",
              "POST /content/v4/upload", "GET /content/v4/read", "POST /content/v4/review", "GET /content/v4/read",
              "POST /content/v4/publish", "GET /content/v3/hierarchy", "PATCH /content/v3/hierarchy/add",
              "GET /content/v3/hierarchy"]


def test_example_a_goes_from_create_to_publish_and_is_linked(creator):
    event = repository_event(creator)
    outcomes = creator.run(event)
    assert [o.kind for o in outcomes] == [SUCCESS], outcomes[0].detail
    assert creator.calls() == FULL_CALLS
    content = creator.sandbox.content.contents[event["object"]["id"]]
    assert content["status"] in ("Processing", "Live")
    assert content["origin"] == event["object"]["id"]
    assert content["originData"] == {"identifier": event["object"]["id"], "repository": event["edata"]["repository"]}
    assert content["artifactUrl"].endswith(f"/storage/content/{event['object']['id']}/artifact/lesson.mp4")
    assert content["appIcon"].endswith(f"/storage/content/{event['object']['id']}/artifact/icon.png")
    assert (creator.storage / "content" / event["object"]["id"] / "artifact" / "lesson.mp4").read_bytes() == MP4
    assert content["lastPublishedBy"] == event["edata"]["metadata"]["lastPublishedBy"]
    assert "contentType" not in content and "posterImage" not in content
    collection = creator.sandbox.content.collections[event["edata"]["collection"][0]["identifier"]]
    assert collection[event["edata"]["collection"][0]["unitId"]] == [event["object"]["id"]]
    assert list(creator.tmp.rglob("*")) == []  # temporary files and folders removed


def test_an_event_writes_no_info_line_besides_its_outcome(creator, caplog):
    """CONTRACT.md: one INFO line per event outcome; the handler's plan (target stage, calls) is at DEBUG."""
    caplog.set_level(logging.INFO)
    assert [o.kind for o in creator.run(repository_event(creator))] == [SUCCESS]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("flows.content_auto_creator")] == []
    caplog.set_level(logging.DEBUG)
    assert [o.kind for o in creator.run(repository_event(creator, identifier="do_2"))] == [SUCCESS]
    planned = [r for r in caplog.records if r.getMessage() == "processing content"]
    assert [(r.levelno, r.entity, r.target) for r in planned] == [(logging.DEBUG, "do_2", "create")]


def test_the_http_contracts(creator):
    event = repository_event(creator)
    creator.run(event)
    journal = {f"{r.method} {r.path.split('?')[0].rsplit('/', 1)[0]}": r for r in creator.sandbox.journal.all()}
    channel = event["context"]["channel"]
    search = creator.sandbox.journal.matching("POST", "/v3/search")[0]
    assert search.body == {"request": {"filters": {"objectType": "Content", "status": [], "origin": event["object"]["id"]},
                                       "exists": ["originData"],
                                       "fields": ["identifier", "mimeType", "pkgVersion", "channel", "status",
                                                  "origin", "originData", "artifactUrl"]}}
    assert "X-Channel-Id" not in search.headers
    create = creator.sandbox.journal.matching("POST", "/content/v4/create")[0]
    assert create.headers["X-Channel-Id"] == channel
    assert set(create.body["request"]["content"]) == {"name", "code", "mimeType", "framework", "processId",
                                                      "primaryCategory", "identifier", "origin", "originData"}
    upload = journal["POST /content/v4/upload"]
    assert upload.path.endswith("?validation=false")
    assert upload.headers["Content-Type"].startswith("multipart/form-data")
    assert upload.headers["X-Channel-Id"] == channel
    update = journal["PATCH /content/v4/update"].body["request"]["content"]
    assert update["versionKey"] and update["appIcon"].endswith("icon.png") and "name" not in update
    assert journal["POST /content/v4/review"].body == {"request": {"content": {}}}
    assert journal["POST /content/v4/publish"].body == {
        "request": {"content": {"lastPublishedBy": event["edata"]["metadata"]["lastPublishedBy"]}}}
    assert journal["GET /content/v4/read"].path.endswith("?mode=edit")
    hierarchy_add = creator.sandbox.journal.matching("PATCH", "/content/v3/hierarchy/add")[0]
    assert hierarchy_add.body == {"request": {"rootId": event["edata"]["collection"][0]["identifier"],
                                              "unitId": event["edata"]["collection"][0]["unitId"],
                                              "children": [event["object"]["id"]]}}
    assert "X-Channel-Id" not in hierarchy_add.headers


def prepare(creator, state: str, event: dict) -> None:
    """Put the target repository in the state that gives ``state``."""
    origin = {"identifier": event["object"]["id"], "repository": event["edata"]["repository"]}
    copy_fields = {"origin": event["object"]["id"], "originData": origin, "channel": event["context"]["channel"]}
    if state == "update":
        creator.sandbox.content.add_content("do_copy", **copy_fields)
    elif state == "review":
        creator.sandbox.content.add_content("do_copy", artifactUrl=creator.sandbox.files.add("old.mp4", MP4),
                                            **copy_fields)
    elif state == "na":
        creator.sandbox.content.add_content("do_copy", status="Live", pkgVersion=5, **copy_fields)


EXPECTED_CALLS = {
    "create": ["POST /content/v4/create", "PATCH /content/v4/update", "POST /content/v4/upload",
               "POST /content/v4/review", "POST /content/v4/publish"],
    "update": ["PATCH /content/v4/update", "POST /content/v4/upload", "POST /content/v4/review",
               "POST /content/v4/publish"],
    "review": ["POST /content/v4/review", "POST /content/v4/publish"],
    "na": [],
}
LAST = {"": None, "publish": None, "review": "POST /content/v4/review", "upload": "POST /content/v4/upload",
        "create": "PATCH /content/v4/update"}


@pytest.mark.parametrize("state", ["create", "update", "review", "na"])
@pytest.mark.parametrize("stage", ["", "publish", "review", "upload", "create"])
def test_every_cell_of_the_stage_matrix_against_the_services(creator, state, stage):
    event = repository_event(creator, stage=stage)
    prepare(creator, state, event)
    outcomes = creator.run(event)
    assert outcomes[0].kind == SUCCESS, outcomes[0].detail
    writes = [c for c in creator.calls() if not c.startswith(("GET ", "POST /v3/search")) and "hierarchy" not in c]
    expected = EXPECTED_CALLS[state]
    if state != "na" and LAST[stage] is not None:  # stop at the requested stage; ⚠ cells: review only
        expected = expected[:expected.index(LAST[stage]) + 1] if LAST[stage] in expected else ["POST /content/v4/review"]
    assert writes == expected
    linked = bool(creator.sandbox.journal.matching("PATCH", "/content/v3/hierarchy/add"))
    assert linked == (not (stage == "create" and state in ("create", "update")))


def test_an_existing_content_in_this_repository_is_only_linked(creator):
    event = repository_event(creator)
    event["edata"]["originData"] = {"identifier": "do_here", "repository": "https://consumption/api/read/do_here"}
    creator.sandbox.content.add_content(event["object"]["id"], status="Live")
    outcomes = creator.run(event)
    assert outcomes[0].kind == SUCCESS
    assert creator.calls() == ["GET /content/v4/read", "GET /content/v3/hierarchy", "PATCH /content/v3/hierarchy/add",
                               "GET /content/v3/hierarchy"]
    unit = event["edata"]["collection"][0]
    assert creator.sandbox.content.collections[unit["identifier"]][unit["unitId"]] == ["do_here"]


def existing_contents_for_one_unit(creator: Creator, count: int) -> list[dict]:
    """Events for contents that exist already (so the job only links them), all into the same unit."""
    events = []
    for n in range(count):
        event = repository_event(creator, identifier=f"do_bulk_{n:03d}")
        event["edata"]["originData"] = {"identifier": f"do_bulk_{n:03d}", "repository": "https://consumption/api"}
        creator.sandbox.content.add_content(event["object"]["id"], status="Live")
        events.append(event)
    return events


def test_contents_linked_into_one_unit_at_once_are_all_there(sandbox, tmp_path):
    """The service adds by read-modify-write (here 20 ms apart): concurrent adds into one collection lost
    links. One collection's adds now run one after the other, while the events run concurrently."""
    creator = Creator(sandbox, tmp_path, HTTP_MAX_IN_FLIGHT="16")
    sandbox.content.add_delay_s = 0.02
    events = existing_contents_for_one_unit(creator, 40)
    outcomes = creator.run(*events)
    assert [o.kind for o in outcomes] == [SUCCESS] * 40
    unit = events[0]["edata"]["collection"][0]
    assert sorted(sandbox.content.collections[unit["identifier"]][unit["unitId"]]) == \
        sorted(e["object"]["id"] for e in events)


def test_a_failed_link_fails_the_event_and_leaves_the_published_content_as_it_is(creator):
    event = existing_contents_for_one_unit(creator, 1)[0]
    creator.sandbox.faults.script("PATCH", "/content/v3/hierarchy/add", [400])
    outcome = creator.run(event)[0]
    assert (outcome.kind, outcome.stage, outcome.status) == (FAILED, "link", 400)
    assert "Hierarchy Update Failed For" in outcome.detail
    assert not creator.sandbox.journal.matching("PATCH", "/content/v4/system/update/")


def test_object_already_exists_on_create_is_success(creator):
    event = repository_event(creator, stage="create")
    creator.sandbox.content.add_content(event["object"]["id"])  # e.g. a bulk upload redelivered
    outcomes = creator.run(event)
    assert outcomes[0].kind == SUCCESS
    assert creator.sandbox.journal.matching("POST", "/content/v4/create")[0].status == 400


def test_bulk_upload_keeps_its_identifier_without_origin(creator):
    event = repository_event(creator, identifier="do_bulk")
    del event["edata"]["repository"]
    event["edata"]["identifier"] = "do_bulk"
    creator.run(event)
    create = creator.sandbox.journal.matching("POST", "/content/v4/create")[0].body["request"]["content"]
    assert create["identifier"] == "do_bulk" and "origin" not in create and "originData" not in create


def test_allow_list_matches_hosts_and_prefixes_not_substrings(sandbox, tmp_path):
    allowed = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_ARTIFACT_UPLOAD_ALLOWED_SOURCE="127.0.0.1")
    assert allowed.run(repository_event(allowed))[0].kind == SUCCESS
    sandbox.journal.clear()
    refused = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_ARTIFACT_UPLOAD_ALLOWED_SOURCE="drive.google.com,x.org")
    event = repository_event(refused, identifier="do_other")
    event["edata"]["metadata"]["artifactUrl"] += "?drive.google.com"
    outcome = refused.run(event)[0]
    assert outcome.kind == FAILED and "not from allowed one" in outcome.detail
    assert not sandbox.journal.matching("POST", "/content/v4/upload/do_other?validation=false")
    prefixed = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_ARTIFACT_UPLOAD_ALLOWED_SOURCE=f'["{sandbox.url}/files/"]')
    assert prefixed.run(repository_event(prefixed, identifier="do_third"))[0].kind == SUCCESS


def test_size_limit_while_streaming_and_the_mp4_exemption(sandbox, tmp_path):
    small = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_ARTIFACT_UPLOAD_MAX_SIZE="1000")
    pdf = repository_event(small, mime="application/pdf", data=b"%PDF" + b"p" * 5000, name="big.pdf",
                           identifier="do_pdf")
    outcome = small.run(pdf)[0]
    assert outcome.kind == FAILED and "larger than allowed" in outcome.detail
    assert sandbox.content.contents["do_pdf"]["status"] == "Failed"  # marked, with the reason
    assert "larger than allowed" in sandbox.content.contents["do_pdf"]["importError"]
    assert not list((tmp_path / "storage").rglob("big.pdf"))
    mp4 = repository_event(small, identifier="do_mp4")  # 2 KB of video/mp4 with a 1000-byte cap
    assert small.run(mp4)[0].kind == SUCCESS


def test_h5p_zip_is_uploaded_as_composed(creator):
    event = repository_event(creator, mime="application/vnd.ekstep.h5p-archive", data=b"PK" + b"z" * 100,
                             name="game.zip")
    assert creator.run(event)[0].kind == SUCCESS
    upload = [r for r in creator.sandbox.journal.all() if "/content/v4/upload/" in r.path][0]
    assert upload.path.endswith("?validation=false&fileFormat=composed-h5p-zip")
    h5p = repository_event(creator, mime="application/vnd.ekstep.h5p-archive", data=b"PK" + b"z" * 100,
                           name="game.h5p", identifier="do_h5p")
    assert creator.run(h5p)[0].kind == SUCCESS
    upload = [r for r in creator.sandbox.journal.all() if "/content/v4/upload/do_h5p" in r.path][0]
    assert upload.path.endswith("?validation=false")


def test_a_failure_in_the_middle_marks_the_content_failed(creator):
    event = repository_event(creator)
    creator.sandbox.faults.script("POST", "/content/v4/review/", [400])
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and outcome.status == 400
    assert "sending content for review" in outcome.detail
    marking = creator.sandbox.journal.matching("PATCH", f"/content/v4/system/update/{event['object']['id']}")[0]
    assert marking.body["request"]["content"]["status"] == "Failed"
    assert "sending content for review" in marking.body["request"]["content"]["importError"]
    assert not creator.sandbox.journal.matching("POST", f"/content/v4/publish/{event['object']['id']}")


def test_a_search_failure_fails_without_marking(creator):
    creator.sandbox.faults.script("POST", "/v3/search", [502, 502, 502], html=True)
    outcome = creator.run(repository_event(creator))[0]
    assert outcome.kind == FAILED and "HTTP 502" in outcome.detail
    assert not creator.sandbox.journal.matching("PATCH")


def test_a_missing_artifact_and_a_refused_address(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path)
    event = repository_event(creator)
    event["edata"]["metadata"]["artifactUrl"] = f"{sandbox.url}/files/missing.mp4"
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "HTTP 404" in outcome.detail
    strict = Creator(sandbox, tmp_path, DOWNLOAD_ALLOW_PRIVATE_NETWORKS="false")
    outcome = strict.run(repository_event(strict, identifier="do_strict"))[0]
    assert outcome.kind == FAILED and "private, loopback or link-local" in outcome.detail


def test_redirects_are_followed(creator):
    event = repository_event(creator)
    metadata = event["edata"]["metadata"]
    metadata["artifactUrl"] = creator.sandbox.files.redirect(metadata["artifactUrl"], hops=2)
    assert creator.run(event)[0].kind == SUCCESS


def test_validation_skips_without_calls(creator):
    event = repository_event(creator)
    event["edata"]["iteration"] = 2
    outcomes = creator.run(event)
    assert outcomes[0].kind == SKIPPED and creator.calls() == []


def test_the_icon_is_held_to_the_allow_list_too(sandbox, tmp_path):
    only_the_artifact = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_ARTIFACT_UPLOAD_ALLOWED_SOURCE=(
        f'["{sandbox.url}/files/lesson.mp4"]'))
    event = repository_event(only_the_artifact, identifier="do_icon")
    outcome = only_the_artifact.run(event)[0]
    assert outcome.kind == FAILED and "not from allowed one" in outcome.detail and "icon.png" in outcome.detail
    assert not sandbox.journal.matching("GET", "/files/icon.png")


def test_bulk_upload_types_have_their_own_cap(sandbox, tmp_path):
    capped = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_ARTIFACT_UPLOAD_MAX_SIZE="1000",
                     CONTENT_AUTO_CREATOR_BULK_UPLOAD_MAX_SIZE="1500")
    outcome = capped.run(repository_event(capped, identifier="do_mp4"))[0]  # 2 KB of video/mp4
    assert outcome.kind == FAILED and "larger than allowed" in outcome.detail
    assert not list((tmp_path / "storage").rglob("lesson.mp4"))


def test_a_dripping_artifact_host_fails_the_event_at_the_configured_rate(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, DOWNLOAD_MIN_RATE_BYTES_S="1000", DOWNLOAD_MIN_RATE_GRACE_S="0.3")
    event = repository_event(creator, identifier="do_drip")
    event["edata"]["metadata"]["artifactUrl"] = sandbox.files.drip("lesson.mp4", MP4, every_s=0.05)
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "too slow" in outcome.detail and "download.min_rate_bytes_s" in outcome.detail


@pytest.mark.parametrize("identifier", ["..!", "../../x", "/abs", "a\\b", "DO_1", "é ~%2F"])
def test_an_identifier_is_one_folder_inside_the_container(creator, tmp_path, identifier):
    event = repository_event(creator, identifier=identifier)
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail
    content = creator.sandbox.content.contents[identifier]
    folder = f"{creator.env['CLOUD_STORAGE_PUBLIC_BASE_URL']}/content/{key_segment(identifier)}/artifact"
    assert content["artifactUrl"] == f"{folder}/lesson.mp4" and content["appIcon"] == f"{folder}/icon.png"
    with urllib.request.urlopen(content["artifactUrl"], timeout=10) as answer:
        assert answer.read() == MP4
    assert [p for p in tmp_path.rglob("*") if p.is_file() and creator.storage not in p.parents] == []


def test_files_that_fit_in_memory_are_stored_without_touching_the_temporary_location(creator):
    """The artifact and the icon were each downloaded into a folder of their own, then copied into the storage;
    one that fits in memory (``rehost.IN_MEMORY_BYTES``) now goes straight from memory to the storage: the
    temporary location is not changed (its time of change stays put)."""
    event = repository_event(creator)
    creator.tmp.mkdir()
    os.utime(creator.tmp, ns=(0, 0))
    assert [o.kind for o in creator.run(event)] == [SUCCESS]
    assert (creator.storage / "content" / event["object"]["id"] / "artifact" / "lesson.mp4").read_bytes() == MP4
    assert creator.tmp.stat().st_mtime_ns == 0 and list(creator.tmp.iterdir()) == []


def test_a_file_larger_than_memory_holds_goes_through_a_temporary_file_that_is_removed(creator):
    large = MP4 + os.urandom(IN_MEMORY_BYTES)
    event = repository_event(creator, data=large)
    assert [o.kind for o in creator.run(event)] == [SUCCESS]
    assert (creator.storage / "content" / event["object"]["id"] / "artifact" / "lesson.mp4").read_bytes() == large
    assert creator.tmp.stat().st_mtime_ns > 0 and list(creator.tmp.iterdir()) == []


def test_ids_that_differ_only_in_case_have_their_own_folders(creator):
    for identifier, data in (("DO_1", MP4), ("do_1", MP4 + b"lower")):
        assert creator.run(repository_event(creator, data=data, identifier=identifier))[0].kind == SUCCESS
    assert (creator.storage / "content" / "DO_1" / "artifact" / "lesson.mp4").read_bytes() == MP4
    assert (creator.storage / "content" / "do_1" / "artifact" / "lesson.mp4").read_bytes() == MP4 + b"lower"


@pytest.mark.parametrize("channel", ["in.ekstep\r\n X-Injected: 1", "in.ekstep\nX-Injected: 1", "a\x00b"])
def test_a_channel_that_would_fold_into_another_header_fails_the_event_before_any_call(creator, channel):
    event = repository_event(creator)
    event["context"]["channel"] = channel
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "X-Channel-Id holds a control character" in outcome.detail
    assert not any("X-Injected" in str(request.headers) for request in creator.sandbox.journal.all())


@pytest.mark.parametrize("host, problem", [("gone.test", "cannot resolve gone.test"),
                                           ("127.0.0.1:1", "no answer from 127.0.0.1")])
def test_an_artifact_host_that_does_not_resolve_or_answer_is_retried_then_fails_in_one_line(
        creator, monkeypatch, caplog, host, problem):
    network = FakeNetwork(monkeypatch)
    event = repository_event(creator)
    event["edata"]["metadata"]["artifactUrl"] = f"http://{host}/lesson.mp4"
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and problem in outcome.detail and "after 2 attempts" in outcome.detail
    assert network.lookups.count("gone.test") == (2 if host == "gone.test" else 0)  # RETRY_MAX_ATTEMPTS
    assert "handler error" not in caplog.text and "Traceback" not in caplog.text
    marking = creator.sandbox.journal.matching("PATCH", f"/content/v4/system/update/{event['object']['id']}")[0]
    assert problem in marking.body["request"]["content"]["importError"]


def test_review_waits_until_the_read_shows_the_url_the_upload_answered(creator):
    """The update already set ``artifactUrl`` to the source's URL: the wait must be for the upload's own
    URL, else review comes while the service still processes the upload (and is refused)."""
    creator.sandbox.content.upload_s = 0.3
    event = repository_event(creator)
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail
    assert creator.sandbox.journal.matching("POST", f"/content/v4/review/{event['object']['id']}")[0].status == 200


def test_an_h5p_package_gets_six_times_the_call_delay_before_review(sandbox, tmp_path):
    """The service unpacks an H5P package in the background; the original waited 6 × api_call_delay."""
    creator = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_API_CALL_DELAY="0.05")
    sandbox.content.h5p_unpack_s = 0.25  # less than 6 × 0.05 s, more than 0.05 s
    h5p = repository_event(creator, mime="application/vnd.ekstep.h5p-archive", data=b"PK\x03\x04h5p", name="game.zip")
    outcome = creator.run(h5p)[0]
    assert outcome.kind == SUCCESS, outcome.detail


def test_an_html_page_where_the_artifact_should_be_fails_and_nothing_is_uploaded(creator):
    event = repository_event(creator, data=b"<!DOCTYPE html><html>Sign in to continue</html>")
    creator.sandbox.files.add("lesson.mp4", b"<!DOCTYPE html><html>Sign in</html>", "text/html; charset=utf-8")
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "answered an HTML page (Content-Type text/html)" in outcome.detail
    assert not creator.sandbox.journal.matching("POST", "/content/v4/upload/")


def test_a_drive_view_link_is_downloaded_through_the_drive_path(creator, monkeypatch):
    FakeNetwork(monkeypatch, {"drive.test": ["127.0.0.1"]})
    event = repository_event(creator, mime="application/pdf")
    creator.sandbox.files.add_drive("f20", "About Water.pdf", b"%PDF-1.7 water", "application/pdf")
    event["edata"]["metadata"]["artifactUrl"] = f"http://drive.test:{creator.sandbox.port}/file/d/f20/view?usp=sharing"
    creator.env["CONTENT_AUTO_CREATOR_GDRIVE_HOSTS"] = "drive.test"
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail
    stored = creator.storage / "content" / event["object"]["id"] / "artifact" / "about-water.pdf"
    assert stored.read_bytes() == b"%PDF-1.7 water"


def test_an_upload_the_service_never_shows_fails_in_one_clear_line(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, CONTENT_AUTO_CREATOR_READY_TIMEOUT_S="0.3")
    sandbox.content.upload_s = 30
    event = repository_event(creator)
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "does not show the upload of" in outcome.detail
    assert "content_auto_creator.ready_timeout_s" in outcome.detail
    assert not sandbox.journal.matching("POST", f"/content/v4/review/{event['object']['id']}")


def test_without_an_answered_url_the_upload_shows_as_an_artifact_other_than_the_source():
    from flows.content_auto_creator.handler import _shows

    assert _shows("https://store/a.mp4", "https://src/a.mp4")({"artifactUrl": "https://store/a.mp4"})
    assert not _shows("https://store/a.mp4", "https://src/a.mp4")({"artifactUrl": "https://src/a.mp4"})
    assert not _shows("", "https://src/a.mp4")({"artifactUrl": "https://src/a.mp4"})
    assert _shows("", "https://src/a.mp4")({"artifactUrl": "https://store/a.mp4"})
    assert not _shows("", "https://src/a.mp4")({})


def test_an_empty_auth_type_is_the_default(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, CLOUD_STORAGE_AUTH_TYPE="")
    assert creator.run(repository_event(creator))[0].kind == SUCCESS


def test_an_artifact_larger_than_the_disk_budget_fails_the_event_and_leaves_nothing_on_disk(sandbox, tmp_path):
    """The budget bounds what all the events in flight keep on disk at once; one file past it cannot fit."""
    creator = Creator(sandbox, tmp_path, DOWNLOAD_DISK_BUDGET_BYTES=str(2**20))
    event = repository_event(creator, identifier="do_huge", data=MP4 + b"v" * 2**21)  # 2 MiB of video/mp4
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "download.disk_budget_bytes" in outcome.detail
    assert not list((tmp_path / "storage").rglob("lesson.mp4"))
    assert creator.run(repository_event(creator, identifier="do_small"))[0].kind != FAILED


def test_a_disk_budget_smaller_than_a_spool_in_memory_is_a_configuration_error(sandbox, tmp_path):
    small = Creator(sandbox, tmp_path, DOWNLOAD_DISK_BUDGET_BYTES="1000")
    with pytest.raises(ConfigError, match="download.disk_budget_bytes"):
        small.run(repository_event(small))


def test_a_drive_file_is_capped_at_the_disk_budget(creator, monkeypatch):
    """A Drive download goes to disk whole: the most it may hold is reserved first, and is at most the budget."""
    FakeNetwork(monkeypatch, {"drive.test": ["127.0.0.1"]})
    creator.env |= {"CONTENT_AUTO_CREATOR_GDRIVE_HOSTS": "drive.test", "DOWNLOAD_DISK_BUDGET_BYTES": str(2**20)}
    for file_id, size in (("big", 2**21), ("fits", 1000)):
        event = repository_event(creator, mime="application/pdf", identifier=f"do_{file_id}")
        creator.sandbox.files.add_drive(file_id, f"{file_id}.pdf", b"%PDF-1.7 " + b"w" * size, "application/pdf")
        event["edata"]["metadata"]["artifactUrl"] = f"http://drive.test:{creator.sandbox.port}/file/d/{file_id}/view"
        outcome = creator.run(event)[0]
        assert (outcome.kind == FAILED and "download.disk_budget_bytes" in outcome.detail) if file_id == "big" \
            else outcome.kind == SUCCESS, outcome.detail
