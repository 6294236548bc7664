"""The user-delete job: deletes a user's personal data in coKreat and relays ownership transfers.

Run it with ``python -m bytewax.run flows.user_delete``; ``JOB_CONFIG_FILE`` names its
HOCON file in the original ``cokreat-user-delete.conf`` keys. The dataflow is built when
``flow`` is first read, so importing this package (as the tests do) reads no settings.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from connectors.http import HttpClient
from flows.job import Job
from flows.pipeline import job_flow
from flows.settings import ConfigError, Reader
from flows.user_delete import handler, rules

JOB_NAME = "user-delete"
DEFAULTS = (Path(__file__).parent / "defaults.conf").read_text()


def make_job(reader: Reader, client: HttpClient) -> Job:
    """The job's rules and handler, from its settings."""
    # rel-8 names the delete topic user_delete_topic; rel-7 named it topic and had no transfer topic.
    topics = rules.Topics(reader.text("kafka.input.user_delete_topic", reader.text("kafka.input.topic")),
                          reader.optional_text("kafka.input.ownership_transfer_topic") or None)
    check_object_type = reader.boolean("user_delete.check_object_type", True)
    urls = handler.Urls(reader.url("program-service-baseUrl"), path_prefix(reader))
    return Job(
        name=JOB_NAME,
        topics=tuple(topic for topic in (topics.user_delete, topics.ownership_transfer) if topic),
        entity=lambda _topic, event: rules.entity(event),
        validate=lambda topic, event: rules.skip_reason(topics, topic, event, check_object_type),
        handle=partial(handler.handle, client, urls),
        personal_entity=True,
    )


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
