"""Both sides of a question set import, in memory.

* the **source** (the sourcing instance): question sets and questions added with
  :meth:`QuestionSource.add_set`, read through ``/api/questionset/v1/read/{id}`` and
  ``/api/question/v1|v2/read/{id}``, and their ECARs (``manifest.json`` + ``hierarchy.json``)
  built on the fly at ``/ecar/{id}.ecar``;
* the **target** question set service (the consumption instance): ``/question|questionset/v4|v5/``
  ``create``, ``system/update``, ``read``, ``review``, ``publish``, and ``questionset/.../hierarchy/update``.
  Create refuses an existing identifier ("already exists"); publish makes the set, and the questions
  in its hierarchy, Live ``publish_s`` later (seen on the next read).
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from typing import Any
from urllib.parse import quote, unquote

from sandbox.content import client_error, ok
from sandbox.routes import Call, Reply, Router



QUESTION_ITSELF = ("body", "editorState", "answer", "solutions", "instructions", "hints", "media", "interactions",
                   "responseDeclaration", "outcomeDeclaration", "feedback")


class QuestionSource:
    def __init__(self, server: Router):
        self._url = server.url
        self.sets: dict[str, dict] = {}  # root id -> the tree, as hierarchy.json holds it
        self.questions: dict[str, dict] = {}  # id -> full metadata, with body, answer, ...
        server.route("GET", r"/api/questionset/v1/read/(?P<id>[^/]+)", self._read_set)
        server.route("GET", r"/api/question/(?P<v>v1|v2)/read/(?P<id>[^/]+)", self._read_question)
        server.route("GET", r"/ecar/(?P<id>[^/]+)\.ecar", self._ecar)

    def add_set(self, tree: dict, questions: list[dict]) -> dict:
        """A published set (its tree holds sections and question nodes) and its questions' full data.

        Returns what an import event needs: ``downloadUrl`` and ``repository``.
        """
        self.sets[tree["identifier"]] = tree
        for question in questions:
            self.questions[question["identifier"]] = question
        return {"downloadUrl": f"{self._url}/ecar/{tree['identifier']}.ecar",
                "repository": f"{self._url}/api/questionset/v1/read/{tree['identifier']}"}

    def _read_set(self, call: Call) -> Reply:
        tree = self.sets.get(unquote(call.match["id"]))
        if tree is None:
            return client_error(404, "NOT_FOUND", "questionset not found")
        return ok({"questionset": {k: v for k, v in tree.items() if k != "children"}})

    def _read_question(self, call: Call) -> Reply:
        question = self.questions.get(unquote(call.match["id"]))
        if question is None:
            return client_error(404, "NOT_FOUND", "question not found")
        if (call.match["v"] == "v2") != (question.get("schemaVersion") == "1.1"):
            return client_error(400, "ERR_QUESTION_VERSION", "read QuML 1.1 questions through v2 only")
        fields = [f for f in call.query.get("fields", "").split(",") if f]
        chosen = {k: v for k, v in question.items() if not fields or k in fields or k == "identifier"}
        return ok({"question": chosen})

    def ecar_url(self, identifier: str) -> str:
        return f"{self._url}/ecar/{quote(identifier, safe='')}.ecar"

    def _ecar(self, call: Call) -> Reply:
        """A set's ECAR (manifest and hierarchy), or a question's (its manifest item: the metadata without
        the question itself, which the source read gives)."""
        identifier = unquote(call.match["id"])
        tree, question = self.sets.get(identifier), self.questions.get(identifier)
        if tree is None and question is None:
            return Reply(404, "<html><body>BlobNotFound</body></html>")
        files = {}
        if tree is not None:
            item = {k: v for k, v in tree.items() if k != "children"}
            files["hierarchy.json"] = {"id": "sunbird.questionset.hierarchy", "ver": "1.0", "questionset": tree}
        else:
            item = {k: v for k, v in question.items() if k not in QUESTION_ITSELF}
        files["manifest.json"] = {"id": "sunbird.questionset.archive", "ver": "1.0",
                                  "archive": {"count": 1, "ttl": 24, "items": [item]}}
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, document in files.items():
                archive.writestr(name, json.dumps(document))
        return Reply(200, data.getvalue(), {"Content-Type": "application/zip"})


class QuestionTarget:
    publish_s = 0.1

    def __init__(self, server: Router):
        self._lock = threading.Lock()
        self.objects: dict[str, dict] = {}
        self.hierarchies: dict[str, dict] = {}  # root id -> {"nodesModified", "hierarchy"} as last written
        self._published_at: dict[str, float] = {}
        kinds = r"(?P<kind>question|questionset)/(?P<v>v4|v5)"
        for method, pattern, handler in [
            ("POST", rf"/{kinds}/create", self._create),
            ("PATCH", rf"/{kinds}/system/update/(?P<id>[^/]+)", self._system_update),
            ("GET", rf"/{kinds}/read/(?P<id>[^/]+)", self._read),
            ("POST", rf"/{kinds}/review/(?P<id>[^/]+)", self._review),
            ("POST", rf"/{kinds}/publish/(?P<id>[^/]+)", self._publish),
            ("PATCH", r"/questionset/(?P<v>v4|v5)/hierarchy/update", self._hierarchy_update),
        ]:
            server.route(method, pattern, handler)

    def _object(self, call: Call) -> dict | None:
        found = self.objects.get(unquote(call.match["id"]))
        if found and found["status"] == "Processing" and \
                time.monotonic() - self._published_at[found["identifier"]] >= self.publish_s:
            found["status"] = "Live"
            for member in self._members(found["identifier"]):
                if self.objects.get(member, {}).get("visibility", "Parent") == "Parent":
                    self.objects[member]["status"] = "Live"
        return found

    def _members(self, root_id: str) -> list[str]:
        written = self.hierarchies.get(root_id, {}).get("hierarchy", {})
        return [child for node in written.values() for child in node.get("children", [])]

    def _create(self, call: Call) -> Reply:
        metadata = _part(call.body, call.match["kind"])
        if not isinstance(metadata, dict) or not metadata.get("identifier"):
            return client_error(400, "ERR_INVALID_REQUEST", "identifier is required here")
        with self._lock:
            if metadata["identifier"] in self.objects:
                return client_error(400, "CONSTRAINT_VALIDATION",
                                    f"Object already exists with identifier: {metadata['identifier']}")
            if "status" in metadata:
                return client_error(400, "ERR_INVALID_REQUEST", "status cannot be set on create")
            self.objects[metadata["identifier"]] = {**metadata, "status": "Draft", "objectType":
                                                    "Question" if call.match["kind"] == "question" else "QuestionSet",
                                                    "apiVersion": call.match["v"]}
        return ok({"identifier": metadata["identifier"], "versionKey": str(time.time_ns())})

    def _system_update(self, call: Call) -> Reply:
        metadata = _part(call.body, call.match["kind"])
        with self._lock:
            found = self._object(call)
            if found is None or not isinstance(metadata, dict):
                return client_error(404, "NOT_FOUND", "object not found")
            found.update(metadata)
            return ok({"identifier": found["identifier"]})

    def _read(self, call: Call) -> Reply:
        with self._lock:
            found = self._object(call)
            if found is None:
                return client_error(404, "NOT_FOUND", "object not found")
            return ok({call.match["kind"]: dict(found)})

    def _review(self, call: Call) -> Reply:
        with self._lock:
            found = self._object(call)
            if found is None:
                return client_error(404, "NOT_FOUND", "object not found")
            found["status"] = "Review"
            return ok({"identifier": found["identifier"]})

    def _publish(self, call: Call) -> Reply:
        with self._lock:
            found = self._object(call)
            if found is None:
                return client_error(404, "NOT_FOUND", "object not found")
            found["status"] = "Processing"
            self._published_at[found["identifier"]] = time.monotonic()
            return ok({"identifier": found["identifier"], "message": "Question is successfully sent for Publish"})

    def _hierarchy_update(self, call: Call) -> Reply:
        data = _part(call.body, "data")
        nodes = data.get("nodesModified") if isinstance(data, dict) else None
        hierarchy = data.get("hierarchy") if isinstance(data, dict) else None
        if not isinstance(nodes, dict) or not isinstance(hierarchy, dict):
            return client_error(400, "ERR_INVALID_REQUEST", "nodesModified and hierarchy are required")
        roots = [key for key, node in hierarchy.items() if isinstance(node, dict) and node.get("root")]
        with self._lock:
            if len(roots) != 1 or roots[0] not in self.objects:
                return client_error(400, "ERR_INVALID_ROOT_ID", "exactly one existing root is required")
            unknown = [child for node in hierarchy.values() for child in node.get("children", [])
                       if child not in self.objects and child not in nodes]
            if unknown:
                return client_error(400, "ERR_INVALID_CHILDREN", f"unknown children: {unknown}")
            for key, node in nodes.items():
                if node.get("isNew"):
                    self.objects[key] = {**node.get("metadata", {}), "identifier": key, "status": "Draft",
                                         "objectType": "QuestionSet"}
            self.hierarchies[roots[0]] = {"nodesModified": nodes, "hierarchy": hierarchy}
        return ok({"identifiers": {key: key for key in nodes}})


def _part(body: Any, name: str) -> Any:
    request = body.get("request") if isinstance(body, dict) else None
    return request.get(name) if isinstance(request, dict) else None
