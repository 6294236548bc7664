"""What the content-auto-creator does with a valid event, in the original's order.

1. split the metadata into create and update parts;
2. find the target state: an existing content (``content/v4/read``, replacing the Neo4j
   look-up) gives ``na``; else an earlier auto-created copy found by search decides;
3. run the stage matrix's calls: create, update (with the icon re-hosted), upload (the
   artifact re-hosted), review, publish, each waiting until the content service shows it;
4. leave the linking to its collection units to the pipeline (:mod:`flows.runtime.linking`), which calls
   :meth:`ContentAutoCreator.link` one collection at a time;
5. if anything in 3 fails, mark the content ``Failed`` with the error (``system/update``). A failed
   link fails the event but does not mark the content: it is published, and usable.

An expected failure (:mod:`flows.sunbird.failures`) is raised; the pipeline makes it a failed record.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Awaitable, Callable

from connectors.address import loggable_url
from connectors.download import DownloadError, allowed_source
from connectors.gdrive import ICON
from connectors.storage import key_segment
from connectors.sunbird import ApiError, ContentService, SearchService
from flows.content_auto_creator.plan import (CREATE, NA, PUBLISH, REVIEW, UPDATE, UPLOAD, Target, split_metadata,
                                             steps, target_from_search)
from flows.content_auto_creator.view import ContentEvent
from flows.runtime.event import is_blank
from flows.runtime.job import Done, Link, Result
from flows.runtime.outcome import shortened
from flows.sunbird import hierarchy
from flows.sunbird.failures import EXPECTED
from flows.sunbird.rehost import Rehoster
from flows.sunbird.waiting import until_shown

log = logging.getLogger(__name__)

H5P = "application/vnd.ekstep.h5p-archive"


@dataclass(frozen=True)
class CreatorSettings:
    removed_props: tuple[str, ...]
    create_props: tuple[str, ...]
    search_exists: list[str]
    search_fields: list[str]
    bulk_upload_mime_types: tuple[str, ...]  # capped at max_bulk_upload_bytes instead of max_artifact_bytes
    max_bulk_upload_bytes: int
    max_artifact_bytes: int
    allowed_sources: tuple[str, ...]
    api_call_delay_s: float
    ready_timeout_s: float
    content_folder: str
    artifact_folder: str
    max_collection_units: int
    link_attempts: int = 5  # adds of one child into one unit, each checked (retry.max_attempts)


class ContentAutoCreator:
    """A coroutine per event on the process's event loop; its files are copied by ``rehoster`` (downloads on
    the loop, stored files on threads)."""

    def __init__(self, settings: CreatorSettings, content: ContentService, search: SearchService,
                 rehoster: Rehoster, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self._settings = settings
        self._content = content
        self._search = search
        self._files = rehoster
        self._sleep = sleep

    async def handle(self, _topic: str, event: dict) -> Result:
        """Done, or Link for the pipeline to link; an expected failure (:mod:`flows.sunbird.failures`) raises."""
        return await self._process(event) or Done()

    async def _process(self, event: dict) -> Link | None:
        view = ContentEvent(event)
        object_id, channel, metadata = view.object_id, view.channel, view.metadata
        collection_units = hierarchy.units(event, self._settings.max_collection_units)
        create_metadata, update_metadata = split_metadata(metadata, self._settings.removed_props,
                                                          self._settings.create_props)
        target = await self._target(view, metadata)
        calls, link = steps(target.stage, view.stage)
        log.debug("processing content", extra={"entity": object_id, "target": target.stage, "calls": calls})
        internal_id = target.internal_id
        try:
            for call in calls:
                if call == CREATE:
                    internal_id = await self._content.create(channel, _create_request(view, create_metadata))
                elif call == UPDATE:
                    await self._update(channel, internal_id, update_metadata)
                elif call == UPLOAD:
                    answered = await self._upload(channel, internal_id, metadata)
                    await self._await(channel, internal_id, _shows(answered, metadata.get("artifactUrl")),
                                      self._upload_floor_s(metadata), "the upload")
                elif call == REVIEW:
                    await self._content.review(channel, internal_id)
                    await self._await(channel, internal_id, lambda content: content.get("status") != "Draft",
                                      self._settings.api_call_delay_s, "the review")
                elif call == PUBLISH:
                    await self._content.publish(channel, internal_id, metadata.get("lastPublishedBy"))
        except Exception as err:
            if internal_id:
                await self._mark_failed(channel, internal_id, str(err))
            raise
        if link or target.stage == NA:
            return Link(internal_id, collection_units)
        return None

    async def _target(self, view: ContentEvent, metadata: dict) -> Target:
        origin_identifier = view.origin_identifier
        if not is_blank(origin_identifier) and await self._content.exists(view.channel, view.object_id):
            return Target(NA, origin_identifier)
        hits = await self._search.copies_of(view.object_id, self._settings.search_exists, self._settings.search_fields)
        return target_from_search(hits, view.object_id, metadata.get("pkgVersion", 0))

    async def _update(self, channel: str, internal_id: str, update_metadata: dict) -> None:
        version_key = (await self._content.read(channel, internal_id)).get("versionKey")
        if not version_key:
            raise ApiError(f"Invalid Response received while reading content for : {internal_id} | no versionKey")
        icon = update_metadata.get("appIcon")
        icon_url = ""
        if isinstance(icon, str) and icon.strip():
            icon_url = (await self._files.copy(icon.strip(), key_segment(internal_id), self._folder(internal_id), ICON,
                                               self._settings.max_artifact_bytes, self._settings.allowed_sources)).url
        await self._content.update(channel, internal_id,
                                   {**update_metadata, "versionKey": version_key, "appIcon": icon_url})

    def _upload_floor_s(self, metadata: dict) -> float:
        """How long to wait at least after an upload: an H5P package is unpacked by the service in the
        background, so 6 × ``api_call_delay`` (1 s, as deployed, when it is not set), as the original did."""
        if metadata.get("mimeType") == H5P:
            return 6 * (self._settings.api_call_delay_s or 1.0)
        return self._settings.api_call_delay_s

    async def _upload(self, channel: str, internal_id: str, metadata: dict) -> str:
        """Re-host the artifact and upload its URL; the ``artifactUrl`` the service answered."""
        url = metadata.get("artifactUrl")
        url = url.strip() if isinstance(url, str) else ""
        if url and not allowed_source(url, self._settings.allowed_sources):
            raise DownloadError(f"Artifact Source is not from allowed one for : {internal_id} | artifactUrl: "
                                f"{loggable_url(url)} | Allowed Sources : {list(self._settings.allowed_sources)}")
        if not url:
            raise DownloadError(f"Artifact Source is not available for content : {internal_id}")
        mime_type = str(metadata.get("mimeType") or "")
        bulk = mime_type in self._settings.bulk_upload_mime_types
        limit = self._settings.max_bulk_upload_bytes if bulk else self._settings.max_artifact_bytes
        artifact = await self._files.copy(url, key_segment(internal_id), self._folder(internal_id), mime_type, limit,
                                          self._settings.allowed_sources)
        composed_h5p = mime_type == H5P and PurePath(artifact.name).suffix.lower() != ".h5p"
        return await self._content.upload(channel, internal_id, artifact.url, composed_h5p)

    def _folder(self, internal_id: str) -> str:
        """``content/<id>/artifact``: where the content's files are stored, the id as one key segment."""
        return f"{self._settings.content_folder}/{key_segment(internal_id)}/{self._settings.artifact_folder}"

    async def _await(self, channel: str, internal_id: str, ready: Callable[[dict], bool], floor_s: float,
                     what: str) -> None:
        """Wait ``floor_s``, then until the content service shows the last call's effect."""
        if floor_s:
            await self._sleep(floor_s)
        timeout_s = self._settings.ready_timeout_s
        await until_shown(lambda: self._content.read(channel, internal_id), ready, timeout_s,
                          lambda _content: f"the content service does not show {what} of {internal_id} "
                                           f"{timeout_s:g} s after it (content_auto_creator.ready_timeout_s)",
                          self._sleep)

    async def link(self, collection_id: str, adds: list[tuple[str, list[str]]]) -> dict[str, str]:
        """Link each (identifier, unit ids) into the collection: :func:`flows.sunbird.hierarchy.link`."""
        return await hierarchy.link(self._content, collection_id, adds, self._settings.link_attempts)

    async def _mark_failed(self, channel: str, internal_id: str, error: str) -> None:
        """Set ``status=Failed`` with the error, so editors see why; a refusal is only logged."""
        try:
            await self._content.mark_failed(channel, internal_id, shortened(error))
        except EXPECTED as marking:
            log.warning("could not mark the content Failed",
                        extra={"entity": internal_id, "error": shortened(str(marking))})


def _shows(answered: str, source_url: object) -> Callable[[dict], bool]:
    """Whether a read shows the upload: the URL it answered, or, when it answered none, an artifact that is
    not the source's URL (which the update before the upload may already have set)."""
    if answered:
        return lambda content: content.get("artifactUrl") == answered
    return lambda content: bool(content.get("artifactUrl")) and content.get("artifactUrl") != source_url


def _create_request(view: ContentEvent, create_metadata: dict) -> dict[str, Any]:
    """The create body: bulk uploads keep their identifier; imports record where they came from."""
    content = {key: value for key, value in create_metadata.items() if key != "contentType"}
    if not is_blank(view.bulk_identifier):
        return {**content, "identifier": view.bulk_identifier}
    object_id = view.object_id
    return {**content, "identifier": object_id, "origin": object_id,
            "originData": {"identifier": object_id, "repository": view.repository}}
