"""The auto-creator-v2 job: makes an approved question set, with its accepted questions, available in
the consumption repository, through that repository's question set service.

Run it with ``python -m bytewax.run flows.auto_creator_v2``; ``JOB_CONFIG_FILE`` names its HOCON
file in the original ``auto-creator-v2.conf`` keys. The dataflow is built when ``flow`` is first
read, so importing this package reads no settings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from connectors.async_http import AsyncHttpClient
from connectors.ecar import EcarLimits
from connectors.sunbird import AssessmentService, ContentService, SourceService
from flows.auto_creator_v2 import rules
from flows.auto_creator_v2.fields import QUESTION_FIELDS
from flows.auto_creator_v2.handler import AutoCreatorV2, V2Settings
from flows.runtime.job import Job
from flows.runtime.pipeline import job_flow
from flows.runtime.settings import CommonSettings, Reader
from flows.sunbird.failures import EXPECTED
from flows.sunbird.rehost import Rehoster, disk_budget_from, downloader_from, storage_from

JOB_NAME = "auto-creator-v2"
DEFAULTS = (Path(__file__).parent / "defaults.conf").read_text()


def make_job(reader: Reader, common: CommonSettings) -> Job:
    """The job's rules and handler, from its settings."""
    client = AsyncHttpClient(JOB_NAME, common.http, common.retry)
    downloader = downloader_from(reader, common)
    children = reader.integer("children_in_flight", 64, minimum=1)
    threads = ThreadPoolExecutor(common.http.max_in_flight + children, thread_name_prefix="blocking")
    rehoster = Rehoster(downloader, None, storage_from(reader), Path(reader.text("temp_file_location")), threads,
                        disk_budget_from(reader, JOB_NAME))
    creator = AutoCreatorV2(
        _settings(reader, common),
        SourceService(AsyncHttpClient(JOB_NAME, common.http, common.retry, public=rehoster.downloads.connections)),
        AssessmentService(client, reader.url("service.assessment.basePath")),
        ContentService(client, reader.url("service.content.basePath")),
        rehoster,
        threads,
        children,
    )
    return Job(
        name=JOB_NAME,
        expected=EXPECTED,
        topics=(reader.text("kafka.input.topic"),),
        entity=lambda _topic, event: rules.identifier(event),
        validate=lambda _topic, event: rules.skip_reason(event),
        handle=creator.handle,
        link=creator.link,
    )


def _settings(reader: Reader, common: CommonSettings) -> V2Settings:
    return V2Settings(
        source_base_url=reader.url("source.baseUrl"),
        question_fields=tuple(reader.text_list("source.question_fields", list(QUESTION_FIELDS))),
        cloud_props=tuple(reader.text_list("object.cloud_props")),
        publish_props=tuple(reader.text_list("object.publish_props")),
        expandable=tuple(reader.text_list("expandable_objects", ["QuestionSet"])),
        leaves=tuple(q for q in reader.text_list("non_expandable_objects", ["Question"])
                     if q in reader.text_list("graph_enabled_objecttypes", ["Question"])),
        ecar_limits=EcarLimits(reader.integer("ecar.max_entries", minimum=1),
                               reader.integer("ecar.max_unpacked_bytes", minimum=1),
                               reader.integer("ecar.max_json_bytes", minimum=1)),
        max_download_bytes=reader.integer("ecar.max_download_bytes", minimum=1),
        max_image_bytes=reader.integer("image.max_bytes", 52428800, minimum=1),
        link_wait_s=reader.number("link.wait_s", 60.0),
        max_collection_units=reader.integer("collections.max_units", 100, minimum=1),
        max_questions=reader.integer("questions.max_per_set", 1000, minimum=1),
        link_attempts=common.retry.max_attempts,
    )


def __getattr__(name: str):
    if name == "flow":
        return job_flow(DEFAULTS, make_job, JOB_NAME)
    raise AttributeError(name)
