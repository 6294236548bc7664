"""``python -m tools.preflight flows.<job>`` against the embedded broker, the sandbox and real storage: a good
configuration passes every check; with one thing wrong, exactly that check fails, naming the setting to fix,
and no secret is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from sandbox.process import free_port
from sandbox.job import auto_creator_v2_config, content_auto_creator_config, user_delete_config
from sandbox.routes import Reply
from tests.conftest import service_account

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-preflight-do-not-print"


def preflight(module: str, config: str, tmp_path: Path) -> tuple[int, list[str], list[str]]:
    """The exit status, the lines printed, and the names of the checks that failed."""
    path = tmp_path / f"{uuid.uuid4().hex}.conf"
    path.write_text(config)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("KAFKA_", "HTTP_"))}
    done = subprocess.run([sys.executable, "-m", "tools.preflight", module], cwd=ROOT, capture_output=True, text=True,
                          env={**env, "JOB_CONFIG_FILE": str(path)}, timeout=120)
    lines = (done.stdout + done.stderr).splitlines()
    failed = [line[len("FAILED "):].split(": ")[0].strip() for line in lines if line.startswith("FAILED ")]
    return done.returncode, lines, failed


@pytest.fixture
def topics(broker, names):
    """Topic names of this test, created on the broker: (delete, transfer, content, questions, failed)."""
    made = [names(kind) for kind in ("delete.user", "transfer", "content.request", "question.import", "failed")]
    broker.create_topics(made, partitions=2)
    return made


def user_delete(broker, sandbox, topics, names, extra: str = "") -> str:
    delete, transfer, _content, _questions, failed = topics
    return user_delete_config(broker.bootstrap, sandbox.url, names("g"), delete, transfer, failed,
                              "kafka.unavailable_timeout_s = 3\n" + extra)


def content(broker, sandbox, topics, names, tmp_path, extra: str = "") -> str:
    storage = tmp_path / "storage"
    return content_auto_creator_config(broker.bootstrap, sandbox.url, names("g"), topics[2], topics[4], storage,
                                       sandbox.files.serve_directory(storage), tmp_path / "tmp", extra)


def test_a_good_configuration_passes_every_check_of_each_job(broker, sandbox, topics, names, tmp_path):
    storage = tmp_path / "storage"  # the one directory the sandbox serves
    configs = {
        "flows.user_delete": user_delete(broker, sandbox, topics, names),
        "flows.content_auto_creator": content(broker, sandbox, topics, names, tmp_path),
        "flows.auto_creator_v2": auto_creator_v2_config(broker.bootstrap, sandbox.url, names("g"), topics[3],
                                                        topics[4], storage, sandbox.files.serve_directory(storage),
                                                        tmp_path / "tmp"),
    }
    for module, config in configs.items():
        status, lines, failed = preflight(module, config, tmp_path)
        assert (status, failed) == (0, []), "\n".join(lines)
        assert lines[-1].endswith("checks, 0 failed")
        assert any(line.startswith("ok     kafka: the brokers at ") for line in lines)
        assert any(line.startswith(f"ok     topic {topics[4]}: 2 partitions (kafka.failed.topic)") for line in lines)
        assert any("starts at the earliest offset" in line for line in lines)  # no offsets committed yet
        assert any(line.strip().startswith("kafka.broker-servers = ") and line.endswith("(file)") for line in lines)
    assert not list((tmp_path / "storage").rglob("*.txt"))  # the storage probe is deleted


def test_an_unreachable_broker_fails_the_kafka_check_alone(sandbox, topics, names, tmp_path, broker):
    config = user_delete(broker, sandbox, topics, names).replace(broker.bootstrap, f"127.0.0.1:{free_port()}")
    status, lines, failed = preflight("flows.user_delete", config, tmp_path)
    assert (status, failed) == (1, ["kafka"])
    assert any("(kafka.broker-servers, kafka.client)" in line for line in lines if line.startswith("FAILED"))


def test_a_missing_topic_fails_its_check_and_is_not_created(broker, sandbox, topics, names, tmp_path):
    missing = names("not.created")
    config = user_delete(broker, sandbox, topics, names, f'kafka.input.user_delete_topic = "{missing}"')
    status, lines, failed = preflight("flows.user_delete", config, tmp_path)
    assert (status, failed) == (1, [f"topic {missing}"])
    assert any("fix kafka.input.user_delete_topic" in line for line in lines)
    assert missing not in AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics


def test_a_wrong_service_url_fails_that_service_alone(broker, sandbox, topics, names, tmp_path):
    wrong = f"http://127.0.0.1:{free_port()}"
    status, lines, failed = preflight("flows.content_auto_creator", content(
        broker, sandbox, topics, names, tmp_path, f'service.search.basePath = "{wrong}"'), tmp_path)
    assert (status, failed) == (1, [f"search-service at {wrong}"])
    assert any("fix service.search.basePath" in line for line in lines)


def test_a_header_the_service_refuses_fails_that_check_and_is_not_printed(broker, sandbox, topics, names, tmp_path):
    sandbox.require_header("Authorization", "Bearer the-right-one")
    status, lines, failed = preflight("flows.user_delete", user_delete(
        broker, sandbox, topics, names, f'http.headers {{ Authorization = "Bearer {SECRET}" }}'), tmp_path)
    assert (status, failed) == (1, [f"program-service at {sandbox.url}"])
    assert any("HTTP 401 (fix http.headers)" in line for line in lines)
    assert SECRET not in "\n".join(lines)


def test_a_wrong_storage_secret_or_container_fails_the_storage_check_alone(
        broker, sandbox, topics, names, tmp_path, azurite, s3):
    azurite.create_container("preflight")
    s3.create_container("preflight")
    azure = azurite.settings("preflight")
    wrong = {"cloud_storage_secret": {**azure, "cloud_storage_secret": SECRET + azure["cloud_storage_secret"][29:]},
             "cloud_storage_container": {**s3.settings("preflight"), "cloud_storage_container": "no-such-bucket"}}
    for key, settings in wrong.items():
        extra = "\n".join(f'{name} = "{value}"' for name, value in settings.items()) \
            + '\ncloud_storage.public_base_url = ""'
        status, lines, failed = preflight("flows.content_auto_creator",
                                          content(broker, sandbox, topics, names, tmp_path, extra), tmp_path)
        assert (status, failed) == (1, ["storage"]), "\n".join(lines)
        assert any(key in line for line in lines if line.startswith("FAILED storage"))
        assert SECRET not in "\n".join(lines) and azure["cloud_storage_secret"][29:] not in "\n".join(lines)
    good = "\n".join(f'{name} = "{value}"' for name, value in azure.items()) + '\ncloud_storage.public_base_url = ""'
    status, lines, failed = preflight("flows.content_auto_creator",
                                      content(broker, sandbox, topics, names, tmp_path, good), tmp_path)
    assert (status, failed) == (0, []), "\n".join(lines)


def test_the_drive_key_is_checked_when_set(broker, sandbox, topics, names, tmp_path):
    key = service_account(f"{sandbox.url}/token")
    status, lines, failed = preflight("flows.content_auto_creator", content(
        broker, sandbox, topics, names, tmp_path, f"content_auto_creator.g_service_acct_cred = {json.dumps(key)}"),
        tmp_path)
    assert (status, failed) == (0, []) and "ok     drive: the service-account key parses" in "\n".join(lines)
    assert json.loads(key)["private_key"][40:80] not in "\n".join(lines)
    broken = json.dumps(json.dumps({"type": "service_account", "client_email": "x@y"}))
    status, lines, failed = preflight("flows.content_auto_creator", content(
        broker, sandbox, topics, names, tmp_path, f"content_auto_creator.g_service_acct_cred = {broken}"), tmp_path)
    assert (status, failed) == (1, ["settings"])
    assert "content_auto_creator.g_service_acct_cred: not a Google service-account key" in "\n".join(lines)


def test_a_base_url_that_is_not_the_service_fails_that_check(broker, sandbox, topics, names, tmp_path):
    """A page instead of a JSON answer (the file server's 404), and a redirect the job would not follow."""
    sandbox.route("GET", r"/moved/content/v4/read/.*", lambda call: Reply(302, "<html>moved</html>",
                                                                          {"Location": "https://elsewhere/"}))
    for base, why in ((f"{sandbox.url}/files", "not JSON: is service.content_service.basePath the service's base URL?"),
                      (f"{sandbox.url}/moved", "answered a redirect (HTTP 302), which the job does not follow: "
                                               "fix service.content_service.basePath")):
        status, lines, failed = preflight("flows.content_auto_creator", content(
            broker, sandbox, topics, names, tmp_path, f'service.content_service.basePath = "{base}"'), tmp_path)
        assert (status, failed) == (1, [f"content-service at {base}"]), "\n".join(lines)
        assert any(line.endswith(why) for line in lines), "\n".join(lines)


def test_the_source_is_checked_through_the_jobs_address_rules(broker, sandbox, topics, names, tmp_path):
    """auto-creator-v2 reads the source instance only at public addresses unless told otherwise: the sandbox, on
    127.0.0.1, is refused as the job would refuse it."""
    storage = tmp_path / "storage"
    config = auto_creator_v2_config(broker.bootstrap, sandbox.url, names("g"), topics[3], topics[4], storage,
                                    sandbox.files.serve_directory(storage), tmp_path / "tmp",
                                    "download.allow_private_networks = false")
    status, lines, failed = preflight("flows.auto_creator_v2", config, tmp_path)
    assert (status, failed) == (1, [f"source at {sandbox.url}/api"]), "\n".join(lines)
    assert any("not a public address" in line and "fix source.baseUrl" in line for line in lines)
