"""User-delete events for the tests, the fault tests and the demo: the original's samples, re-aimed."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = (Path(__file__).parent / "events" / "user-delete.events.jsonl").read_bytes().splitlines()


def delete_event(user_id, mid="m") -> bytes:
    """The Lern-shaped delete sample for another user."""
    event = json.loads(EXAMPLES[0])
    event["edata"]["userId"] = event["object"]["id"] = user_id
    event["mid"] = mid
    return json.dumps(event).encode()


def transfer_event(from_user, mid) -> bytes:
    """The ownership-transfer sample, from another user."""
    event = json.loads(EXAMPLES[2])
    event["edata"]["fromUserProfile"]["userId"] = from_user
    event["mid"] = mid
    return json.dumps(event).encode()
