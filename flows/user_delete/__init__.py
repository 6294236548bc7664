"""The user-delete job: deletes a user's personal data in coKreat and relays ownership transfers.

Run it with ``python -m bytewax.run flows.user_delete``; ``JOB_CONFIG_FILE`` names its
HOCON file in the original ``cokreat-user-delete.conf`` keys. The dataflow is built when
``flow`` is first read, so importing this package (as the tests do) reads no settings.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from connectors.async_http import AsyncHttpClient
from connectors.sunbird import ProgramService
from flows.runtime.job import Job
from flows.runtime.pipeline import job_flow
from flows.runtime.settings import CommonSettings, ConfigError, Reader
from flows.sunbird.failures import EXPECTED
from flows.user_delete import handler, rules

JOB_NAME = "user-delete"
DEFAULTS = (Path(__file__).parent / "defaults.conf").read_text()


def make_job(reader: Reader, common: CommonSettings) -> Job:
    """The job's rules and handler, from its settings: its calls are coroutines, on the event loop."""
    topics = input_topics(reader)
    check_object_type = reader.boolean("user_delete.check_object_type", True)
    client = AsyncHttpClient(JOB_NAME, common.http, common.retry)
    service = ProgramService(client, reader.url("program-service-baseUrl"), path_prefix(reader))
    return Job(
        name=JOB_NAME,
        expected=EXPECTED,
        topics=tuple(topic for topic in (topics.user_delete, topics.ownership_transfer) if topic),
        entity=lambda _topic, event: rules.entity(event),
        validate=lambda topic, event: rules.skip_reason(topics, topic, event, check_object_type),
        handle=partial(handler.handle, service),
        personal_entity=True,
    )


def input_topics(reader: Reader) -> rules.Topics:
    """rel-8 names the delete topic ``user_delete_topic``; rel-7 named it ``topic`` and read no transfer
    topic, so a rel-7 file (``topic`` set, ``user_delete_topic`` not) reads a transfer topic only if it sets one."""
    rel8, rel7, transfer = "kafka.input.user_delete_topic", "kafka.input.topic", "kafka.input.ownership_transfer_topic"
    if reader.is_set(rel7) and not reader.is_set(rel8):
        rel7_transfer = reader.optional_text(transfer) if reader.is_set(transfer) else ""
        return rules.Topics(reader.text(rel7), rel7_transfer or None)
    delete = reader.text(rel8)
    if reader.is_set(rel7) and reader.text(rel7) != delete:
        raise ConfigError(rel7, f"the rel-7 name of {rel8}, which is set to another topic: set only one of them")
    return rules.Topics(delete, reader.optional_text(transfer) or None)


def path_prefix(reader: Reader) -> str:
    """``user_delete.path_prefix``: "" or a path of its own, e.g. ``/program`` (no trailing slash)."""
    prefix = reader.optional_text("user_delete.path_prefix").rstrip("/")
    if prefix and (not prefix.startswith("/") or any(c in prefix for c in "?#\\") or "//" in prefix):
        raise ConfigError("user_delete.path_prefix", f"expected \"\" or a path such as /program, got {prefix!r}")
    return prefix


def __getattr__(name: str):
    if name == "flow":
        return job_flow(DEFAULTS, make_job, JOB_NAME)
    raise AttributeError(name)
