"""Which events the content-auto-creator acts on: the spec's §2, in its order.

1. ``isValid``: iteration within ``maxIteration``, action ``auto-create``, an ``object.id``,
   a ``context.channel``, an allowed ``edata.objectType``, non-empty ``edata.metadata``, and
   ``edata.repository`` present or ``metadata.artifactUrl`` non-blank;
2. ``validateStage``: ``edata.stage`` empty or one of the allowed stages (exact, untrimmed);
3. ``validateMetadata``: every mandatory field present in the metadata (values not checked).

A failed rule skips the event; a value of the wrong type fails it (``BadValue``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.runtime.event import BadValue, is_blank, lookup, mapping, text

ACTION = "auto-create"


@dataclass(frozen=True)
class Rules:
    max_iteration: int
    allowed_object_types: tuple[str, ...]
    allowed_stages: tuple[str, ...]
    mandatory_fields: tuple[str, ...]


def iteration(event: dict) -> int:
    value = lookup(event, "edata.iteration")
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue("edata.iteration", "a whole number", value)
    return value


def skip_reason(rules: Rules, event: dict) -> str | None:
    """Why the event is skipped, or None when it is processed."""
    return _is_valid(rules, event) or _stage_reason(rules, event) or _metadata_reason(rules, event)


def _is_valid(rules: Rules, event: dict) -> str | None:
    if iteration(event) > rules.max_iteration:
        return f"edata.iteration {iteration(event)} is above maxIteration {rules.max_iteration}"
    if text(event, "edata.action") != ACTION:
        return "edata.action is not auto-create"
    if is_blank(text(event, "object.id")):
        return "object.id is blank"
    if is_blank(text(event, "context.channel")):
        return "context.channel is blank"
    if text(event, "edata.objectType") not in rules.allowed_object_types:
        return "edata.objectType is not an allowed object type"
    if not mapping(event, "edata.metadata"):
        return "edata.metadata is empty"
    if lookup(event, "edata.repository") is None and is_blank(text(event, "edata.metadata.artifactUrl")):
        return "neither edata.repository nor edata.metadata.artifactUrl is given"
    return None


def _stage_reason(rules: Rules, event: dict) -> str | None:
    stage = text(event, "edata.stage") or ""
    if stage and stage not in rules.allowed_stages:
        return f"edata.stage {stage!r} is not an allowed stage"
    return None


def _metadata_reason(rules: Rules, event: dict) -> str | None:
    if not rules.mandatory_fields:
        return "content_mandatory_fields is empty, so no event qualifies"
    metadata = mapping(event, "edata.metadata")
    missing = [field for field in rules.mandatory_fields if field not in metadata]
    return f"edata.metadata lacks {', '.join(missing)}" if missing else None
