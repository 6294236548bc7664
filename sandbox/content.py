"""The Knowlg content and search services the content-auto-creator calls, in memory.

Contents move Draft -> Review -> Processing -> Live (``processing_s`` after publish, seen on
the next read); ``system/update`` can set any status (``Failed``). Create refuses an
identifier that exists ("Object already exists with identifier"); update needs the current
``versionKey``; upload fetches the ``fileUrl`` (it must answer 200) and review needs an
artifact, as the real services do. Search indexes ``originData`` as a JSON string, like the
real index. Collections hold units; ``hierarchy/add`` puts a content under a unit. Like the real
service it reads the collection's hierarchy, changes it and writes it back: with ``add_delay_s``
set, two adds into one collection at once can lose one (the last write wins).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import unquote

from sandbox.routes import Call, Reply, Router



def ok(result: dict) -> Reply:
    return Reply(200, {"id": "api.content", "ver": "4.0", "params": {"status": "successful"},
                       "responseCode": "OK", "result": result})


def client_error(status: int, err: str, message: str) -> Reply:
    code = "RESOURCE_NOT_FOUND" if status == 404 else "CLIENT_ERROR"
    return Reply(status, {"id": "api.content", "ver": "4.0",
                          "params": {"status": "failed", "err": err, "errmsg": message},
                          "responseCode": code, "result": {}})


class _Refused(Exception):
    """Raised inside a route to answer with ``reply``."""

    def __init__(self, reply: Reply):
        self.reply = reply


def _answering_refusals(handler):
    def route(call: Call) -> Reply:
        try:
            return handler(call)
        except _Refused as refused:
            return refused.reply
    return route


class ContentService:
    processing_s = 0.1
    add_delay_s = 0.0  # between the read and the write of hierarchy/add
    upload_s = 0.0  # an upload shows (artifactUrl, review accepted) this long after it was answered
    h5p_unpack_s = 0.0  # review of an H5P content is refused this long after its upload (unpacked in the background)
    lost_adds = 0  # the next adds answer 200 but another writer's stale write replaces theirs

    def __init__(self, server: Router):
        self._lock = threading.Lock()
        self.contents: dict[str, dict] = {}
        self.collections: dict[str, dict[str, list[str]]] = {}  # collection -> unit -> children
        self._published_at: dict[str, float] = {}
        self._uploading: dict[str, tuple[float, str]] = {}  # id -> (when the upload shows, its artifactUrl)
        self._unpacked_at: dict[str, float] = {}  # H5P id -> when its package is unpacked
        for method, pattern, handler in [
            ("POST", r"/content/v4/create", self._create),
            ("GET", r"/content/v4/read/(?P<id>[^/]+)", self._read),
            ("PATCH", r"/content/v4/update/(?P<id>[^/]+)", self._update),
            ("POST", r"/content/v4/upload/(?P<id>[^/]+)", self._upload),
            ("POST", r"/content/v4/review/(?P<id>[^/]+)", self._review),
            ("POST", r"/content/v4/publish/(?P<id>[^/]+)", self._publish),
            ("PATCH", r"/content/v4/system/update/(?P<id>[^/]+)", self._system_update),
            ("GET", r"/content/v3/hierarchy/(?P<id>[^/]+)", self._hierarchy),
            ("PATCH", r"/content/v3/hierarchy/add", self._hierarchy_add),
            ("POST", r"/v3/search", self._search),
        ]:
            blocking = handler in (self._upload, self._hierarchy_add)  # a fetch of the file URL; add_delay_s
            server.route(method, pattern, _answering_refusals(handler), blocking=blocking)

    def add_content(self, identifier: str, **fields: Any) -> None:
        """A content that exists already (status Draft unless given)."""
        with self._lock:
            self.contents[identifier] = {"identifier": identifier, "status": "Draft",
                                         "versionKey": _version_key(), **fields}

    def add_collection(self, identifier: str, units: list[str]) -> None:
        with self._lock:
            self.collections[identifier] = {unit: [] for unit in units}

    def _content(self, call: Call, with_artifact: bool = False) -> dict:
        """The content the path names (Live once its publish has had time); refused if missing."""
        identifier = unquote(call.match["id"])
        content = self.contents.get(identifier)
        if content is None:
            raise _Refused(client_error(404, "NOT_FOUND", f"Error! Node(s) doesn't Exists. | [Invalid Node Id.]: "
                                                          f"{identifier}"))
        published = self._published_at.get(identifier)
        if published and content["status"] == "Processing" and time.monotonic() - published >= self.processing_s:
            content["status"] = "Live"
        uploading = self._uploading.get(identifier)
        if uploading and time.monotonic() >= uploading[0]:
            content["artifactUrl"] = uploading[1]
            del self._uploading[identifier]
        if with_artifact and (identifier in self._uploading or time.monotonic() < self._unpacked_at.get(identifier, 0)):
            raise _Refused(client_error(400, "ERR_CONTENT_NOT_READY", "the upload is still being processed"))
        if with_artifact and not content.get("artifactUrl"):
            raise _Refused(client_error(400, "VALIDATOR_ERROR", "Please Provide Artifact File!"))
        return content

    def statuses(self) -> dict[str, str | None]:
        """Each content's status now, read under the lock (the server's threads change ``contents`` as they answer)."""
        with self._lock:
            return {identifier: content.get("status") for identifier, content in self.contents.items()}

    def _create(self, call: Call) -> Reply:
        if not call.headers.get("X-Channel-Id"):
            return client_error(400, "ERR_CHANNEL_MISSING", "X-Channel-Id is required")
        content = _request_part(call.body, "content")
        if not isinstance(content, dict) or not content.get("identifier"):
            return client_error(400, "ERR_CONTENT_CREATE", "identifier is required here")
        with self._lock:
            identifier = content["identifier"]
            if identifier in self.contents:
                return client_error(400, "CONSTRAINT_VALIDATION",
                                    f"Object already exists with identifier: {identifier}")
            self.contents[identifier] = {**content, "status": "Draft", "versionKey": _version_key(),
                                         "channel": call.headers["X-Channel-Id"], "pkgVersion": 0}
        return ok({"identifier": identifier, "node_id": identifier,
                   "versionKey": self.contents[identifier]["versionKey"]})

    def _read(self, call: Call) -> Reply:
        with self._lock:
            return ok({"content": dict(self._content(call))})

    def _update(self, call: Call) -> Reply:
        changes = _request_part(call.body, "content")
        with self._lock:
            content = self._content(call)
            if not isinstance(changes, dict) or changes.get("versionKey") != content["versionKey"]:
                return client_error(400, "ERR_INVALID_VERSION_KEY", "Invalid version Key")
            content.update({k: v for k, v in changes.items() if k != "versionKey"}, versionKey=_version_key())
            return ok({"identifier": content["identifier"], "versionKey": content["versionKey"]})

    def _upload(self, call: Call) -> Reply:
        file_url = _form_field(call, "fileUrl")
        if not file_url:
            return client_error(400, "ERR_INVALID_FILE", "Please Provide Valid File Or File Url!")
        try:
            with urllib.request.urlopen(file_url, timeout=10) as answer:
                answer.read()
        except Exception:
            return client_error(400, "ERR_INVALID_FILE_URL", f"Please Provide Valid File Url! {file_url}")
        with self._lock:
            content = self._content(call)
            content["versionKey"] = _version_key()
            self._uploading[content["identifier"]] = (time.monotonic() + self.upload_s, file_url)
            if content.get("mimeType") == "application/vnd.ekstep.h5p-archive":
                self._unpacked_at[content["identifier"]] = time.monotonic() + self.h5p_unpack_s
            self._content(call)  # shows at once when there is no delay
            return ok({"identifier": content["identifier"], "artifactUrl": file_url,
                       "content_url": file_url, "versionKey": content["versionKey"]})

    def _review(self, call: Call) -> Reply:
        with self._lock:
            content = self._content(call, with_artifact=True)
            content["status"] = "Review"
            return ok({"node_id": content["identifier"], "versionKey": content["versionKey"]})

    def _publish(self, call: Call) -> Reply:
        who = (_request_part(call.body, "content") or {}).get("lastPublishedBy")
        with self._lock:
            content = self._content(call, with_artifact=True)
            content.update(status="Processing", lastPublishedBy=who, pkgVersion=content.get("pkgVersion", 0) + 1)
            self._published_at[content["identifier"]] = time.monotonic()
            return ok({"publishStatus": f"Publish Operation for Content Id '{content['identifier']}' "
                                        f"Started Successfully!", "node_id": content["identifier"]})

    def _system_update(self, call: Call) -> Reply:
        changes = _request_part(call.body, "content")
        with self._lock:
            content = self._content(call)
            if not isinstance(changes, dict):
                return client_error(400, "ERR_INVALID_REQUEST", "request.content is required")
            content.update(changes)
            return ok({"identifier": content["identifier"]})

    def _hierarchy(self, call: Call) -> Reply:
        identifier = unquote(call.match["id"])
        with self._lock:
            units = self.collections.get(identifier)
            if units is None:
                return client_error(404, "NOT_FOUND", f"rootId {identifier} does not exist")
            children = [child for members in units.values() for child in members]
            tree = [{"identifier": unit, "children": [{"identifier": child} for child in members]}
                    for unit, members in units.items()]
            return ok({"content": {"identifier": identifier, "childNodes": [*units, *children], "children": tree,
                                   "mimeType": "application/vnd.ekstep.content-collection", "status": "Draft"}})

    def _hierarchy_add(self, call: Call) -> Reply:
        request = call.body.get("request") if isinstance(call.body, dict) else None
        request = request if isinstance(request, dict) else {}
        with self._lock:  # read
            units = self.collections.get(request.get("rootId"))
            if units is None or request.get("unitId") not in units:
                return client_error(400, "ERR_INVALID_ROOT_ID", "Please Provide Valid Root Node Identifier")
            members = list(units[request["unitId"]])
        time.sleep(self.add_delay_s)  # modify
        members.extend(child for child in request.get("children", []) if child not in members)
        with self._lock:  # write
            if self.lost_adds:
                self.lost_adds -= 1
            else:
                units[request["unitId"]] = members
        return ok({"rootId": request["rootId"], request["unitId"]: members})

    def _search(self, call: Call) -> Reply:
        request = call.body.get("request") if isinstance(call.body, dict) else None
        filters = request.get("filters", {}) if isinstance(request, dict) else {}
        fields = request.get("fields") or [] if isinstance(request, dict) else []
        with self._lock:
            hits = [content for content in self.contents.values()
                    if content.get("origin") == filters.get("origin")
                    and all(content.get(name) is not None for name in request.get("exists", []))]
            indexed = [_as_indexed(content, fields) for content in hits]
        return ok({"count": len(indexed), "content": indexed} if indexed else {"count": 0})


def _as_indexed(content: dict, fields: list[str]) -> dict:
    """A search hit: only the asked fields, with ``originData`` as the index stores it (a JSON string)."""
    hit = {name: content[name] for name in fields if name in content} if fields else dict(content)
    if isinstance(hit.get("originData"), dict):
        hit["originData"] = json.dumps(hit["originData"])
    return hit


def _request_part(body: Any, part: str) -> Any:
    request = body.get("request") if isinstance(body, dict) else None
    return request.get(part) if isinstance(request, dict) else None


def _form_field(call: Call, name: str) -> str | None:
    """A text field of a ``multipart/form-data`` body."""
    kind = call.headers.get("Content-Type", "")
    if not kind.startswith("multipart/form-data"):
        return None
    boundary = kind.partition("boundary=")[2].split(";")[0].strip().strip('"')
    if not boundary:
        return None
    for part in call.raw.split(b"--" + boundary.encode()):
        head, _, value = part.partition(b"\r\n\r\n")
        if f'; name="{name}"'.encode() in head:
            return value.decode("utf-8", "replace").strip()
    return None


def _version_key() -> str:
    return str(time.time_ns() // 1000)
