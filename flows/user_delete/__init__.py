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
from flows.settings import Reader
from flows.user_delete import handler, rules

JOB_NAME = "user-delete"
DEFAULTS = (Path(__file__).parent / "defaults.conf").read_text()


def make_job(reader: Reader, client: HttpClient) -> Job:
    """The job's rules and handler, from its settings."""
    topics = rules.Topics(reader.text("kafka.input.user_delete_topic"),
                          reader.text("kafka.input.ownership_transfer_topic"))
    check_object_type = reader.boolean("user_delete.check_object_type", True)
    base_url = reader.url("program-service-baseUrl")
    return Job(
        name=JOB_NAME,
        topics=(topics.user_delete, topics.ownership_transfer),
        entity=lambda _topic, event: rules.entity(event),
        validate=lambda topic, event: rules.skip_reason(topics, topic, event, check_object_type),
        handle=partial(handler.handle, client, base_url),
        personal_entity=True,
    )


def __getattr__(name: str):
    if name == "flow":
        return job_flow(DEFAULTS, make_job, JOB_NAME)
    raise AttributeError(name)
