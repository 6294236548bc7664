"""``python -m tools.preflight flows.<job>``: before the cutover, check that a job's configuration will work.

Same ``JOB_CONFIG_FILE`` and environment as the job. Nothing the job owns is changed: the brokers
are asked for their topics (all of them: asking for one by name could create it) and the group's
committed offsets (the group is not joined); each service gets one read of an id that cannot exist;
the storage gets one probe object under ``preflight/``, read back, fetched at its public URL and
deleted. One line per check, ``ok`` or ``FAILED`` with the setting to fix, then a summary; the exit
status is 0 only when every check passed. Secrets are never printed::

    JOB_CONFIG_FILE=/etc/cokreat/user-delete.conf python -m tools.preflight flows.user_delete
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Callable

import urllib3
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.address import loggable_url
from connectors.deadline import deadline, pool_manager
from connectors.http import HttpClient, HttpSettings, RefusedCall, RetriesExhausted, path_segment, read_capped
from connectors.kafka import BrokerWatch, consumer_config
from connectors.retry import RetryPolicy
from connectors.storage import StorageError
from flows.runtime.settings import CommonSettings, ConfigError, Reader, load_config
from flows.sunbird.rehost import downloader_from, storage_from

PROBE_ID = "do_cokreat_preflight_probe"  # no user, content or question has this id
_MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found; for a failure, what is wrong and the setting to fix

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAILED':<7}{self.name}: {self.detail}"


@dataclass(frozen=True)
class Probe:
    """One read-only call to a service the job calls."""

    service: str
    key: str  # the setting holding its base URL
    method: str
    path: str  # after the base URL
    body: dict | None = None
    headers: bool = True  # the configured http.headers go with it (not to another Sunbird instance)
    answers_json: bool = True  # a Sunbird service answers JSON; program-service's router answers a GET with a page


def _user_delete_probes(reader: Reader) -> list[Probe]:
    from flows.user_delete import path_prefix

    # program-service has no read of a user: a GET of the delete route's URL reaches its gateway and
    # router (a 404 "Cannot GET"), and a gateway refusing the headers answers 401 or 403.
    return [Probe("program-service", "program-service-baseUrl", "GET", f"{path_prefix(reader)}/v1/user/{PROBE_ID}",
                  answers_json=False)]


def _content_probes(_reader: Reader) -> list[Probe]:
    return [Probe("content-service", "service.content_service.basePath", "GET", f"/content/v4/read/{PROBE_ID}"),
            Probe("search-service", "service.search.basePath", "POST", "/v3/search",
                  {"request": {"filters": {"identifier": PROBE_ID}, "limit": 1}})]


def _v2_probes(_reader: Reader) -> list[Probe]:
    return [Probe("question set service", "service.assessment.basePath", "GET",
                  f"/question/v4/read/{PROBE_ID}?fields=status"),
            Probe("content-service", "service.content.basePath", "GET", f"/content/v3/hierarchy/{PROBE_ID}?mode=edit"),
            Probe("source", "source.baseUrl", "GET", f"/question/v1/read/{path_segment(PROBE_ID)}", headers=False)]


PROBES: dict[str, Callable[[Reader], list[Probe]]] = {
    "flows.user_delete": _user_delete_probes,
    "flows.content_auto_creator": _content_probes,
    "flows.auto_creator_v2": _v2_probes,
}
STORES = ("flows.content_auto_creator", "flows.auto_creator_v2")  # the jobs that re-host files
DRIVE_KEY = "content_auto_creator.g_service_acct_cred"


def run(module_name: str, environ: dict[str, str] | None = None,
        say: Callable[[str], None] = print) -> list[Check]:
    """Every check of the job's configuration, each said as it is made."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        say(check.line())

    module = importlib.import_module(module_name)
    try:
        reader = Reader(load_config(module.DEFAULTS, environ))
        common = CommonSettings.read(reader)
        job = module.make_job(reader, common)
        probes = PROBES[module_name](reader)
        storage = storage_from(reader) if module_name in STORES else None
        # The source instance's reads go through the job's checked connections (public addresses only, unless
        # download.allow_private_networks); only auto-creator-v2 has one.
        checked = downloader_from(reader, common).connections if any(not p.headers for p in probes) else None
    except ConfigError as err:
        add(Check("settings", False, str(err)))
        return checks
    add(Check("settings", True, f"{len(reader.values)} keys read"))
    for key, value in reader.shown().items():
        say(f"         {key} = {json.dumps(value, ensure_ascii=False)}   ({reader.origins.get(key, 'default')})")
    for variable in reader.unread_environment():
        say(f"         {variable}: set in the environment, named like a setting, not read by this job (a typo?)")
    for check in _kafka(common, reader, [*job.topics, common.kafka.failed_topic]):
        add(check)
    # One attempt each, within _MAX_WAIT_S, answers capped, as the job's own client makes its calls.
    http = HttpSettings(common.http.connect_timeout_s, min(common.http.read_timeout_s, _MAX_WAIT_S), 1,
                        common.http.headers, _MAX_WAIT_S, 2**20)
    once = RetryPolicy(max_attempts=1, max_elapsed_s=_MAX_WAIT_S, initial_backoff_s=0.0)
    clients = {True: HttpClient("preflight", http, once), False: HttpClient("preflight", http, once, public=checked)}
    for probe in probes:
        add(_service(clients[probe.headers], probe, reader.url(probe.key)))
    if storage is not None:
        add(_storage(storage))
    if module_name == "flows.content_auto_creator":
        given = bool(reader.optional_text(DRIVE_KEY).strip())
        add(Check("drive", True, "the service-account key parses, with what a service account needs" if given else
                  f"no service-account key ({DRIVE_KEY}): Drive links are fetched as public downloads"))
    return checks


def _kafka(common: CommonSettings, reader: Reader, topics: list[str]) -> list[Check]:
    kafka = common.kafka
    client = {"bootstrap.servers": kafka.brokers, **kafka.client}
    wait_s = min(kafka.unavailable_timeout_s, _MAX_WAIT_S)
    watch = BrokerWatch(wait_s)
    try:
        found = AdminClient(watch.client_config(client)).list_topics(timeout=wait_s).topics  # all: one may be made
    except KafkaException as err:
        why = err.args[0].str() if err.args else err
        return [Check("kafka", False, f"no answer from the brokers at {kafka.brokers} within {wait_s:g}s "
                                      f"(kafka.broker-servers, kafka.client): {why}")]
    checks = [Check("kafka", True, f"the brokers at {kafka.brokers} answer ({len(found)} topics)")]
    present: list[str] = []
    for topic in dict.fromkeys(topics):
        keys = ", ".join(key for key, value in reader.values.items() if value == topic and key.startswith("kafka"))
        metadata = found.get(topic)
        problem = "does not exist: create it" if metadata is None else _unusable(metadata)
        if problem:
            checks.append(Check(f"topic {topic}", False, f"{problem}, or fix {keys}"))
        else:
            present.append(topic)
            checks.append(Check(f"topic {topic}", True, f"{len(metadata.partitions)} partitions ({keys})"))
    consumer = Consumer(consumer_config(client, kafka.group_id, watch))  # never joins the group: reads only
    try:
        for topic in [topic for topic in present if topic != kafka.failed_topic]:
            partitions = [TopicPartition(topic, p) for p in sorted(found[topic].partitions)]
            committed = consumer.committed(partitions, timeout=wait_s)
            errors = [f"[{p.partition}] {p.error.str()}" for p in committed if p.error is not None]
            if errors:
                checks.append(Check(f"group {kafka.group_id} on {topic}", False,
                                    f"its committed offsets cannot be read (kafka.groupId, kafka.client): {errors[0]}"))
                continue
            starts = [_start(p, *consumer.get_watermark_offsets(p, timeout=wait_s), kafka.auto_offset_reset)
                      for p in committed]
            checks.append(Check(f"group {kafka.group_id} on {topic}", True, "; ".join(starts)))
    except KafkaException as err:
        checks.append(Check(f"group {kafka.group_id}", False,
                            f"its committed offsets cannot be read (kafka.groupId, kafka.client): {err.args[0].str()}"))
    finally:
        consumer.close()
    return checks


def _unusable(metadata) -> str | None:
    """Why the brokers' metadata of an existing topic says the job cannot read or write it, or None."""
    if metadata.error is not None:
        return f"the brokers answer {metadata.error.str()} for it"
    leaderless = [p for p, partition in metadata.partitions.items() if partition.leader < 0]
    return f"partitions {leaderless[:5]} have no leader" if leaderless else None


def _start(position: TopicPartition, low: int, high: int, reset: str) -> str:
    """Where the job will start reading the partition, and how far behind that is."""
    if position.offset < 0:
        return (f"[{position.partition}] none: starts at the {reset} offset "
                f"({low if reset == 'earliest' else high}; kafka.auto.offset.reset)")
    if high < position.offset:  # seen with the embedded broker, whose end offsets count batches
        return f"[{position.partition}] committed {position.offset} (the broker gives its end as {high}: lag unknown)"
    if position.offset < low:
        return (f"[{position.partition}] committed {position.offset}, below the earliest offset {low} (removed by "
                f"retention): starts at the {reset} offset (kafka.auto.offset.reset)")
    return f"[{position.partition}] committed {position.offset}, end {high}, lag {high - position.offset}"


def _service(client: HttpClient, probe: Probe, base_url: str) -> Check:
    """One read, as the job's client makes its calls (one attempt, no redirect followed, the answer capped)."""
    url = f"{base_url.rstrip('/')}{probe.path}"
    name = f"{probe.service} at {loggable_url(base_url)}"
    try:
        status, json_answer = client.call(probe.service, probe.method, url, probe.body).status, True
    except RetriesExhausted as err:  # no answer, or an answer that is not JSON
        status, json_answer = err.status, False
    except RefusedCall as err:  # an address the job may not call, or an answer over the cap
        return Check(name, False, f"{err}: fix {probe.key}")
    if status is None:
        return Check(name, False, f"no answer: fix {probe.key}")
    if status in (401, 403):
        fix = "http.headers" if probe.headers else f"{probe.key} (it takes no credentials)"
        return Check(name, False, f"refused the request: HTTP {status} (fix {fix})")
    if 300 <= status < 400:
        return Check(name, False, f"answered a redirect (HTTP {status}), which the job does not follow: "
                                  f"fix {probe.key}")
    if status >= 500 or (probe.answers_json and not json_answer):
        return Check(name, False, f"HTTP {status}{'' if json_answer else ', not JSON'}: is {probe.key} the service's "
                                  "base URL?")
    return Check(name, True, f"answers (HTTP {status} to {probe.method} of an id that cannot exist)")


def _storage(storage) -> Check:
    key = f"preflight/{uuid.uuid4().hex}/probe.txt"
    data = f"cokreat-jobs pre-flight probe {key}".encode()
    target = f"{storage.root}/{key}"
    try:
        url = storage.put_bytes(data, key)  # as the jobs store a file held in memory
    except StorageError as err:
        _remove(storage, target)  # in case a part of it was written
        return Check("storage", False, f"cannot store a probe object: {err}")
    try:
        problem = _not_served(storage, target, url, data)
    finally:
        removed = _remove(storage, target)
    if problem:
        return Check("storage", False, problem + removed)
    return Check("storage", True, f"stored, read back and served at {loggable_url(url)}{removed}")


def _remove(storage, target: str) -> str:
    """The probe object deleted (and its folders, on a local container); what to say if it could not be."""
    try:
        if storage.filesystem.exists(target):
            storage.filesystem.rm_file(target)
        for folder in (target.rsplit("/", 1)[0], target.rsplit("/", 2)[0]):  # preflight/<id>, then preflight
            if storage.filesystem.isdir(folder) and not storage.filesystem.ls(folder):
                storage.filesystem.rmdir(folder)
        return ""
    except Exception as err:  # the jobs never delete: a store may not let them
        return f"; the probe could not be deleted ({err.__class__.__name__}): remove {target} by hand"


def _not_served(storage, target: str, url: str, data: bytes) -> str | None:
    """What is wrong with the stored probe: read back through the back end, then at its public URL."""
    try:
        if storage.filesystem.cat_file(target) != data:
            return "the probe object reads back different (cloud_storage_*)"
    except Exception as err:  # every back end has its own errors
        return f"the probe object cannot be read back ({err.__class__.__name__}; cloud_storage_*)"
    fix = "fix cloud_storage.public_base_url (or cloud_storage_endpoint)"
    try:
        with deadline(_MAX_WAIT_S):
            served = _PAGES.request("GET", url, redirect=False, preload_content=False)
            body = read_capped(served, 2**16, "GET the stored probe")
    except (urllib3.exceptions.HTTPError, RefusedCall) as err:
        return f"{loggable_url(url)} gives no answer ({err.__class__.__name__}): {fix}"
    if served.status != 200 or body != data:
        return f"{loggable_url(url)} does not serve the stored probe (HTTP {served.status}): {fix}"
    return None


_PAGES = pool_manager(retries=False, timeout=urllib3.Timeout(connect=10.0, read=_MAX_WAIT_S))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PROBES:
        print(f"usage: python -m tools.preflight {{{','.join(PROBES)}}}", file=sys.stderr)
        return 2
    checks = run(argv[0])
    failed = [check for check in checks if not check.ok]
    print(f"{len(checks)} checks, {len(failed)} failed" + (f": {', '.join(c.name for c in failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
