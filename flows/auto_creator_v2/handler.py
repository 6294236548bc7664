"""What auto-creator-v2 does with a valid event, through the target's APIs (README, "The auto-creator-v2 job").

1. read the source: the ECAR (``manifest.json``, and ``hierarchy.json`` for a set), then
   ``GET edata.repository``, merged in that order;
2. for a question set, each accepted question (concurrently, bounded): its own ECAR's manifest item
   merged with its source read (``question/v1|v2/read?fields=`` every schema property,
   :mod:`flows.auto_creator_v2.fields`), its images copied, created (or overwritten) in the target;
3. the root: copy its images, create (or overwrite) it, then its structure (``hierarchy/update``
   with the sections and the accepted questions only); questions of ``visibility: Default`` are
   independent objects the set's publish does not publish: each is reviewed, published and waited for;
4. review and publish it; with collection units to link, wait until the target says ``Live`` and leave
   the linking to the pipeline (:mod:`flows.runtime.linking`), which calls :meth:`AutoCreatorV2.link` per collection.

Where the original wrote Neo4j and Cassandra directly, the target's own APIs do the writing and
its publish makes the ECARs and variants. An expected failure (:mod:`flows.sunbird.failures`) is
raised; the pipeline makes it a failed record.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from typing import Awaitable, Callable, Iterable, TypeVar

from connectors.ecar import EcarError, EcarLimits, read_ecar
from connectors.http import path_segment
from connectors.storage import key_segment
from connectors.sunbird import AssessmentService, ContentService, SourceService
from flows.auto_creator_v2.tree import accepted, api_version, hierarchy_request, questions_of, write_body
from flows.auto_creator_v2.view import ImportEvent
from flows.runtime.event import is_blank
from flows.runtime.in_flight import in_thread
from flows.runtime.job import Done, Link, Result
from flows.sunbird import hierarchy
from flows.sunbird.rehost import Rehoster
from flows.sunbird.waiting import until_shown

IMAGES = ("appIcon", "posterImage")
T = TypeVar("T")


@dataclass(frozen=True)
class V2Settings:
    source_base_url: str
    question_fields: tuple[str, ...]
    cloud_props: tuple[str, ...]
    publish_props: tuple[str, ...]
    expandable: tuple[str, ...]
    leaves: tuple[str, ...]
    ecar_limits: EcarLimits
    max_download_bytes: int
    max_image_bytes: int
    link_wait_s: float
    max_collection_units: int
    max_questions: int
    link_attempts: int = 5  # adds of one child into one unit, each checked (retry.max_attempts)


class AutoCreatorV2:
    """A coroutine per event on the process's event loop, with at most ``children_in_flight`` questions at
    once in the process; downloads and the source's reads on the loop too; what blocks (ECAR reads, stored
    images) on ``threads``."""

    def __init__(self, settings: V2Settings, source: SourceService, target: AssessmentService,
                 content: ContentService, rehoster: Rehoster, threads: Executor, children_in_flight: int,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self._settings = settings
        self._source = source
        self._target = target
        self._content = content
        self._files = rehoster
        self._threads = threads
        self._children = asyncio.Semaphore(children_in_flight)
        self._sleep = sleep

    async def handle(self, _topic: str, event: dict) -> Result:
        """Done, or Link for the pipeline to link; an expected failure (:mod:`flows.sunbird.failures`) raises."""
        return await self._process(event) or Done()

    async def _process(self, event: dict) -> Link | None:
        view = ImportEvent(event)
        identifier, object_type = view.identifier, view.object_type
        channel = view.channel
        repository = view.repository or ""
        collection_units = hierarchy.units(event, self._settings.max_collection_units)
        manifest_item, tree = await self._read_ecar(identifier, object_type, view.download_url)
        metadata = {**manifest_item, **await self._source.read(repository, object_type)}
        process_id = view.process_id
        if not is_blank(process_id):
            metadata["processId"] = process_id
        version = api_version(metadata)
        resource = object_type.lower()
        if object_type in self._settings.expandable:
            questions = accepted(questions_of(tree, self._settings.expandable, self._settings.leaves),
                                 metadata.get("acceptedContributions"))
            if len(questions) > self._settings.max_questions:
                raise EcarError(f"the ECAR of {identifier} lists {len(questions)} questions, more than "
                                f"questions.max_per_set ({self._settings.max_questions})")
            independent = await self._write_questions(channel, questions)
            await self._write(resource, version, channel, identifier, object_type, metadata, repository)
            nodes, structure = hierarchy_request(identifier, tree, set(questions), self._settings.expandable,
                                                 self._settings.leaves, self._settings.publish_props)
            await self._target.update_hierarchy(version, channel, identifier, nodes, structure)
            # Questions of visibility Default are objects of their own: the set's publish does not publish them.
            await self._all(partial(self._publish, "question", question_version, channel, question)
                            for question, question_version in independent.items())
        else:
            independent = {}
            await self._write(resource, version, channel, identifier, object_type, metadata, repository)
        await self._publish(resource, version, channel, identifier)
        if not collection_units:
            return None  # nothing to link: done once the publishes are accepted
        await self._await_live(channel, [(resource, version, identifier),
                                         *(("question", question_version, question)
                                           for question, question_version in independent.items())])
        return Link(identifier, collection_units)

    async def link(self, collection_id: str, adds: list[tuple[str, list[str]]]) -> dict[str, str]:
        """Link each (identifier, unit ids) into the collection: :func:`flows.sunbird.hierarchy.link`."""
        return await hierarchy.link(self._content, collection_id, adds, self._settings.link_attempts)

    async def _blocking(self, call: Callable[..., T], *args, **kwargs) -> T:
        return await in_thread(self._threads, partial(call, *args, **kwargs))

    async def _read_ecar(self, identifier: str, object_type: str, url: str) -> tuple[dict, dict]:
        """The object's manifest item ({} if absent) and, for a set, the tree of ``hierarchy.json``: the ECAR
        downloaded on the loop into a spooled file, and read on a thread (its JSON may be large)."""
        with self._files.spooled() as ecar:
            await self._files.downloads.fetch_into(url, ecar, self._settings.max_download_bytes)
            manifest, hierarchy_json = await self._blocking(read_ecar, ecar, self._settings.ecar_limits)
        archive = manifest.get("archive")
        items = archive.get("items") if isinstance(archive, dict) else None
        item = next((i for i in (items if isinstance(items, list) else []) if isinstance(i, dict)
                     and str(i.get("identifier", "")).lower() == identifier.lower()), {})
        if object_type not in self._settings.expandable:
            return item, {}
        tree = hierarchy_json.get(object_type.lower()) if isinstance(hierarchy_json, dict) else None
        if not isinstance(tree, dict):
            raise EcarError(f"the ECAR of {identifier} has no hierarchy.json with a {object_type.lower()}")
        return item, tree

    async def _write_questions(self, channel: str | None, questions: dict[str, dict]) -> dict[str, str]:
        """Read and write the questions concurrently; those of ``visibility: Default``, with their API version."""
        written = await self._all(partial(self._write_question, channel, identifier, node)
                                  for identifier, node in questions.items())
        return {identifier: version for identifier, version, default in written if default}

    async def _all(self, calls: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run the calls, at most ``children_in_flight`` at once in the process; fail after all have had their
        turn, naming how many failed."""
        async def bounded(call: Callable[[], Awaitable[T]]) -> T:
            async with self._children:
                return await call()

        results = await asyncio.gather(*(bounded(call) for call in calls), return_exceptions=True)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            first = errors[0]
            first.args = (f"{len(errors)} of {len(results)} questions failed; the first: {first}",)
            raise first
        return results

    async def _write_question(self, channel: str | None, identifier: str, node: dict) -> tuple[str, str, bool]:
        """The question's ECAR manifest item merged with its source read (the read wins), written; its id, API
        version and whether it is an independent (``visibility: Default``) object."""
        version = api_version(node)
        url = (f"{self._settings.source_base_url.rstrip('/')}/question/{'v2' if version == 'v5' else 'v1'}/read/"
               f"{path_segment(identifier)}?fields={','.join(self._settings.question_fields)}")
        ecar_url = node.get("downloadUrl")
        manifest_item = (await self._read_ecar(identifier, "Question", ecar_url.strip()))[0] \
            if isinstance(ecar_url, str) and ecar_url.strip() else {}
        metadata = {**manifest_item, **await self._source.read(url, "Question")}
        if node.get("schemaVersion") and "schemaVersion" not in metadata:
            metadata["schemaVersion"] = node["schemaVersion"]
        await self._write("question", version, channel, identifier, "Question", metadata, url)
        visibility = metadata.get("visibility")
        return identifier, version, isinstance(visibility, str) and visibility.strip().lower() == "default"

    async def _publish(self, resource: str, version: str, channel: str | None, identifier: str) -> None:
        await self._target.review(resource, version, channel, identifier)
        await self._target.publish(resource, version, channel, identifier)

    async def _write(self, resource: str, version: str, channel: str | None, identifier: str, object_type: str,
                     metadata: dict, repository: str) -> None:
        folder = key_segment(identifier)
        images = {key: (await self._files.copy(metadata[key].strip(), folder, f"{object_type.lower()}/{folder}",
                                               limit=self._settings.max_image_bytes)).url
                  for key in IMAGES if key in self._settings.cloud_props
                  and isinstance(metadata.get(key), str) and metadata[key].strip()}
        body = write_body(identifier, {**metadata, **images}, repository, self._settings.publish_props)
        await self._target.create_or_update(resource, version, channel, body)

    async def _await_live(self, channel: str | None, objects: list[tuple[str, str, str]]) -> None:
        """Poll until the target's publishes made every ``(resource, version, id)`` Live (instead of the
        original's 5 s sleep), all of them in one loop."""
        waiting = list(objects)

        async def not_live() -> list[tuple[str, str, str]]:
            waiting[:] = [o for o in waiting if await self._target.status(o[0], o[1], channel, o[2]) != "Live"]
            return waiting

        timeout_s = self._settings.link_wait_s
        await until_shown(not_live, lambda left: not left, timeout_s,
                    lambda left: f"{', '.join(f'{r} {i}' for r, _v, i in left[:5])}"
                                 f"{f' and {len(left) - 5} more' if len(left) > 5 else ''} not Live {timeout_s:g} s "
                                 f"after publish (link.wait_s)", self._sleep)
