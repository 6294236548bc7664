"""Question sets for the auto-creator-v2 tests and the demo, built in the sandbox's source."""

from __future__ import annotations

import copy
import json
from pathlib import Path

EXAMPLES = [json.loads(line) for line in
            (Path(__file__).parent / "events" / "auto-creator-v2.events.jsonl")
            .read_text().splitlines()]


def question(identifier: str, schema: str = "1.0", **extra) -> dict:
    """A published question's full data at the source."""
    return {"identifier": identifier, "objectType": "Question", "name": f"Question {identifier}",
            "code": f"code-{identifier}", "mimeType": "application/vnd.sunbird.question",
            "primaryCategory": "Multiple Choice Question", "schemaVersion": schema, "visibility": "Parent",
            "body": "<p>2 + 2 = ?</p>", "answer": "<p>4</p>", "editorState": {"options": [{"value": 4}]},
            "responseDeclaration": {"response1": {"correctResponse": {"value": 0}}},
            "interactions": {"response1": {"type": "choice"}}, "status": "Live", "pkgVersion": 2,
            "versionKey": "1616751174274", "previewUrl": "https://source.test/preview.html",
            "downloadUrl": f"https://source.test/{identifier}.ecar", "lastPublishedBy": "reviewer-1", **extra}


def node(data: dict, **changes) -> dict:
    """A question's node in the set's hierarchy."""
    keep = ("identifier", "objectType", "visibility", "schemaVersion", "downloadUrl", "name")
    found = {key: data[key] for key in keep if key in data}
    found["variants"] = {"full": {"ecarUrl": f"https://source.test/{data['identifier']}_full.ecar", "size": 10}}
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def section(identifier: str, children: list[dict], visibility: str = "Parent") -> dict:
    return {"identifier": identifier, "objectType": "QuestionSet", "visibility": visibility,
            "name": f"Section {identifier}", "code": f"code-{identifier}", "primaryCategory": "Practice Question Set",
            "mimeType": "application/vnd.sunbird.questionset", "status": "Live", "children": children}


def question_set(sandbox, identifier: str = "do_113244425048121344131", accepted: list[str] | None = None,
                 extra_root: dict | None = None, prefix: str = "do_") -> tuple[dict, dict]:
    """A set with a section holding q1, q2 and a nested section with q4, q3 directly under the root,
    a hidden nested set, and q5 rejected (question ids ``<prefix>q1`` ...). Returns ``(event, questions by id)``."""
    n = {name: f"{prefix}{name}" for name in ("q1", "q2", "q3", "q4", "q5", "hidden_q")}
    qs = {q["identifier"]: q for q in (question(n["q1"]), question(n["q2"], appIcon=sandbox.files.add(
        "q2-icon.png", b"\x89PNG q2", "image/png")), question(n["q3"], schema="1.1"), question(n["q4"]),
        question(n["q5"]), question(n["hidden_q"]))}
    for data in qs.values():
        data["downloadUrl"] = sandbox.source.ecar_url(data["identifier"])
    tree = {"identifier": identifier, "objectType": "QuestionSet", "name": "LearningHTML", "code": "9ae33d1e",
            "mimeType": "application/vnd.sunbird.questionset", "primaryCategory": "Practice Question Set",
            "status": "Live", "pkgVersion": 1, "versionKey": "1616751174274", "channel": "01309282781705830427",
            "acceptedContributions": accepted if accepted is not None else [n["q1"], n["q2"], n["q3"], n["q4"]],
            "variants": {"spine": {"ecarUrl": "https://source.test/spine.ecar", "size": 1}},
            "appIcon": sandbox.files.add("set-icon.png", b"\x89PNG set", "image/png"),
            "children": [
                section(f"{prefix}s1", [node(qs[n["q1"]]), node(qs[n["q2"]]),
                                        section(f"{prefix}s2", [node(qs[n["q4"]])])]),
                node(qs[n["q3"]]), node(qs[n["q5"]]),
                section(f"{prefix}hidden", [node(qs[n["hidden_q"]])], visibility="Default"),
            ], **(extra_root or {})}
    urls = sandbox.source.add_set(tree, list(qs.values()))
    event = copy.deepcopy(EXAMPLES[0])
    event["object"]["id"] = identifier
    metadata = event["edata"]["metadata"]
    metadata.update(identifier=identifier, downloadUrl=urls["downloadUrl"])
    event["edata"]["repository"] = urls["repository"]
    for entry in event["edata"]["collection"]:
        sandbox.content.add_collection(entry["identifier"], [entry["unitId"]])
    return event, qs
