"""The fields of a content auto-creation event that the job reads, by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flows.runtime.event import BadValue, lookup, mapping, text


@dataclass(frozen=True)
class ContentEvent:
    raw: dict

    @property
    def iteration(self) -> int:
        """How many times the event was tried (1 when absent)."""
        value = lookup(self.raw, "edata.iteration")
        if value is None:
            return 1
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadValue("edata.iteration", "a whole number", value)
        return value

    @property
    def action(self) -> str | None:
        return text(self.raw, "edata.action")

    @property
    def object_id(self) -> str | None:
        return text(self.raw, "object.id")

    @property
    def channel(self) -> str | None:
        return text(self.raw, "context.channel")

    @property
    def object_type(self) -> str | None:
        return text(self.raw, "edata.objectType")

    @property
    def metadata(self) -> dict | None:
        return mapping(self.raw, "edata.metadata")

    @property
    def artifact_url(self) -> str | None:
        return text(self.raw, "edata.metadata.artifactUrl")

    @property
    def repository(self) -> Any:
        """Where the content came from: present (even empty) or None."""
        return lookup(self.raw, "edata.repository")

    @property
    def stage(self) -> str:
        """How far to go ("" for all the way)."""
        return text(self.raw, "edata.stage") or ""

    @property
    def bulk_identifier(self) -> str | None:
        """A bulk upload's own identifier for the content."""
        return text(self.raw, "edata.identifier")

    @property
    def origin_identifier(self) -> str | None:
        """The id of the content this one was imported from, when the event says so."""
        return text(self.raw, "edata.originData.identifier") if mapping(self.raw, "edata.originData") else None
