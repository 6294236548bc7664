"""auto-creator-v2's handler through the shared flow, against the sandbox's source and target services."""

from __future__ import annotations

import gzip
import io
import json
import os
import urllib.request
import zipfile

import pytest

from connectors.http import path_segment
from connectors.storage import key_segment
from flows.auto_creator_v2 import DEFAULTS, make_job
from flows.runtime.outcome import FAILED, SKIPPED, SUCCESS
from flows.runtime.settings import Reader, load_config
from sandbox.questionsets import EXAMPLES, question_set
from tests.conftest import run_flow


class Creator:
    def __init__(self, sandbox, tmp_path, **env):
        self.sandbox = sandbox
        self.storage = tmp_path / "storage"
        self.tmp = tmp_path / "tmp"
        self.env = {"SERVICE_ASSESSMENT_BASEPATH": sandbox.url, "SERVICE_CONTENT_BASEPATH": sandbox.url,
                    "SOURCE_BASEURL": f"{sandbox.url}/api", "CLOUD_STORAGE_TYPE": "local",
                    "CLOUD_STORAGE_CONTAINER": str(self.storage),
                    "CLOUD_STORAGE_PUBLIC_BASE_URL": sandbox.files.serve_directory(self.storage),
                    "DOWNLOAD_ALLOW_PRIVATE_NETWORKS": "true", "TEMP_FILE_LOCATION": str(self.tmp),
                    "LINK_WAIT_S": "5", "RETRY_INITIAL_BACKOFF_S": "0.01", "RETRY_MAX_ATTEMPTS": "2", **env}

    def run(self, *events: dict) -> list:
        return run_flow(DEFAULTS, make_job, self.env, [("in", json.dumps(e).encode()) for e in events])

    def writes(self, method: str, fragment: str) -> list:
        return [r for r in self.sandbox.journal.all() if r.method == method and fragment in r.path]


@pytest.fixture
def creator(sandbox, tmp_path):
    return Creator(sandbox, tmp_path)


def test_a_question_set_with_sections_and_rejected_questions(creator):
    event, questions = question_set(creator.sandbox)
    outcomes = creator.run(event)
    assert [o.kind for o in outcomes] == [SUCCESS], outcomes[0].detail
    target = creator.sandbox.questions.objects
    created = {r.body["request"]["question"]["identifier"]: r for r in creator.writes("POST", "/create")
               if "question" in r.body["request"]}
    assert sorted(created) == ["do_q1", "do_q2", "do_q3", "do_q4"]  # not the rejected q5, nor the hidden set's
    q1 = created["do_q1"].body["request"]["question"]
    assert created["do_q1"].path == "/question/v4/create" and created["do_q3"].path == "/question/v5/create"
    for key in ("body", "answer", "editorState", "responseDeclaration", "interactions", "name", "code"):
        assert q1[key] == questions["do_q1"][key]
    for dropped in ("status", "variants", "downloadUrl", "previewUrl", "pkgVersion", "versionKey", "objectType"):
        assert dropped not in q1
    assert q1["origin"] == "do_q1"
    assert q1["originData"] == {"identifier": "do_q1", "repository": f"{creator.sandbox.url}/api/question/v1/read/do_q1"}
    reads = [r.path for r in creator.sandbox.journal.all() if "/api/question/" in r.path]
    assert any(p.startswith("/api/question/v2/read/do_q3?fields=") for p in reads)
    assert all("body" in p and "responseDeclaration" in p for p in reads)
    root = creator.writes("POST", "/questionset/v4/create")[0].body["request"]["questionset"]
    assert root["identifier"] == event["edata"]["metadata"]["identifier"]
    assert root["processId"] == event["edata"]["metadata"]["processId"]
    assert root["appIcon"].endswith(f"/storage/questionset/{root['identifier']}/set-icon.png")
    assert "children" not in root and "variants" not in root and "status" not in root
    assert target["do_q2"]["appIcon"].endswith("/storage/question/do_q2/q2-icon.png")
    written = creator.sandbox.questions.hierarchies[root["identifier"]]["hierarchy"]
    assert written[root["identifier"]]["children"] == ["do_s1", "do_q3"]
    assert written["do_s1"]["children"] == ["do_q1", "do_q2", "do_s2"] and written["do_s2"]["children"] == ["do_q4"]
    assert target[root["identifier"]]["status"] == "Live"
    unit = event["edata"]["collection"][0]
    assert creator.sandbox.content.collections[unit["identifier"]][unit["unitId"]] == [root["identifier"]]
    assert list(creator.tmp.rglob("*.*")) == []


def test_the_root_is_written_after_its_questions_and_linked_after_it_is_live(creator):
    event, _ = question_set(creator.sandbox)
    creator.run(event)
    calls = [f"{r.method} {r.path.split('?')[0]}" for r in creator.sandbox.journal.all()]
    root_create = calls.index("POST /questionset/v4/create")
    assert all(i < root_create for i, c in enumerate(calls) if c == "POST /question/v4/create")
    after = calls[root_create:]
    assert after[:3] == ["POST /questionset/v4/create", "PATCH /questionset/v4/hierarchy/update",
                         f"POST /questionset/v4/review/{event['edata']['metadata']['identifier']}"]
    link = calls.index("PATCH /content/v3/hierarchy/add")
    reads = [i for i, c in enumerate(calls) if c.startswith("GET /questionset/v4/read/")]
    assert reads and max(reads) < link


def test_no_accepted_contributions_means_all(creator):
    event, _ = question_set(creator.sandbox, accepted=[])
    assert creator.run(event)[0].kind == SUCCESS
    created = [r.body["request"]["question"]["identifier"] for r in creator.writes("POST", "/question/")
               if r.path.endswith("/create")]
    assert sorted(created) == ["do_q1", "do_q2", "do_q3", "do_q4", "do_q5"]


def test_already_existing_objects_are_overwritten_with_system_update(creator):
    event, _ = question_set(creator.sandbox)
    assert creator.run(event)[0].kind == SUCCESS
    creator.sandbox.journal.clear()
    assert creator.run(event)[0].kind == SUCCESS  # imported again
    updates = sorted(r.path for r in creator.writes("PATCH", "/system/update/"))
    assert updates == ["/question/v4/system/update/do_q1", "/question/v4/system/update/do_q2",
                       "/question/v4/system/update/do_q4", "/question/v5/system/update/do_q3",
                       f"/questionset/v4/system/update/{event['edata']['metadata']['identifier']}"]


def test_both_variants_shapes_and_a_child_without_variants_or_download_url(creator):
    event, _ = question_set(creator.sandbox, extra_root={"variants": {"spine": "https://source.test/spine.ecar"}})
    tree = creator.sandbox.source.sets[event["edata"]["metadata"]["identifier"]]
    for child in tree["children"]:
        child.pop("variants", None)
        child.pop("downloadUrl", None)
    assert creator.run(event)[0].kind == SUCCESS


def test_a_source_read_failing_halfway_fails_the_event_after_the_others_are_written(creator):
    event, _ = question_set(creator.sandbox)
    creator.sandbox.faults.script("GET", "/api/question/v1/read/do_q2", [404])
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "1 of 4 questions failed" in outcome.detail and outcome.status == 404
    created = sorted(r.body["request"]["question"]["identifier"] for r in creator.writes("POST", "/question/"))
    assert created == ["do_q1", "do_q3", "do_q4"]
    assert not creator.writes("POST", "/questionset/v4/create")  # the root waits for all its questions


@pytest.mark.parametrize("entries", [
    {"manifest.json": "{}", "../../etc/evil": "x"},
    {"manifest.json": "{}", "bomb": b"\0" * 300_000},
])
def test_a_hostile_ecar_fails_the_event_and_leaves_nothing(creator, entries):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    event, _ = question_set(creator.sandbox)
    event["edata"]["metadata"]["downloadUrl"] = creator.sandbox.files.add("evil.ecar", data.getvalue())
    creator.env["ECAR_MAX_UNPACKED_BYTES"] = "100000"
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "ECAR" in outcome.detail
    assert list(creator.tmp.rglob("*.*")) == [] and not creator.sandbox.questions.objects


def test_small_ecars_are_read_in_memory_without_a_folder_each(creator):
    """Each of a set's ECARs was downloaded into a folder of its own and unzipped from the disk; one that fits
    in memory no longer touches it: the temporary location is not changed (its time of change stays put)."""
    event, _ = question_set(creator.sandbox)
    source = creator.sandbox.source
    for document in [source.sets[event["object"]["id"]], *source.questions.values()]:
        document.pop("appIcon", None)  # an image is stored too: none here
    creator.tmp.mkdir()
    os.utime(creator.tmp, ns=(0, 0))
    assert [o.kind for o in creator.run(event)] == [SUCCESS]
    assert creator.tmp.stat().st_mtime_ns == 0 and list(creator.tmp.iterdir()) == []


def test_the_json_documents_of_the_ecar_are_capped(creator):
    event, _ = question_set(creator.sandbox)
    creator.env["ECAR_MAX_JSON_BYTES"] = "100"
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and outcome.detail == "manifest.json in the ECAR has more than 100 bytes"
    assert not creator.sandbox.questions.objects


def test_a_set_not_live_in_time_is_not_linked(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, LINK_WAIT_S="0.3")
    sandbox.questions.publish_s = 5
    event, _ = question_set(sandbox)
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "not Live" in outcome.detail
    assert not creator.writes("PATCH", "/content/v3/hierarchy/add")


def test_a_single_question_event(creator):
    event, questions = question_set(creator.sandbox)
    tree = creator.sandbox.source.sets.pop(event["edata"]["metadata"]["identifier"])
    tree.update(identifier="do_single", objectType="Question", children=[])
    creator.sandbox.source.sets["do_single"] = tree
    creator.sandbox.source.questions["do_single"] = {**questions["do_q1"], "identifier": "do_single"}
    event["edata"].update(objectType="Question", repository=f"{creator.sandbox.url}/api/question/v1/read/do_single")
    event["edata"]["metadata"].update(identifier="do_single",
                                      downloadUrl=f"{creator.sandbox.url}/ecar/do_single.ecar")
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail
    assert creator.sandbox.questions.objects["do_single"]["status"] == "Live"
    assert not creator.writes("PATCH", "/hierarchy/update")


def test_invalid_events_are_skipped_without_calls(creator):
    outcomes = creator.run(EXAMPLES[2])
    assert outcomes[0].kind == SKIPPED and creator.sandbox.journal.count() == 0


def test_images_are_copied_within_a_cap_even_compressed(sandbox, tmp_path):
    """A 20 KB gzip answer inflating to 20 MB: the copy stops at image.max_bytes."""
    creator = Creator(sandbox, tmp_path, IMAGE_MAX_BYTES="100000")
    bomb = sandbox.files.add("bomb.png", gzip.compress(b"\0" * 20_000_000), "image/png",
                             headers={"Content-Encoding": "gzip"})
    event, _ = question_set(sandbox, extra_root={"appIcon": bomb})
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "larger than allowed" in outcome.detail
    assert not list(creator.storage.rglob("bomb.png")) and list(creator.tmp.rglob("*.*")) == []


def test_a_dripping_ecar_host_fails_the_event_at_the_configured_deadline(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, DOWNLOAD_DEADLINE_S="1")
    event, _ = question_set(sandbox)
    event["edata"]["metadata"]["downloadUrl"] = sandbox.files.drip("set.ecar", b"PK" * 1000, every_s=0.05,
                                                                  headers=True)
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "download.deadline_s (1 s)" in outcome.detail
    assert not creator.sandbox.questions.objects


@pytest.mark.parametrize("identifier", ["../../x", "..", "/abs", "a\\b", "DO_1", "é ~%2F"])
def test_an_identifier_is_one_folder_inside_the_container(creator, tmp_path, identifier):
    event, _ = question_set(creator.sandbox, identifier=identifier, prefix=f"{identifier}/")  # questions too
    quoted = path_segment(identifier)  # the source's URLs, as a real one would quote the id
    event["edata"]["metadata"]["downloadUrl"] = f"{creator.sandbox.url}/ecar/{quoted}.ecar"
    event["edata"]["repository"] = f"{creator.sandbox.url}/api/questionset/v1/read/{quoted}"
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail
    icon = creator.sandbox.questions.objects[identifier]["appIcon"]
    assert icon == f"{creator.env['CLOUD_STORAGE_PUBLIC_BASE_URL']}/questionset/{key_segment(identifier)}/set-icon.png"
    with urllib.request.urlopen(icon, timeout=10) as answer:
        assert answer.read() == b"\x89PNG set"
    question_icon = creator.sandbox.questions.objects[f"{identifier}/q2"]["appIcon"]
    assert question_icon.endswith(f"/storage/question/{key_segment(identifier + '/q2')}/q2-icon.png")
    assert [p for p in tmp_path.rglob("*") if p.is_file() and creator.storage not in p.parents] == []


@pytest.mark.parametrize("items", [5, True, 1.5])
def test_manifest_items_that_are_not_a_list_are_no_manifest_item(creator, items):
    """``archive.items`` of another type raised TypeError (an unexpected error, with a traceback)."""
    event, _ = question_set(creator.sandbox)
    with urllib.request.urlopen(event["edata"]["metadata"]["downloadUrl"]) as answer:
        original = zipfile.ZipFile(io.BytesIO(answer.read()))
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in original.namelist():
            content = json.dumps({"archive": {"items": items}}) if name == "manifest.json" else original.read(name)
            archive.writestr(name, content)
    event["edata"]["metadata"]["downloadUrl"] = creator.sandbox.files.add("odd.ecar", data.getvalue())
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail


def test_a_set_listing_more_questions_than_allowed_fails_before_any_question_call(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, QUESTIONS_MAX_PER_SET="3")
    event, _ = question_set(sandbox)  # four accepted questions
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "lists 4 questions, more than questions.max_per_set (3)" in outcome.detail
    assert not creator.writes("GET", "/question/") and not creator.writes("POST", "/question/")


def test_with_nothing_to_link_a_slow_publish_is_not_waited_for(sandbox, tmp_path):
    """No collection: the event succeeds once the publish is accepted, however slow the target's publish."""
    creator = Creator(sandbox, tmp_path, LINK_WAIT_S="0.2")
    sandbox.questions.publish_s = 30
    event, _ = question_set(sandbox)
    event["edata"]["collection"] = []
    outcome = creator.run(event)[0]
    assert outcome.kind == SUCCESS, outcome.detail
    root = event["edata"]["metadata"]["identifier"]
    assert sandbox.questions.objects[root]["status"] == "Processing"
    assert not [r for r in sandbox.journal.all() if r.method == "GET" and f"/questionset/v4/read/{root}" in r.path]


def test_a_field_of_the_wrong_type_skips_the_event_naming_it(creator):
    event, _ = question_set(creator.sandbox)
    event["edata"]["metadata"]["identifier"] = 12345
    outcome = creator.run(event)[0]
    assert outcome.kind == SKIPPED and outcome.detail.startswith("edata.metadata.identifier must be a string")
    assert creator.sandbox.journal.count() == 0


RICH = {"audience": ["Student", "Teacher"], "attributions": ["State Board"], "additionalCategories": ["Lesson Plan"],
        "boardIds": ["b1"], "mediumIds": ["m1"], "gradeLevelIds": ["g1"], "subjectIds": ["s1"], "topicsIds": ["t1"],
        "targetFWIds": ["fw1"], "organisationId": "org-1", "qumlVersion": 1.1, "complexityLevel": ["apply"],
        "bloomsLevel": "apply", "se_boards": ["CBSE"], "timeLimits": {"max": 60}, "hints": {"h1": "think"},
        "solutions": {"s1": "4"}, "media": [{"id": "m", "type": "image", "src": "/m.png"}],
        "instructions": {"en": "Add"}, "feedback": {"f1": "good"}, "outcomeDeclaration": {"maxScore": 1},
        "sourcingNote": "only in the question's own ECAR manifest"}


def test_every_property_of_a_rich_question_reaches_the_target(creator):
    """A question's metadata is its ECAR manifest item merged with the source read of every schema property
    (the original asked for every schema property); only what the target's publish produces (and the tree's keys) is left out."""
    event, questions = question_set(creator.sandbox)
    questions["do_q1"].update(RICH)
    assert creator.run(event)[0].kind == SUCCESS
    target = creator.sandbox.questions.objects["do_q1"]
    publish_props = set(Reader(load_config(DEFAULTS, {})).text_list("object.publish_props"))
    for key, value in questions["do_q1"].items():
        if key not in publish_props and key not in ("objectType",):
            assert target.get(key) == value, key
    manifest_reads = [r.path for r in creator.sandbox.journal.all() if r.path.startswith("/ecar/do_q")]
    assert sorted(manifest_reads) == [f"/ecar/do_q{n}.ecar" for n in (1, 2, 3, 4)]


def test_default_questions_are_reviewed_published_and_waited_for_before_the_set(creator):
    """A ``visibility: Default`` question is an object of its own: the set's publish does not publish it."""
    event, questions = question_set(creator.sandbox)
    questions["do_q4"]["visibility"] = "Default"
    assert creator.run(event)[0].kind == SUCCESS
    root = event["edata"]["metadata"]["identifier"]
    target = creator.sandbox.questions.objects
    assert target["do_q4"]["status"] == "Live" and target["do_q1"]["status"] == "Live"
    calls = [f"{r.method} {r.path}" for r in creator.sandbox.journal.all()]
    order = [calls.index(call) for call in ("PATCH /questionset/v4/hierarchy/update", "POST /question/v4/review/do_q4",
                                            "POST /question/v4/publish/do_q4", f"POST /questionset/v4/publish/{root}")]
    assert order == sorted(order)
    assert not any(c.startswith(("POST /question/v4/publish/do_q1", "POST /question/v4/review/do_q1")) for c in calls)


@pytest.mark.parametrize("answer", [{"question": "a string"}, {"question": None}, []])
def test_a_source_read_without_the_question_object_fails_instead_of_importing_it_bodiless(creator, answer):
    from sandbox.routes import Reply

    event, _ = question_set(creator.sandbox)
    creator.sandbox.route("GET", r"/odd/question/v1/read/do_q1",
                          lambda call: Reply(200, {"responseCode": "OK", "result": answer}))
    creator.env["SOURCE_BASEURL"] = f"{creator.sandbox.url}/odd"
    outcome = creator.run(event)[0]
    assert outcome.kind == FAILED and "has no result.question object" in outcome.detail
    assert "do_q1" not in creator.sandbox.questions.objects


def test_with_nothing_to_link_default_questions_are_published_but_not_waited_for(sandbox, tmp_path):
    creator = Creator(sandbox, tmp_path, LINK_WAIT_S="0.2")
    sandbox.questions.publish_s = 30
    event, questions = question_set(sandbox)
    questions["do_q4"]["visibility"] = "Default"
    event["edata"]["collection"] = []
    assert creator.run(event)[0].kind == SUCCESS
    assert [r.path for r in sandbox.journal.all() if r.path.startswith("/question/v4/publish/")] == \
        ["/question/v4/publish/do_q4"]


@pytest.mark.parametrize("path, value, kind", [("edata.repository", 5, SKIPPED), ("edata.repository", {}, SKIPPED),
                                               ("context.channel", 42, SUCCESS)])
def test_fields_the_original_read_leniently(creator, path, value, kind):
    event, _ = question_set(creator.sandbox)
    node, *parents = event, *path.split(".")
    for step in parents[:-1]:
        node = node[step]
    node[parents[-1]] = value
    outcome = creator.run(event)[0]
    assert outcome.kind == kind, outcome.detail
