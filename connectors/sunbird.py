"""Typed clients of the Sunbird services the jobs call: program-service (user-delete), the Knowlg
content and search services (content-auto-creator), the source and the question set service
(auto-creator-v2).

Each method is one call of the original job, with its exact path, headers and body, made on the
event loop (:class:`~connectors.async_http.AsyncHttpClient`); the source's reads, at URLs from events,
through a client made with checked connections (``public=``). The program
service's answers are judged by the user-delete job itself (a 404 may or may not mean "not a user").
Otherwise: Success is HTTP 200 exactly (plus the call's own check, such as
a non-empty ``publishStatus``); any other final answer raises :class:`ApiError` with the
original's message and the service's details. Retryable answers were already retried by the client.
"""

from __future__ import annotations

from typing import Any, Awaitable

from connectors.address import loggable_url
from connectors.async_http import AsyncHttpClient
from connectors.http import Answer, HttpClient, path_segment
from connectors.json_bytes import dumps

CONTENT, SEARCH, PROGRAM = "content-service", "search-service", "program-service"
ALREADY_EXISTS = "Object already exists with identifier"


class ApiError(Exception):
    """A Sunbird service gave a final answer that is not success."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def details(answer: Answer) -> str:
    """`` | Response Code :<status> | Result : <result> | Error Message : <params>``, as the original."""
    body = answer.body if isinstance(answer.body, dict) else {}
    return (f" | Response Code :{answer.status} | Result : {dumps(body.get('result')).decode()}"
            f" | Error Message : {dumps(body.get('params')).decode()}")


class ProgramService:
    """program-service's user routes: ``{base_url}{prefix}/v1/user/...`` (the prefix is ``/program``
    unless set: the original composed ``{program-service-baseUrl}/program/v1/user/...``). Each method
    returns what its client's call does: with an :class:`~connectors.async_http.AsyncHttpClient`, a
    coroutine to await."""

    def __init__(self, client: HttpClient | AsyncHttpClient, base_url: str, prefix: str = "/program"):
        self._client = client
        self._base = f"{base_url.rstrip('/')}{prefix}/v1/user"

    def user_url(self, user_id: str) -> str:
        """The user id is one percent-encoded path segment: ``/``, ``..`` or ``?`` cannot change the request."""
        return f"{self._base}/{path_segment(user_id)}"

    def delete_user(self, user_id: str) -> Answer | Awaitable[Answer]:
        return self._client.call(PROGRAM, "DELETE", self.user_url(user_id))

    def transfer(self, event: dict) -> Answer | Awaitable[Answer]:
        """Relays an ownership-transfer event, unchanged, as ``{"request": <event>}``."""
        return self._client.call(PROGRAM, "POST", f"{self._base}/transfer", {"request": event})


def _result(answer: Answer) -> dict:
    result = answer.body.get("result") if isinstance(answer.body, dict) else None
    return result if isinstance(result, dict) else {}


class ContentService:
    def __init__(self, client: AsyncHttpClient, base_url: str):
        self._client = client
        self._base = base_url.rstrip("/")

    async def _call(self, method: str, path: str, channel: str | None, body: Any = None) -> Answer:
        headers = {"X-Channel-Id": channel} if channel is not None else {}
        return await self._client.call(CONTENT, method, f"{self._base}{path}", body, headers=headers)

    async def exists(self, channel: str, identifier: str) -> bool:
        """Whether the content is in this repository (replaces the original's Neo4j query)."""
        answer = await self._call("GET", f"/content/v4/read/{path_segment(identifier)}", channel)
        if answer.status in (200, 404):
            return answer.status == 200
        raise ApiError(f"Invalid Response received while reading content for : {identifier}{details(answer)}",
                       answer.status)

    async def create(self, channel: str, content: dict) -> str:
        """The new content's identifier; an existing one with that identifier counts as created."""
        answer = await self._call("POST", "/content/v4/create", channel, {"request": {"content": content}})
        if answer.status == 200:
            return str(_result(answer).get("identifier") or content["identifier"])
        if ALREADY_EXISTS in details(answer):
            return content["identifier"]
        raise ApiError(f"Invalid Response received while creating content for :{content['identifier']}"
                       f"{details(answer)}", answer.status)

    async def read(self, channel: str, identifier: str) -> dict:
        """The content in edit mode; its identifier (without ``.img``) must be the one asked for."""
        answer = await self._call("GET", f"/content/v4/read/{path_segment(identifier)}?mode=edit", channel)
        content = _result(answer).get("content")
        if answer.status != 200 or not isinstance(content, dict):
            raise ApiError(f"Invalid Response received while reading content for : {identifier}{details(answer)}",
                           answer.status)
        found = str(content.get("identifier", "")).removesuffix(".img")
        if found.lower() != identifier.lower():
            raise ApiError(f"Invalid Response received while reading content for : {identifier}")
        return content

    async def update(self, channel: str, identifier: str, content: dict) -> None:
        answer = await self._call("PATCH", f"/content/v4/update/{path_segment(identifier)}", channel,
                            {"request": {"content": content}})
        self._expect_200(answer, f"Invalid Response received while updating content for :{identifier}")

    async def upload(self, channel: str, identifier: str, file_url: str, composed_h5p: bool) -> str:
        """The ``artifactUrl`` (else ``content_url``) the service answered, "" if none: what a read shows once
        the upload is done."""
        query = "?validation=false" + ("&fileFormat=composed-h5p-zip" if composed_h5p else "")
        answer = await self._client.call(CONTENT, "POST",
                                         f"{self._base}/content/v4/upload/{path_segment(identifier)}{query}",
                                   headers={"X-Channel-Id": channel}, form={"fileUrl": file_url})
        self._expect_200(answer, f"Invalid Response received while uploading source file for content :{identifier}")
        result = _result(answer)
        for name in ("artifactUrl", "content_url"):
            if isinstance(result.get(name), str) and result[name].strip():
                return result[name].strip()
        return ""

    async def review(self, channel: str, identifier: str) -> None:
        answer = await self._call("POST", f"/content/v4/review/{path_segment(identifier)}", channel,
                            {"request": {"content": {}}})
        self._expect_200(answer, f"Invalid Response received while sending content for review for :{identifier}")

    async def publish(self, channel: str, identifier: str, last_published_by: Any) -> None:
        answer = await self._call("POST", f"/content/v4/publish/{path_segment(identifier)}", channel,
                            {"request": {"content": {"lastPublishedBy": last_published_by}}})
        self._expect_200(answer, f"Invalid Response received while publishing content for :{identifier}")
        if not _result(answer).get("publishStatus"):
            raise ApiError(f"Content Publish Call Failed For : {identifier}", answer.status)

    async def mark_failed(self, channel: str, identifier: str, error: str) -> None:
        """Set ``status=Failed`` with the error, so editors see why."""
        answer = await self._call("PATCH", f"/content/v4/system/update/{path_segment(identifier)}", channel,
                            {"request": {"content": {"status": "Failed", "importError": error or "Processing Error"}}})
        self._expect_200(answer, f"Invalid Response received while updating failed status for : {identifier}")
        if not _result(answer).get("identifier"):
            raise ApiError(f"Content update status Call Failed For : {identifier}", answer.status)

    async def hierarchy(self, collection_id: str) -> dict:
        answer = await self._call("GET", f"/content/v3/hierarchy/{path_segment(collection_id)}?mode=edit", None)
        if answer.status != 200:
            raise ApiError(f"Unable to fetch collection hierarchy for : {collection_id} | Response Code : "
                           f"{answer.status}", answer.status)
        content = _result(answer).get("content")
        return content if isinstance(content, dict) else {}

    async def add_to_hierarchy(self, collection_id: str, unit_id: str, identifiers: list[str]) -> None:
        answer = await self._call("PATCH", "/content/v3/hierarchy/add", None,
                            {"request": {"rootId": collection_id, "unitId": unit_id, "children": identifiers}})
        self._expect_200(answer, f"Hierarchy Update Failed For : {collection_id}.")

    @staticmethod
    def _expect_200(answer: Answer, message: str) -> None:
        if answer.status != 200:
            raise ApiError(f"{message}{details(answer)}", answer.status)


class SearchService:
    def __init__(self, client: AsyncHttpClient, base_url: str):
        self._client = client
        self._base = base_url.rstrip("/")

    async def copies_of(self, origin: str, exists: list[str], fields: list[str]) -> list[dict]:
        """Contents auto-created earlier from ``origin`` (the search hits, unfiltered)."""
        body = {"request": {"filters": {"objectType": "Content", "status": [], "origin": origin},
                            "exists": exists, "fields": fields}}
        answer = await self._client.call(SEARCH, "POST", f"{self._base}/v3/search", body)
        if answer.status != 200:
            raise ApiError(f"Invalid Response received while searching content for : {origin}{details(answer)}",
                           answer.status)
        result = _result(answer)
        hits = result.get("content") if result.get("count") else None
        return [hit for hit in hits if isinstance(hit, dict)] if isinstance(hits, list) else []


ASSESSMENT, SOURCE = "assessment-service", "source"


def already_exists(answer: Answer) -> bool:
    return answer.status != 200 and "already exists" in details(answer).lower()


class SourceService:
    """Reads from the sourcing instance, which is another Sunbird, at URLs from events: ``client`` is
    made with ``public=`` (see :class:`~connectors.async_http.AsyncHttpClient`)."""

    def __init__(self, client: AsyncHttpClient):
        self._client = client

    async def read(self, url: str, object_type: str) -> dict:
        """``result.<objecttype lower-case>`` of ``GET url``: 200 only, and an object (a question's body and
        answer come only from here, so a read without them must not pass as one)."""
        answer = await self._client.call(SOURCE, "GET", url)
        if answer.status != 200:
            raise ApiError(f"Invalid object read url for fetching metadata: {loggable_url(url)}{details(answer)}",
                           answer.status)
        found = _result(answer).get(object_type.lower())
        if not isinstance(found, dict):
            raise ApiError(f"the source's read of {loggable_url(url)} has no result.{object_type.lower()} object",
                           answer.status)
        return found


class AssessmentService:
    """The target's question and question set APIs (inQuiry): ``/<resource>/<v4|v5>/<action>``."""

    def __init__(self, client: AsyncHttpClient, base_url: str):
        self._client = client
        self._base = base_url.rstrip("/")

    async def _call(self, method: str, path: str, channel: str | None, body: Any = None) -> Answer:
        headers = {"X-Channel-Id": channel} if channel else {}
        return await self._client.call(ASSESSMENT, method, f"{self._base}{path}", body, headers=headers)

    async def create_or_update(self, resource: str, version: str, channel: str | None, metadata: dict) -> str:
        """Create the object with its source identifier; when it exists, overwrite it (``system/update``)."""
        identifier = metadata["identifier"]
        answer = await self._call("POST", f"/{resource}/{version}/create", channel, {"request": {resource: metadata}})
        if answer.status == 200:
            return "created"
        if not already_exists(answer):
            raise ApiError(f"Invalid Response received while creating {resource} for : {identifier}{details(answer)}",
                           answer.status)
        answer = await self._call("PATCH", f"/{resource}/{version}/system/update/{path_segment(identifier)}", channel,
                            {"request": {resource: metadata}})
        if answer.status != 200:
            raise ApiError(f"Invalid Response received while updating {resource} for : {identifier}{details(answer)}",
                           answer.status)
        return "updated"

    async def update_hierarchy(self, version: str, channel: str | None, root_id: str, nodes_modified: dict,
                         hierarchy: dict) -> None:
        answer = await self._call("PATCH", f"/questionset/{version}/hierarchy/update", channel,
                            {"request": {"data": {"nodesModified": nodes_modified, "hierarchy": hierarchy}}})
        if answer.status != 200:
            raise ApiError(f"Invalid Response received while updating the hierarchy of : {root_id}{details(answer)}",
                           answer.status)

    async def review(self, resource: str, version: str, channel: str | None, identifier: str) -> None:
        answer = await self._call("POST", f"/{resource}/{version}/review/{path_segment(identifier)}", channel,
                            {"request": {resource: {}}})
        if answer.status != 200:
            raise ApiError(f"Invalid Response received while sending {resource} for review : {identifier}"
                           f"{details(answer)}", answer.status)

    async def publish(self, resource: str, version: str, channel: str | None, identifier: str) -> None:
        answer = await self._call("POST", f"/{resource}/{version}/publish/{path_segment(identifier)}", channel,
                            {"request": {resource: {}}})
        if answer.status != 200:
            raise ApiError(f"Invalid Response received while publishing {resource} : {identifier}{details(answer)}",
                           answer.status)

    async def status(self, resource: str, version: str, channel: str | None, identifier: str) -> str | None:
        answer = await self._call("GET", f"/{resource}/{version}/read/{path_segment(identifier)}?fields=status",
                                  channel)
        if answer.status != 200:
            raise ApiError(f"Invalid Response received while reading {resource} : {identifier}{details(answer)}",
                           answer.status)
        found = _result(answer).get(resource)
        return found.get("status") if isinstance(found, dict) else None
