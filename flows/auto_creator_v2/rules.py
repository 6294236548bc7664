"""Which events auto-creator-v2 acts on, in the original's order (README, "The auto-creator-v2 job").

``edata.action`` is ``auto-create``; ``edata.metadata.identifier`` is not blank; ``edata.objectType``
is ``Question`` or ``QuestionSet``; ``edata.repository`` is present (even empty); ``edata.metadata``
is not empty; ``edata.metadata.downloadUrl`` is not blank and ends with ``.ecar``. Nothing else is
checked (no iteration limit, no stage). A failed rule skips the event. A value of the wrong type skips
it too, with a reason naming the field: the original read such a field as absent.
"""

from __future__ import annotations

from flows.auto_creator_v2.view import ImportEvent
from flows.runtime.event import BadValue, is_blank

ACTION = "auto-create"
OBJECT_TYPES = ("Question", "QuestionSet")


def identifier(event: dict) -> str | None:
    """The object's id; None when of another type."""
    try:
        return ImportEvent(event).identifier
    except BadValue:
        return None


def skip_reason(event: dict) -> str | None:
    try:
        return _rule_broken(ImportEvent(event))
    except BadValue as err:
        return f"{err} (the original read it as absent and skipped the event)"


def _rule_broken(view: ImportEvent) -> str | None:
    if view.action != ACTION:
        return "edata.action is not auto-create"
    if is_blank(view.identifier):
        return "edata.metadata.identifier is blank"
    if view.object_type not in OBJECT_TYPES:
        return "edata.objectType is not Question or QuestionSet"
    if view.repository is None:
        return "edata.repository is missing"
    if not view.metadata:
        return "edata.metadata is empty"
    if is_blank(view.download_url) or not view.download_url.endswith(".ecar"):
        return "edata.metadata.downloadUrl is not an .ecar URL"
    return None
