"""The content-auto-creator job: creates or updates a content in the target repository, re-hosts
its artifact and icon, sends it to review and publish, and links it to collection units.

Run it with ``python -m bytewax.run flows.content_auto_creator``; ``JOB_CONFIG_FILE`` names its
HOCON file in the original ``content-auto-creator.conf`` keys. The dataflow is built when
``flow`` is first read, so importing this package reads no settings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from connectors.async_http import AsyncHttpClient
from connectors.download import Downloader
from connectors.gdrive import DRIVE_HOSTS, Backoff, DriveDownloader
from connectors.sunbird import ContentService, SearchService
from flows.content_auto_creator import rules
from flows.content_auto_creator.handler import ContentAutoCreator, CreatorSettings
from flows.content_auto_creator.view import ContentEvent
from flows.runtime.job import Job
from flows.runtime.pipeline import job_flow
from flows.runtime.settings import CommonSettings, ConfigError, Reader
from flows.sunbird.failures import EXPECTED
from flows.sunbird.rehost import Rehoster, disk_budget_from, downloader_from, storage_from

JOB_NAME = "content-auto-creator"
DEFAULTS = (Path(__file__).parent / "defaults.conf").read_text()
PREFIX = "content_auto_creator"


def make_job(reader: Reader, common: CommonSettings) -> Job:
    """The job's rules and handler, from its settings."""
    client = AsyncHttpClient(JOB_NAME, common.http, common.retry)
    job_rules = rules.Rules(
        max_iteration=reader.integer(f"{PREFIX}.maxIteration"),
        allowed_object_types=tuple(reader.text_list(f"{PREFIX}.allowed_object_types", ["Content"])),
        allowed_stages=tuple(reader.text_list(f"{PREFIX}.allowed_content_stages")),
        mandatory_fields=tuple(reader.text_list(f"{PREFIX}.content_mandatory_fields", [])),
    )
    downloader = downloader_from(reader, common)
    rehoster = Rehoster(downloader, _drive(reader, downloader), storage_from(reader),
                        Path(reader.text(f"{PREFIX}.temp_file_location", "/tmp/content")),
                        ThreadPoolExecutor(common.http.max_in_flight, thread_name_prefix="transfer"),
                        disk_budget_from(reader, JOB_NAME))
    creator = ContentAutoCreator(
        _creator_settings(reader, common),
        ContentService(client, reader.url("service.content_service.basePath")),
        SearchService(client, reader.url("service.search.basePath")),
        rehoster,
    )
    return Job(
        name=JOB_NAME,
        expected=EXPECTED,
        topics=(reader.text("kafka.input.topic"),),
        entity=lambda _topic, event: ContentEvent(event).object_id,
        validate=lambda _topic, event: rules.skip_reason(job_rules, event),
        handle=creator.handle,
        link=creator.link,
    )


def _creator_settings(reader: Reader, common: CommonSettings) -> CreatorSettings:
    return CreatorSettings(
        removed_props=tuple(reader.text_list(f"{PREFIX}.content_props_to_removed", [])),
        create_props=tuple(reader.text_list(f"{PREFIX}.content_create_props", [])),
        search_exists=reader.text_list("search_exists_fields", ["originData"]),
        search_fields=reader.text_list("search_fields"),
        bulk_upload_mime_types=tuple(reader.text_list(f"{PREFIX}.bulk_upload_mime_types", [])),
        max_bulk_upload_bytes=reader.integer(f"{PREFIX}.bulk_upload_max_size", 2147483648, minimum=1),
        max_artifact_bytes=reader.integer(f"{PREFIX}.artifact_upload_max_size", minimum=1),
        allowed_sources=tuple(reader.text_list(f"{PREFIX}.artifact_upload_allowed_source", [])),
        api_call_delay_s=reader.number(f"{PREFIX}.api_call_delay", 0.0),
        ready_timeout_s=reader.number(f"{PREFIX}.ready_timeout_s", 30.0),
        content_folder=reader.text("cloud_storage.folder.content", "content"),
        artifact_folder=reader.text("cloud_storage.folder.artifact", "artifact"),
        max_collection_units=reader.integer("collections.max_units", 100, minimum=1),
        link_attempts=common.retry.max_attempts,
    )


def _drive(reader: Reader, downloader: Downloader) -> DriveDownloader:
    key = f"{PREFIX}.g_service_acct_cred"
    backoff = Backoff(reader.number(f"{PREFIX}.initial_backoff_delay", 120000) / 1000,
                      reader.number(f"{PREFIX}.maximum_backoff_delay", 1200000) / 1000,
                      reader.number(f"{PREFIX}.increment_backoff_delay", 2))
    try:
        return DriveDownloader(downloader, reader.optional_text(key),
                               reader.url(f"{PREFIX}.gdrive.api_base_url", "https://www.googleapis.com"), backoff,
                               tuple(reader.text_list(f"{PREFIX}.gdrive.hosts", list(DRIVE_HOSTS))))
    except ValueError as err:
        raise ConfigError(key, str(err)) from None


def __getattr__(name: str):
    if name == "flow":
        return job_flow(DEFAULTS, make_job, JOB_NAME)
    raise AttributeError(name)
