"""Re-hosting through the real storage protocols: Azurite for ``cloud_storage_type = "azure"``, moto's S3
server for ``"aws"`` (and an S3-compatible endpoint), configured with the original keys. The jobs'
handlers run through the shared flow against the sandbox's services; every stored object is read back
over HTTP from the URL the content or question service was given."""

from __future__ import annotations

import logging
import urllib.request
import uuid

import pytest

from connectors.storage import Storage
from sandbox.questionsets import question_set
from tests.unit import test_auto_creator_v2_flow as v2_flow
from tests.unit import test_content_auto_creator_flow as content_flow
from flows.runtime.outcome import FAILED, SUCCESS
from flows.sunbird.rehost import IN_MEMORY_BYTES

PDF = b"%PDF-1.7 lesson " + bytes(range(256)) * 64


def fresh_container(request, kind: str) -> dict[str, str]:
    """A fresh container (bucket) on the ``azure`` or ``aws`` back end; the original keys that name it."""
    server = request.getfixturevalue("azurite" if kind == "azure" else "s3")
    name = f"contents-{uuid.uuid4().hex[:12]}"
    server.create_container(name)
    return server.settings(name)


@pytest.fixture(params=["azure", "aws"])
def backend(request) -> dict[str, str]:
    return fresh_container(request, request.param)


def as_env(settings: dict[str, str]) -> dict[str, str]:
    """The settings as the environment variables the jobs read; no public base URL: the back end's own."""
    return {**{key.upper().replace(".", "_"): value for key, value in settings.items()},
            "CLOUD_STORAGE_PUBLIC_BASE_URL": ""}


def served(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read(), answer.headers["Content-Type"]


def call(sandbox, method: str, path_start: str):
    """The one request of the sandbox's journal with that method and path."""
    [request] = [r for r in sandbox.journal.all() if r.method == method and r.path.startswith(path_start)]
    return request


def storage(settings: dict[str, str]) -> Storage:
    return Storage.from_settings(settings["cloud_storage_type"], settings["cloud_storage_key"],
                                 settings["cloud_storage_secret"], settings["cloud_storage_container"],
                                 settings["cloud_storage_endpoint"], None,
                                 region=settings.get("cloud_storage_region"))


def test_a_stored_file_is_served_at_its_url_with_its_bytes_and_content_type(backend, tmp_path):
    local = tmp_path / "lesson.pdf"
    local.write_bytes(PDF)
    url = storage(backend).put(local, "content/do_1/artifact/lesson.pdf")
    assert url == f"{backend['cloud_storage_endpoint']}/{backend['cloud_storage_container']}" \
                  "/content/do_1/artifact/lesson.pdf"
    assert served(url) == (PDF, "application/pdf")


@pytest.mark.parametrize("artifact", [PDF, PDF + bytes(IN_MEMORY_BYTES)], ids=["from memory", "from a temporary file"])
def test_content_auto_creator_rehosts_the_artifact_and_the_icon(backend, sandbox, tmp_path, artifact):
    creator = content_flow.Creator(sandbox, tmp_path, **as_env(backend))
    event = content_flow.repository_event(creator, mime="application/pdf", data=artifact, name="lesson.pdf")
    outcomes = creator.run(event)
    assert [o.kind for o in outcomes] == [SUCCESS], outcomes[0].detail
    identifier = event["object"]["id"]
    base = f"{backend['cloud_storage_endpoint']}/{backend['cloud_storage_container']}/content/{identifier}/artifact"
    upload = call(sandbox, "POST", "/content/v4/upload/")
    assert f'name="fileUrl"\r\n\r\n{base}/lesson.pdf\r\n' in upload.body  # the URL the content service got
    assert served(f"{base}/lesson.pdf") == (artifact, "application/pdf")
    icon = call(sandbox, "PATCH", "/content/v4/update/").body["request"]["content"]["appIcon"]
    assert icon == f"{base}/icon.png" and served(icon) == (content_flow.PNG, "image/png")


def test_auto_creator_v2_rehosts_the_images_of_the_set_and_its_questions(backend, sandbox, tmp_path):
    creator = v2_flow.Creator(sandbox, tmp_path, **as_env(backend))
    event, _questions = question_set(sandbox)
    outcomes = creator.run(event)
    assert [o.kind for o in outcomes] == [SUCCESS], outcomes[0].detail
    base = f"{backend['cloud_storage_endpoint']}/{backend['cloud_storage_container']}"
    root = creator.writes("POST", "/questionset/v4/create")[0].body["request"]["questionset"]
    assert root["appIcon"] == f"{base}/questionset/{root['identifier']}/set-icon.png"
    assert served(root["appIcon"]) == (b"\x89PNG set", "image/png")
    q2 = sandbox.questions.objects["do_q2"]["appIcon"]
    assert q2 == f"{base}/question/do_q2/q2-icon.png" and served(q2) == (b"\x89PNG q2", "image/png")


# moto's S3 server takes any key and secret (it checks no signature), so a wrong secret is shown on Azurite.
@pytest.mark.parametrize("kind, wrong", [("azure", "cloud_storage_secret"), ("azure", "cloud_storage_container"),
                                         ("aws", "cloud_storage_container")])
def test_a_wrong_secret_or_a_missing_container_fails_the_event_in_one_line_without_the_secret(
        request, sandbox, tmp_path, caplog, capfd, kind, wrong):
    caplog.set_level(logging.DEBUG)
    backend = fresh_container(request, kind)
    secret = "c2VjcmV0LW5vdC10by1sZWFr" + backend["cloud_storage_secret"][24:]
    settings = {**backend, wrong: secret if wrong == "cloud_storage_secret" else "no-such-container"}
    creator = content_flow.Creator(sandbox, tmp_path, **as_env(settings))
    first = content_flow.repository_event(creator, mime="application/pdf", data=PDF, name="lesson.pdf")
    second = content_flow.repository_event(creator, identifier="do_2", mime="application/pdf", data=PDF,
                                           name="lesson.pdf")
    outcomes = creator.run(first, second)
    assert [o.kind for o in outcomes] == [FAILED, FAILED]  # the job went on to the second event
    assert "Error while uploading the File." in outcomes[0].detail and "\n" not in outcomes[0].detail
    assert wrong in outcomes[0].detail  # the setting to fix
    printed = capfd.readouterr()
    for text in (outcomes[0].detail, outcomes[1].detail, caplog.text, printed.out, printed.err):
        assert backend["cloud_storage_secret"] not in text and secret not in text
