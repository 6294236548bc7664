"""Which events auto-creator-v2 acts on: the spec's §3, in its order.

``edata.action`` is ``auto-create``; ``edata.metadata.identifier`` is not blank; ``edata.objectType``
is ``Question`` or ``QuestionSet``; ``edata.repository`` is present (even empty); ``edata.metadata``
is not empty; ``edata.metadata.downloadUrl`` is not blank and ends with ``.ecar``. Nothing else is
checked (no iteration limit, no stage). A failed rule skips the event. A value of the wrong type skips
it too, with a reason naming the field: the original read such a field as absent (spec §2.3).
"""

from __future__ import annotations

from flows.runtime.event import BadValue, is_blank, lookup, mapping, text

ACTION = "auto-create"
OBJECT_TYPES = ("Question", "QuestionSet")


def identifier(event: dict) -> str | None:
    """The object's id: ``edata.metadata.identifier`` (not ``object.id``); None when of another type."""
    try:
        return text(event, "edata.metadata.identifier")
    except BadValue:
        return None


def skip_reason(event: dict) -> str | None:
    try:
        return _rule_broken(event)
    except BadValue as err:
        return f"{err} (the original read it as absent and skipped the event)"


def _rule_broken(event: dict) -> str | None:
    if text(event, "edata.action") != ACTION:
        return "edata.action is not auto-create"
    if is_blank(text(event, "edata.metadata.identifier")):
        return "edata.metadata.identifier is blank"
    if text(event, "edata.objectType") not in OBJECT_TYPES:
        return "edata.objectType is not Question or QuestionSet"
    if lookup(event, "edata.repository") is None:
        return "edata.repository is missing"
    if not mapping(event, "edata.metadata"):
        return "edata.metadata is empty"
    download_url = text(event, "edata.metadata.downloadUrl")
    if is_blank(download_url) or not download_url.endswith(".ecar"):
        return "edata.metadata.downloadUrl is not an .ecar URL"
    return None
