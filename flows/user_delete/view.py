"""The fields of a user-delete or ownership-transfer event that the job reads, by name (each read as
:func:`flows.runtime.event.text` reads: None when missing, :class:`~flows.runtime.event.BadValue` when of
another type)."""

from __future__ import annotations

from dataclasses import dataclass

from flows.runtime.event import mapping, text, text_list


@dataclass(frozen=True)
class UserEvent:
    raw: dict

    @property
    def action(self) -> str | None:
        return text(self.raw, "edata.action")

    @property
    def object_type(self) -> str | None:
        return text(self.raw, "object.type")

    @property
    def user_id(self) -> str | None:
        """The deleted user."""
        return text(self.raw, "edata.userId")

    @property
    def from_profile(self) -> dict | None:
        return mapping(self.raw, "edata.fromUserProfile")

    @property
    def from_user_id(self) -> str | None:
        """The user whose assets move."""
        return text(self.raw, "edata.fromUserProfile.userId")

    @property
    def to_profile(self) -> dict | None:
        return mapping(self.raw, "edata.toUserProfile")

    def to_profile_text(self, field: str) -> str | None:
        return text(self.raw, f"edata.toUserProfile.{field}")

    @property
    def to_roles(self) -> list[str] | None:
        return text_list(self.raw, "edata.toUserProfile.roles")
