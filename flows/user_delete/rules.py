"""Which events the user-delete job acts on (spec §2-§3, rel-8, with the fixes of §10).

Both topics share one rule, plus one fix: an event's action must belong to its topic
(``delete-user`` on the delete topic, ``ownership-transfer`` on the transfer topic).
A missing or blank value skips the event, as in the original; a value of the wrong
type raises :class:`~flows.runtime.event.BadValue` (the event fails) where the original crashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.runtime.event import is_blank, mapping, text, text_list

DELETE_USER = "delete-user"
OWNERSHIP_TRANSFER = "ownership-transfer"


@dataclass(frozen=True)
class Topics:
    user_delete: str
    ownership_transfer: str | None  # None: the delete topic only (as rel-7)

    def action_for(self, topic: str) -> str | None:
        """The one action an event on ``topic`` may carry."""
        return {self.user_delete: DELETE_USER, self.ownership_transfer: OWNERSHIP_TRANSFER}.get(topic)


def entity(event: dict) -> str | None:
    """The user the event is about: the deleted user, or the user whose assets move."""
    if text(event, "edata.action") == OWNERSHIP_TRANSFER:
        return text(event, "edata.fromUserProfile.userId")
    return text(event, "edata.userId")


def skip_reason(topics: Topics, topic: str, event: dict, check_object_type: bool = True) -> str | None:
    """Why the event is not for this job, or None when it is."""
    action = text(event, "edata.action")
    if action not in (DELETE_USER, OWNERSHIP_TRANSFER):
        return "edata.action is not delete-user or ownership-transfer"
    expected = topics.action_for(topic)
    if action != expected:
        return f"edata.action {action} does not belong on topic {topic}"
    if check_object_type:
        object_type = text(event, "object.type")
        if object_type is None or object_type.lower() != "user":
            return "object.type is not User"
    if action == DELETE_USER:
        return "edata.userId is blank" if is_blank(text(event, "edata.userId")) else None
    return _transfer_skip_reason(event)


def _transfer_skip_reason(event: dict) -> str | None:
    mapping(event, "edata.fromUserProfile")
    if is_blank(text(event, "edata.fromUserProfile.userId")):
        return "edata.fromUserProfile.userId is blank"
    if mapping(event, "edata.toUserProfile") is None:
        return "edata.toUserProfile is missing"
    for field in ("userId", "firstName", "lastName"):
        if is_blank(text(event, f"edata.toUserProfile.{field}")):
            return f"edata.toUserProfile.{field} is blank"
    if not text_list(event, "edata.toUserProfile.roles"):
        return "edata.toUserProfile.roles is empty"
    return None
