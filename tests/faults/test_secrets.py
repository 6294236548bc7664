"""Secrets and personal data: planted values must not appear in anything a run writes (logs, failed
records, error lines), except personal data inside a failed record, which is the event itself."""

from __future__ import annotations

import json

from sandbox.job import content_auto_creator_config, user_delete_config
from sandbox.kafka_tools import produce, read_all
from sandbox.user_events import EXAMPLES
from tests.conftest import EVENTS_DIR, service_account, wait_for

SECRETS = ("PLANTED-HEADER-SECRET", "PLANTED-SASL-SECRET", "PLANTED-STORAGE-SECRET", "PLANTED-DRIVE-KEY-ID")
PERSONAL = ("PLANTED-USER-NAME", "PLANTED-FIRST", "PLANTED-LAST", "planted.person@example.org",
            "planted-user-id-7")


def everything_written(job, broker, failed_topic) -> tuple[str, str]:
    records = read_all(broker.bootstrap, failed_topic)
    failed = "\n".join(f"{r.key()} {r.value()} {r.headers()}" for r in records)
    return job.log_path.read_text(errors="replace"), failed


def test_user_delete_writes_no_secret_and_logs_no_personal_data(broker, sandbox, names, jobs):
    delete_topic, transfer_topic, failed_topic = names("d"), names("t"), names("f")
    broker.create_topics([delete_topic, transfer_topic, failed_topic])
    delete = json.loads(EXAMPLES[0])
    delete["edata"].update(userId="planted-user-id-7", userName="PLANTED-USER-NAME")
    delete["object"]["id"] = "planted-user-id-7"
    transfer = json.loads(EXAMPLES[2])
    transfer["edata"]["toUserProfile"].update(firstName="PLANTED-FIRST", lastName="PLANTED-LAST",
                                              userName="planted.person@example.org")
    sandbox.contribution.add_user("planted-user-id-7", role="admin")  # a delete that fails: a failed record
    produce(broker.bootstrap, delete_topic, [json.dumps(delete).encode(), b"{bad json PLANTED-USER-NAME"])
    produce(broker.bootstrap, transfer_topic, [json.dumps(transfer).encode()])
    config = user_delete_config(broker.bootstrap, sandbox.url, names("g"), delete_topic, transfer_topic, failed_topic,
                                'http.headers { Authorization = "Bearer PLANTED-HEADER-SECRET" }\n'
                                'kafka.client { "sasl.password" = "PLANTED-SASL-SECRET" }\n'
                                "retry { max_attempts = 2, initial_backoff_s = 0.05 }")
    job = jobs("flows.user_delete", config, env={"LOG_LEVEL": "DEBUG"})
    wait_for(lambda: len(job.outcomes()) == 3, 60, "3 outcomes")
    assert job.stop() == 0
    assert sandbox.journal.matching("POST")[0].headers["Authorization"] == "Bearer PLANTED-HEADER-SECRET"
    log, failed = everything_written(job, broker, failed_topic)
    assert "***" in log  # the settings line shows the secrets redacted
    for value in SECRETS:
        assert value not in log and value not in failed, value
    for value in PERSONAL:
        assert value not in log, value
    assert "PLANTED-USER-NAME" in failed  # the failed records carry the events themselves


def test_a_secret_in_a_bad_setting_is_not_echoed(sandbox, jobs):
    config = user_delete_config("127.0.0.1:9", sandbox.url, "g", "d", "t", "f")
    job = jobs("flows.user_delete", config, env={"KAFKA_CLIENT": '{"sasl.password" = PLANTED-SASL-SECRET ] }'})
    assert job.wait(60) == 2
    assert "PLANTED-SASL-SECRET" not in job.log_path.read_text()


def test_content_auto_creator_writes_no_storage_or_drive_secret(broker, sandbox, names, jobs, tmp_path):
    topic, failed_topic = names("in"), names("f")
    broker.create_topics([topic, failed_topic])
    bulk_upload = (EVENTS_DIR / "content-auto-creator.events.jsonl").read_text().splitlines()[1]
    event = json.loads(bulk_upload)  # the bulk upload with Drive links
    event["edata"]["metadata"]["artifactUrl"] = sandbox.files.add_drive("a", "a.pdf", b"%PDF", "video/mp4")
    event["edata"]["metadata"]["appIcon"] = ""
    produce(broker.bootstrap, topic, [json.dumps(event).encode()])
    credential = service_account(f"{sandbox.url}/token", key_id="PLANTED-DRIVE-KEY-ID")
    storage = tmp_path / "storage"
    config = content_auto_creator_config(
        broker.bootstrap, sandbox.url, names("g"), topic, failed_topic, storage,
        sandbox.files.serve_directory(storage), tmp_path / "tmp",
        f'cloud_storage_secret = "PLANTED-STORAGE-SECRET"\ncontent_auto_creator.g_service_acct_cred = """{credential}"""\n'
        'http.headers { Authorization = "Bearer PLANTED-HEADER-SECRET" }')
    job = jobs("flows.content_auto_creator", config, env={"LOG_LEVEL": "DEBUG"})
    wait_for(lambda: job.outcomes(), 60, "an outcome")
    assert job.outcomes()[0]["outcome"] == "failed" and "MimeType" in job.outcomes()[0]["error"]
    assert job.stop() == 0
    assert sandbox.journal.matching("POST", "/token")  # the Drive key was used
    log, failed = everything_written(job, broker, failed_topic)
    private_key = json.loads(credential)["private_key"].splitlines()[1]
    for value in (*SECRETS, private_key):
        assert value not in log and value not in failed, value[:20]
