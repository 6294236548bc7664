"""Question sets for the auto-creator-v2 tests and the demo: built in the sandbox's source."""

from __future__ import annotations

import copy
import json
from pathlib import Path

EXAMPLES = [json.loads(line) for line in
            (Path(__file__).resolve().parents[1] / "sandbox" / "events" / "auto-creator-v2.events.jsonl")
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
                 extra_root: dict | None = None) -> tuple[dict, dict]:
    """A set with a section holding q1, q2 and a nested section with q4, q3 directly under the root,
    a hidden nested set, and q5 rejected. Returns ``(event, questions by id)``."""
    qs = {q["identifier"]: q for q in (question("do_q1"), question("do_q2", appIcon=sandbox.files.add(
        "q2-icon.png", b"\x89PNG q2", "image/png")), question("do_q3", schema="1.1"), question("do_q4"),
        question("do_q5"), question("do_hidden_q"))}
    tree = {"identifier": identifier, "objectType": "QuestionSet", "name": "LearningHTML", "code": "9ae33d1e",
            "mimeType": "application/vnd.sunbird.questionset", "primaryCategory": "Practice Question Set",
            "status": "Live", "pkgVersion": 1, "versionKey": "1616751174274", "channel": "01309282781705830427",
            "acceptedContributions": accepted if accepted is not None else ["do_q1", "do_q2", "do_q3", "do_q4"],
            "variants": {"spine": {"ecarUrl": "https://source.test/spine.ecar", "size": 1}},
            "appIcon": sandbox.files.add("set-icon.png", b"\x89PNG set", "image/png"),
            "children": [
                section("do_s1", [node(qs["do_q1"]), node(qs["do_q2"]), section("do_s2", [node(qs["do_q4"])])]),
                node(qs["do_q3"]), node(qs["do_q5"]),
                section("do_hidden", [node(qs["do_hidden_q"])], visibility="Default"),
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
