"""Hostile input: property-based values at every path each job reads, malformed JSON, deep nesting,
odd unicode, path tricks in ids, values near the broker's size limit. The job stays up and every
input ends in exactly one outcome."""

from __future__ import annotations

import copy
import io
import json
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import auto_creator_v2, content_auto_creator, user_delete
from flows.runtime.outcome import BAD_INPUT, FAILED, SKIPPED, SUCCESS
from sandbox.job import auto_creator_v2_config, user_delete_config
from sandbox.kafka_tools import produce, read_all
from sandbox.questionsets import EXAMPLES as QUESTION_SET_EVENTS
from sandbox.questionsets import question_set
from sandbox.user_events import EXAMPLES as USER_EVENTS
from tests.conftest import EVENTS_DIR, run_flow, wait_for

TRICKY_TEXT = st.sampled_from(["", " ", "..", ".", "../../etc/passwd", "a/b", "%2e%2e", "50%", "?x=1#y",
                               "\u202eevil", "\x00", "😀" * 3, "Ω≈ç√", "x" * 5000, "http://127.0.0.1:1/a.ecar",
                               "file:///etc/passwd", "do_1.img", "\ud800", "a\udc80", "\udfff.ecar", "DO_1", "..!",
                               "a\r\n X-Injected: 1", "x\ny", "http://127.0.0.1:1\\@8.8.8.8/a.ecar",
                               "http://u:p@127.0.0.1:1/a.ecar", "http://a..b/a.ecar", "http://100.100.100.200/a.ecar",
                               "http://[::ffff:127.0.0.1]:1/a.ecar", "http://2130706433/a.ecar", "http://0x7f.1/a.ecar",
                               "https://drive.google.com/uc?export=download&id=..%2F..%2Finternal",
                               "https://drive.google.com.evil.example/uc?export=download&id=1",
                               "http://127.0.0.1:1/files/../admin/a.ecar"])


def _nested(depth: int):
    """Objects and lists alternately ``depth`` levels deep: past the 128 levels a job accepts."""
    value: object = 1
    for level in range(depth):
        value = [value] if level % 2 else {"x": value}
    return value


DEEP = st.integers(min_value=100, max_value=600).map(_nested)


def with_deep_value(event: dict, depth: int) -> bytes:
    """The event with ``edata.deep`` nested ``depth`` levels (written by hand: json.dumps would recurse)."""
    deep = b'{"x":[' * (depth // 2) + b"1" + b"]}" * (depth // 2)
    return json.dumps(set_path(event, "edata.deep", "DEEP")).encode().replace(b'"DEEP"', deep)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**64) | st.floats() | TRICKY_TEXT | st.text()
    | DEEP,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4) | TRICKY_TEXT, inner,
                                                                max_size=3),
    max_leaves=6)
RAW = st.one_of(st.binary(max_size=64), st.just(b"[" * 50_000), st.just(b'{"edata": ' * 20_000),
                st.just(b"\xff\xfe{}"), st.just(b""), st.just(b"null"), st.just(b"[1, 2]"), st.just(b'"text"'))


def set_path(event: dict, path: str, value) -> dict:
    event = copy.deepcopy(event)
    node = event
    *parents, last = path.split(".")
    for step in parents:
        if not isinstance(node.get(step), dict):
            node[step] = {}
        node = node[step]
    node[last] = value
    return event


def hostile(examples: list[dict], paths: list[str]):
    mutated = st.builds(lambda event, path, value: json.dumps(set_path(event, path, value)).encode(),
                        st.sampled_from(examples), st.sampled_from(paths), VALUES)
    whole = VALUES.map(lambda value: json.dumps(value).encode())
    return st.one_of(mutated, mutated, mutated, RAW, whole)


def check_every_input_has_one_outcome(values: list[bytes], outcomes: list) -> None:
    assert [o.message.offset for o in outcomes] == list(range(len(values)))
    assert {o.kind for o in outcomes} <= {SUCCESS, SKIPPED, FAILED, BAD_INPUT}
    for value, outcome in zip(values, outcomes):
        assert outcome.message.value == value
        if outcome.kind in (FAILED, BAD_INPUT):
            assert outcome.detail


POISON_SETTINGS = settings(max_examples=5, deadline=None, derandomize=True,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                  HealthCheck.function_scoped_fixture,
                                                  HealthCheck.large_base_example])
USER_PATHS = ["edata", "object", "edata.action", "edata.userId", "object.type", "object.id", "edata.fromUserProfile",
              "edata.fromUserProfile.userId", "edata.toUserProfile", "edata.toUserProfile.userId",
              "edata.toUserProfile.firstName", "edata.toUserProfile.lastName", "edata.toUserProfile.roles",
              "edata.iteration", "mid"]


@POISON_SETTINGS
@given(values=st.lists(hostile([json.loads(e) for e in USER_EVENTS], USER_PATHS), min_size=100, max_size=100))
def test_user_delete_poison(sandbox, values):
    sandbox.contribution.add_user(json.loads(USER_EVENTS[0])["edata"]["userId"])
    topics = ["sunbirddev.delete.user", "sunbirddev.user.ownership.transfer"]
    messages = [(topics[i % 2], value) for i, value in enumerate(values)]
    outcomes = run_flow(user_delete.DEFAULTS, user_delete.make_job,
                        {"PROGRAM_SERVICE_BASEURL": sandbox.url, "RETRY_MAX_ATTEMPTS": "1"}, messages)
    check_every_input_has_one_outcome(values, outcomes)


CONTENT_PATHS = ["edata", "object.id", "context", "context.channel", "edata.iteration", "edata.action",
                 "edata.objectType", "edata.metadata", "edata.metadata.artifactUrl", "edata.metadata.appIcon",
                 "edata.metadata.mimeType", "edata.metadata.pkgVersion", "edata.metadata.lastPublishedBy",
                 "edata.repository", "edata.identifier", "edata.collection", "edata.stage", "edata.originData",
                 "edata.originData.identifier"]


@POISON_SETTINGS
@given(values=st.lists(hostile([json.loads(e) for e in (EVENTS_DIR / "content-auto-creator.events.jsonl")
                                .read_text().splitlines()], CONTENT_PATHS), min_size=100, max_size=100))
def test_content_auto_creator_poison(sandbox, tmp_path, values):
    env = {"SERVICE_CONTENT_SERVICE_BASEPATH": sandbox.url, "SERVICE_SEARCH_BASEPATH": sandbox.url,
           "CLOUD_STORAGE_TYPE": "local", "CLOUD_STORAGE_CONTAINER": str(tmp_path / "s"),
           "CLOUD_STORAGE_PUBLIC_BASE_URL": sandbox.url, "CONTENT_AUTO_CREATOR_TEMP_FILE_LOCATION": str(tmp_path / "t"),
           "RETRY_MAX_ATTEMPTS": "1", "CONTENT_AUTO_CREATOR_READY_TIMEOUT_S": "0"}
    outcomes = run_flow(content_auto_creator.DEFAULTS, content_auto_creator.make_job, env,
                        [("in", value) for value in values])
    check_every_input_has_one_outcome(values, outcomes)
    assert not list((tmp_path / "t").rglob("*"))  # temporary files and folders removed


V2_PATHS = ["edata", "edata.action", "edata.objectType", "edata.repository", "edata.metadata",
            "edata.metadata.identifier", "edata.metadata.downloadUrl", "edata.metadata.processId", "edata.collection",
            "context.channel"]


@POISON_SETTINGS
@given(values=st.lists(hostile(QUESTION_SET_EVENTS[:2], V2_PATHS), min_size=100, max_size=100))
def test_auto_creator_v2_poison(sandbox, tmp_path, values):
    env = {"SERVICE_ASSESSMENT_BASEPATH": sandbox.url, "SERVICE_CONTENT_BASEPATH": sandbox.url,
           "SOURCE_BASEURL": f"{sandbox.url}/api", "CLOUD_STORAGE_TYPE": "local",
           "CLOUD_STORAGE_CONTAINER": str(tmp_path / "s"), "CLOUD_STORAGE_PUBLIC_BASE_URL": sandbox.url,
           "TEMP_FILE_LOCATION": str(tmp_path / "t"), "RETRY_MAX_ATTEMPTS": "1"}
    outcomes = run_flow(auto_creator_v2.DEFAULTS, auto_creator_v2.make_job, env,
                        [("in", value) for value in values])
    check_every_input_has_one_outcome(values, outcomes)
    assert not list((tmp_path / "t").rglob("*"))  # temporary files and folders removed


def test_the_running_job_stays_up_on_poison_and_reports_each_one(broker, sandbox, names, jobs):
    delete_topic, transfer_topic, failed_topic = names("d"), names("t"), names("f")
    broker.create_topics([delete_topic, transfer_topic, failed_topic])
    example = json.loads(USER_EVENTS[0])
    ordinary = [json.dumps(set_path(example, "edata.userId", f"ok-{i}")).encode() for i in range(3)]
    for i in range(3):
        sandbox.contribution.add_user(f"ok-{i}")
    not_for_the_job = set_path(example, "edata.action", "something-else")
    poison = [b"not json", b"[" * 50_000, b"\xff\xfe", b"null", b'{"edata": 7}', b"x" * 999_850,
              json.dumps(set_path(example, "edata.userId", "x" * 900_000)).encode(),
              json.dumps(set_path(example, "edata.userId", "../../program/v1/user/transfer")).encode(),
              json.dumps(set_path(example, "edata.userId", 12345)).encode(),
              json.dumps(set_path(example, "edata", [1])).encode(),
              json.dumps(set_path(example, "edata.userId", "\u202e😀%2e%2e?#")).encode(),
              json.dumps(set_path(not_for_the_job, "mid", "\udc80")).encode(),
              json.dumps(set_path(example, "edata.userId", "\ud800")).encode(),
              with_deep_value(example, 1000), with_deep_value(not_for_the_job, 300)]
    values = [ordinary[0], *poison[:8], ordinary[1], *poison[8:], ordinary[2]]
    produce(broker.bootstrap, delete_topic, values)
    job = jobs("flows.user_delete", user_delete_config(broker.bootstrap, sandbox.url, names("g"), delete_topic,
                                                       transfer_topic, failed_topic, "retry.max_attempts = 1"))
    outcomes = wait_for(lambda: len(job.outcomes()) == len(values) and job.outcomes(), 60, "an outcome for each")
    assert sorted(o["offset"] for o in outcomes) == list(range(len(values)))
    by_offset = {o["offset"]: o["outcome"] for o in outcomes}
    assert [by_offset[values.index(v)] for v in ordinary] == ["success"] * 3
    reported = sum(o["outcome"] in ("failed", "bad_input") for o in outcomes)
    assert [by_offset[values.index(v)] for v in poison[-4:]] == ["bad_input"] * 4  # surrogates, 1,000 levels
    records = wait_for(lambda: len(read_all(broker.bootstrap, failed_topic)) == reported
                       and read_all(broker.bootstrap, failed_topic), 30, "a failed record for each failure")
    assert len({dict(r.headers())["source.offset"] for r in records}) == reported
    assert any(dict(r.headers()).get("value.omitted") == b"too large" for r in records)
    assert all(r.path.startswith("/program/v1/user/") and r.path.count("/") == 4 for r in sandbox.journal.all())
    assert job.running() and job.stop() == 0


def bzip2_ecar() -> bytes:
    """A small ECAR whose manifest is compressed with bzip2, a method that inflates without bound."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("manifest.json", json.dumps({"archive": {"items": []}}))
    return buffer.getvalue()


def test_the_running_auto_creator_stays_up_on_hostile_urls_files_and_values(broker, sandbox, names, jobs, tmp_path):
    topic, failed_topic, group = names("object.import.request"), names("failed"), names("g")
    broker.create_topics([topic, failed_topic])
    storage, temp = tmp_path / "storage", tmp_path / "tmp"
    config = auto_creator_v2_config(broker.bootstrap, sandbox.url, group, topic, failed_topic, storage,
                                    sandbox.files.serve_directory(storage), temp,
                                    "retry { initial_backoff_s = 0.05, max_attempts = 2 }\nlink.wait_s = 10\n"
                                    "download { deadline_s = 2, min_rate_grace_s = 1 }")
    ordinary = [question_set(sandbox, identifier=f"do_ok{i}", prefix=f"ok{i}_")[0] for i in range(3)]
    base, _ = question_set(sandbox, identifier="do_base", prefix="base_")

    def poisoned(path: str, value) -> bytes:
        return json.dumps(set_path(base, path, value)).encode()

    port = sandbox.port
    poison = [
        poisoned("edata.metadata.downloadUrl", f"http://127.0.0.1:{port}\\@8.8.8.8/files/a.ecar"),
        poisoned("edata.metadata.downloadUrl", f"http://u:p@127.0.0.1:{port}/files/a.ecar"),
        poisoned("edata.metadata.downloadUrl", sandbox.files.add("bz.ecar", bzip2_ecar())),
        poisoned("edata.metadata.downloadUrl", sandbox.files.drip("drip.ecar", b"PK" * 1000, every_s=0.05,
                                                                 headers=True)),
        poisoned("edata.repository", "http://a..b/api/questionset/v1/read/do_base"),
        poisoned("context.channel", "in.ekstep\r\n X-Injected: 1"),
        poisoned("edata.collection", [{"identifier": f"do_c{i}", "unitId": "u"} for i in range(20_000)]),
        poisoned("mid", "\udc80"),
        with_deep_value(base, 1000),
    ]
    values = [json.dumps(ordinary[0]).encode(), *poison[:5], json.dumps(ordinary[1]).encode(), *poison[5:],
              json.dumps(ordinary[2]).encode()]
    produce(broker.bootstrap, topic, values)
    job = jobs("flows.auto_creator_v2", config)
    outcomes = wait_for(lambda: len(job.outcomes()) == len(values) and job.outcomes(), 120, "an outcome for each")
    by_offset = {o["offset"]: o for o in outcomes}
    assert sorted(by_offset) == list(range(len(values)))
    assert [by_offset[values.index(json.dumps(e).encode())]["outcome"] for e in ordinary] == ["success"] * 3
    assert [by_offset[values.index(v)]["outcome"] for v in poison] == ["failed"] * 7 + ["bad_input"] * 2, \
        [by_offset[values.index(v)].get("error") for v in poison]
    records = wait_for(lambda: len(read_all(broker.bootstrap, failed_topic)) == len(poison)
                       and read_all(broker.bootstrap, failed_topic), 30, "a failed record for each poison value")
    assert len({dict(r.headers())["source.offset"] for r in records}) == len(poison)
    assert not any("X-Injected" in str(r.headers) for r in sandbox.journal.all())
    assert not sandbox.journal.matching("GET", "/content/v3/hierarchy/do_c")
    assert not list(temp.rglob("*")) and job.running() and job.stop() == 0
