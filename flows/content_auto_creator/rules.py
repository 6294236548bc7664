"""Which events the content-auto-creator acts on, in the original's order (README, "The content-auto-creator job").

1. ``isValid``: iteration within ``maxIteration``, action ``auto-create``, an ``object.id``,
   a ``context.channel``, an allowed ``edata.objectType``, non-empty ``edata.metadata``, and
   ``edata.repository`` present or ``metadata.artifactUrl`` non-blank;
2. ``validateStage``: ``edata.stage`` empty or one of the allowed stages (exact, untrimmed);
3. ``validateMetadata``: every mandatory field present in the metadata (values not checked).

A failed rule skips the event; a value of the wrong type fails it (``BadValue``).
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.content_auto_creator.view import ContentEvent
from flows.runtime.event import is_blank

ACTION = "auto-create"


@dataclass(frozen=True)
class Rules:
    max_iteration: int
    allowed_object_types: tuple[str, ...]
    allowed_stages: tuple[str, ...]
    mandatory_fields: tuple[str, ...]


def skip_reason(rules: Rules, event: dict) -> str | None:
    """Why the event is skipped, or None when it is processed."""
    view = ContentEvent(event)
    return _is_valid(rules, view) or _stage_reason(rules, view) or _metadata_reason(rules, view)


def _is_valid(rules: Rules, view: ContentEvent) -> str | None:
    if view.iteration > rules.max_iteration:
        return f"edata.iteration {view.iteration} is above maxIteration {rules.max_iteration}"
    if view.action != ACTION:
        return "edata.action is not auto-create"
    if is_blank(view.object_id):
        return "object.id is blank"
    if is_blank(view.channel):
        return "context.channel is blank"
    if view.object_type not in rules.allowed_object_types:
        return "edata.objectType is not an allowed object type"
    if not view.metadata:
        return "edata.metadata is empty"
    if view.repository is None and is_blank(view.artifact_url):
        return "neither edata.repository nor edata.metadata.artifactUrl is given"
    return None


def _stage_reason(rules: Rules, view: ContentEvent) -> str | None:
    if view.stage and view.stage not in rules.allowed_stages:
        return f"edata.stage {view.stage!r} is not an allowed stage"
    return None


def _metadata_reason(rules: Rules, view: ContentEvent) -> str | None:
    if not rules.mandatory_fields:
        return "content_mandatory_fields is empty, so no event qualifies"
    missing = [field for field in rules.mandatory_fields if field not in view.metadata]
    return f"edata.metadata lacks {', '.join(missing)}" if missing else None
