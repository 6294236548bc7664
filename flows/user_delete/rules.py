"""Which events the user-delete job acts on: the original's rel-8 rules, with one fix.

Both topics share one rule, plus one fix: an event's action must belong to its topic
(``delete-user`` on the delete topic, ``ownership-transfer`` on the transfer topic).
A missing or blank value skips the event, as in the original; a value of the wrong
type raises :class:`~flows.runtime.event.BadValue` (the event fails) where the original crashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.runtime.event import is_blank
from flows.user_delete.view import UserEvent

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
    view = UserEvent(event)
    return view.from_user_id if view.action == OWNERSHIP_TRANSFER else view.user_id


def skip_reason(topics: Topics, topic: str, event: dict, check_object_type: bool = True) -> str | None:
    """Why the event is not for this job, or None when it is."""
    view = UserEvent(event)
    action = view.action
    if action not in (DELETE_USER, OWNERSHIP_TRANSFER):
        return "edata.action is not delete-user or ownership-transfer"
    expected = topics.action_for(topic)
    if action != expected:
        return f"edata.action {action} does not belong on topic {topic}"
    if check_object_type:
        object_type = view.object_type
        if object_type is None or object_type.lower() != "user":
            return "object.type is not User"
    if action == DELETE_USER:
        return "edata.userId is blank" if is_blank(view.user_id) else None
    return _transfer_skip_reason(view)


def _transfer_skip_reason(view: UserEvent) -> str | None:
    view.from_profile  # read first: a profile of the wrong type fails before anything else is said of it
    if is_blank(view.from_user_id):
        return "edata.fromUserProfile.userId is blank"
    if view.to_profile is None:
        return "edata.toUserProfile is missing"
    for field in ("userId", "firstName", "lastName"):
        if is_blank(view.to_profile_text(field)):
            return f"edata.toUserProfile.{field} is blank"
    if not view.to_roles:
        return "edata.toUserProfile.roles is empty"
    return None
