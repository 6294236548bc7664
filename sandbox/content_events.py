"""content-auto-creator events for the bench and the tests: the spec's second sample event (a bulk
upload with its artifact) for other contents."""

from __future__ import annotations

import copy
import json
from pathlib import Path

EXAMPLES = [json.loads(line) for line in
            (Path(__file__).parent / "events" / "content-auto-creator.events.jsonl").read_text().splitlines()]


def upload_event(identifier: str, artifact_url: str) -> bytes:
    """The sample for the content ``identifier`` whose artifact is at ``artifact_url``: no icon, no collection."""
    event = copy.deepcopy(EXAMPLES[1])
    event["object"]["id"] = event["edata"]["identifier"] = identifier
    event["edata"]["metadata"].update(appIcon="", artifactUrl=artifact_url)
    event["edata"]["collection"] = []
    return json.dumps(event).encode()
