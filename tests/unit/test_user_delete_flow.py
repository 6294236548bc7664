"""The user-delete job's rules and handler through the shared flow, against the sandbox service."""

import json

import pytest

from flows.runtime.job import Fail, Skip
from flows.runtime.outcome import FAILED, SKIPPED, SUCCESS
from flows.user_delete import DEFAULTS, make_job
from flows.runtime.settings import CommonSettings, ConfigError, Reader, load_config
from connectors.sunbird import ProgramService
from tests.conftest import EVENTS_DIR, run_flow

DELETE_TOPIC, TRANSFER_TOPIC = "sunbirddev.delete.user", "sunbirddev.user.ownership.transfer"
EXAMPLES = (EVENTS_DIR / "user-delete.events.jsonl").read_bytes().splitlines()


def run(sandbox, messages, **env):
    environ = {"PROGRAM_SERVICE_BASEURL": sandbox.url, "RETRY_INITIAL_BACKOFF_S": "0.01", **env}
    return run_flow(DEFAULTS, make_job, environ, messages)


def delete_event(user_id) -> bytes:
    event = json.loads(EXAMPLES[0])
    event["edata"]["userId"] = user_id
    return json.dumps(event).encode()


def test_the_examples(sandbox):
    for user in ("5deed393-6e04-449a-b98d-7f0fbf88f22e", "02c4e0dc-3e25-4f7d-b811-242c73e24a01"):
        sandbox.contribution.add_user(user)
    outcomes = run(sandbox, [(DELETE_TOPIC, EXAMPLES[0]), (DELETE_TOPIC, EXAMPLES[1]),
                             (TRANSFER_TOPIC, EXAMPLES[2])])
    assert [o.kind for o in outcomes] == [SUCCESS, SUCCESS, SUCCESS]
    # The two calls run concurrently: which one the service sees first is not part of the promise.
    assert sorted(sandbox.contribution.deleted) == ["02c4e0dc-3e25-4f7d-b811-242c73e24a01",
                                                    "5deed393-6e04-449a-b98d-7f0fbf88f22e"]
    transfer = sandbox.journal.matching("POST")[0]
    assert transfer.path == "/program/v1/user/transfer"
    assert transfer.body == {"request": json.loads(EXAMPLES[2])}
    assert all(r.headers["Content-Type"] == "application/json" for r in sandbox.journal.all())


def test_the_base_url_keeps_the_original_composition():
    assert ProgramService(None, "http://ingress/program").user_url("u") == "http://ingress/program/program/v1/user/u"


def made(environ: dict[str, str], conf: str = ""):
    reader = Reader(load_config(DEFAULTS + conf, environ))
    return make_job(reader, CommonSettings.read(reader))


def made_from_file(tmp_path, conf: str, **environ: str):
    (tmp_path / "job.conf").write_text(conf)
    return made({"JOB_CONFIG_FILE": str(tmp_path / "job.conf"), **environ})


def test_the_rel7_topic_key_and_a_deployment_without_transfers(tmp_path):
    assert made({}).topics == ("sunbirddev.delete.user", "sunbirddev.user.ownership.transfer")
    # A rel-7 file names the delete topic "topic" and has no transfer topic: none is read (not the default).
    assert made_from_file(tmp_path, 'kafka.input.topic = "rel7.delete"').topics == ("rel7.delete",)
    assert made({"KAFKA_INPUT_TOPIC": "rel7.delete"}).topics == ("rel7.delete",)
    assert made_from_file(tmp_path, 'kafka.input { topic = "d7", ownership_transfer_topic = "t" }').topics == ("d7", "t")
    assert made({"KAFKA_INPUT_TOPIC": "same", "KAFKA_INPUT_USER_DELETE_TOPIC": "same"}).topics[0] == "same"
    with pytest.raises(ConfigError, match="^kafka.input.topic: the rel-7 name of kafka.input.user_delete_topic"):
        made_from_file(tmp_path, 'kafka.input.user_delete_topic = "rel8.delete"', KAFKA_INPUT_TOPIC="rel7.delete")
    assert made({"KAFKA_INPUT_OWNERSHIP_TRANSFER_TOPIC": ""}).topics == ("sunbirddev.delete.user",)


def test_the_path_prefix_is_a_setting(sandbox):
    sandbox.contribution.add_user("u-1")
    outcomes = run(sandbox, [(DELETE_TOPIC, delete_event("u-1")), (TRANSFER_TOPIC, EXAMPLES[2])],
                   PROGRAM_SERVICE_BASEURL=f"{sandbox.url}/program", USER_DELETE_PATH_PREFIX="")
    assert [o.kind for o in outcomes] == [SUCCESS, SUCCESS]
    assert sorted(r.path for r in sandbox.journal.all()) == ["/program/v1/user/transfer", "/program/v1/user/u-1"]
    for bad in ("program", "/a?b", "//evil.example"):
        with pytest.raises(ConfigError, match="user_delete.path_prefix"):
            made({"USER_DELETE_PATH_PREFIX": bad})


@pytest.mark.parametrize("user_id, path", [
    ("a/b", "/program/v1/user/a%2Fb"),
    ("..", "/program/v1/user/%2E%2E"),
    ("x?y=1#z", "/program/v1/user/x%3Fy%3D1%23z"),
    ("50%", "/program/v1/user/50%25"),
])
def test_the_user_id_is_one_path_segment(sandbox, user_id, path):
    sandbox.contribution.add_user(user_id)
    outcomes = run(sandbox, [(DELETE_TOPIC, delete_event(user_id))])
    assert outcomes[0].kind == SUCCESS
    assert [r.path for r in sandbox.journal.all()] == [path]
    assert sandbox.contribution.deleted == [user_id]


def test_unknown_user_is_skipped_and_an_admin_fails_after_retries(sandbox):
    sandbox.contribution.add_user("admin-1", role="admin")
    outcomes = run(sandbox, [(DELETE_TOPIC, delete_event("admin-1"))], RETRY_MAX_ATTEMPTS="2")
    assert (outcomes[0].kind, outcomes[0].status) == (FAILED, 500)  # before any "not found": 500, retried
    outcomes = run(sandbox, [(DELETE_TOPIC, delete_event("nobody"))])
    assert outcomes[0].kind == SKIPPED and "User not found in OS" in outcomes[0].detail
    assert sandbox.journal.count("DELETE", "/program/v1/user/admin-1") == 2


def test_a_refused_transfer_fails_without_retry(sandbox):
    sandbox.faults.script("POST", "/program/v1/user/transfer", [400])
    outcomes = run(sandbox, [(TRANSFER_TOPIC, EXAMPLES[2])])
    assert (outcomes[0].kind, outcomes[0].status) == (FAILED, 400)
    assert sandbox.journal.count() == 1


def test_wrong_types_fail_and_mismatched_actions_skip_without_a_call(sandbox):
    transfer_as_string = json.loads(EXAMPLES[2])
    transfer_as_string["edata"]["toUserProfile"] = "someone"
    outcomes = run(sandbox, [(DELETE_TOPIC, delete_event(12345)),
                             (TRANSFER_TOPIC, json.dumps(transfer_as_string).encode()),
                             (TRANSFER_TOPIC, EXAMPLES[0]), (DELETE_TOPIC, EXAMPLES[2])])
    assert [o.kind for o in outcomes] == [FAILED, FAILED, SKIPPED, SKIPPED]
    assert "edata.userId must be a string" in outcomes[0].detail
    assert "edata.toUserProfile must be an object" in outcomes[1].detail
    assert sandbox.journal.count() == 0


def test_an_event_for_another_job_is_skipped_whatever_its_fields_for_this_job_hold(sandbox):
    """As in the original, the action is read first: an event not for this job is skipped without its
    user id being read, so a user id of the wrong type does not fail it."""
    not_for_job = json.loads(delete_event(12345))
    not_for_job["edata"]["action"] = "merge-user"
    outcomes = run(sandbox, [(DELETE_TOPIC, json.dumps(not_for_job).encode())])
    assert [(o.kind, o.stage, o.entity) for o in outcomes] == [(SKIPPED, "validate", None)]


def test_a_skip_that_repeats_the_user_id_shows_it_hashed():
    from connectors.http import Answer
    from flows.runtime.logs import short_hash
    from flows.user_delete.handler import judge_delete

    user = "5deed393-6e04-449a-b98d-7f0fbf88f22e"
    result = judge_delete(Answer(404, {"result": {"response": f"User not found in OS: {user}"}}), user)
    assert isinstance(result, Skip) and user not in result.reason and short_hash(user) in result.reason


def test_a_service_error_that_repeats_a_user_id_shows_it_hashed():
    from connectors.http import Answer
    from flows.runtime.logs import short_hash
    from flows.user_delete.handler import judge

    user = "5deed393-6e04-449a-b98d-7f0fbf88f22e"
    body = {"responseCode": "CLIENT_ERROR", "params": {"err": "ERR", "errmsg": f"User {user} cannot be deleted"}}
    result = judge(Answer(400, body), "delete user", (user, None, ""))
    assert user not in result.error and short_hash(user) in result.error


@pytest.mark.parametrize("response, kind", [
    ("User not found in OS", SKIPPED),
    ("User not found in Sunbird", SKIPPED),
    ("user NOT FOUND", SKIPPED),
    ("Admin for the org not found", FAILED),
    ("Can only delete Individual or contributing org user", FAILED),
    ("User_Org not found", FAILED),
    ("User org admin not found", FAILED),
    ("User update failed: registry record not found", FAILED),
    ({"response": "User not found in OS"}, FAILED),
    (None, FAILED),
])
def test_a_404_is_skipped_only_when_it_says_the_user_was_not_found(response, kind):
    from connectors.http import Answer
    from flows.user_delete.handler import judge_delete

    body = {"responseCode": "SERVER_ERROR", "params": {"err": "ERR_DELETING_USER_FAILED"},
            "result": {} if response is None else {"response": response}}
    result = judge_delete(Answer(404, body), "u-1")
    assert isinstance(result, Skip if kind == SKIPPED else Fail)
    if kind == FAILED and isinstance(response, str):
        assert response in result.error  # the service's own words, on the failed record


def test_after_one_not_found_every_error_is_a_404_and_only_the_not_found_ones_skip(sandbox):
    """program-service's sticky status: once it has said "not found", it answers every later
    error with 404. The admin and the org user without an admin fail (visible, replayable), at once."""
    from sandbox.contribution import ORG_USER_WITHOUT_ADMIN

    sandbox.contribution.add_user("admin-1", role="admin")
    sandbox.contribution.add_user("orphan-1", role=ORG_USER_WITHOUT_ADMIN)
    sandbox.contribution.add_user("gone-1")
    sandbox.contribution.remove_from_sunbird("gone-1")
    first = run(sandbox, [(DELETE_TOPIC, delete_event("nobody"))])
    assert first[0].kind == SKIPPED and sandbox.contribution.error_status == 404
    outcomes = run(sandbox, [(DELETE_TOPIC, delete_event(user)) for user in ("admin-1", "orphan-1", "gone-1")])
    assert [(o.kind, o.status) for o in outcomes] == [(FAILED, 404), (FAILED, 404), (SKIPPED, 404)]
    assert "Can only delete Individual or contributing org user" in outcomes[0].detail
    assert "Admin for the org not found" in outcomes[1].detail
    assert sandbox.journal.count("DELETE", "/program/v1/user/admin-1") == 1  # final: not retried
