"""The work of the skipped path, for the peers: parse an event and decide it is not for the job.

Standard library only, so that the Quix Streams peer can run it in its own virtualenv: the same
decision as user-delete's first rule (``edata.action`` must be ``delete-user`` or ``ownership-transfer``).
"""

from __future__ import annotations

ACTIONS = ("delete-user", "ownership-transfer")


def wanted(event: object) -> bool:
    edata = event.get("edata") if isinstance(event, dict) else None
    return isinstance(edata, dict) and edata.get("action") in ACTIONS
