"""The fields of a question or question set import event that the job reads, by name."""

from __future__ import annotations

from dataclasses import dataclass

from flows.runtime.event import lookup, mapping, text


@dataclass(frozen=True)
class ImportEvent:
    raw: dict

    @property
    def action(self) -> str | None:
        return text(self.raw, "edata.action")

    @property
    def identifier(self) -> str | None:
        """The object's id: ``edata.metadata.identifier`` (not ``object.id``)."""
        return text(self.raw, "edata.metadata.identifier")

    @property
    def object_type(self) -> str | None:
        return text(self.raw, "edata.objectType")

    @property
    def repository(self) -> str | None:
        """The source's read URL of the object: present (even empty) or None."""
        return text(self.raw, "edata.repository")

    @property
    def metadata(self) -> dict | None:
        return mapping(self.raw, "edata.metadata")

    @property
    def download_url(self) -> str | None:
        """The source's ECAR of the object."""
        return text(self.raw, "edata.metadata.downloadUrl")

    @property
    def process_id(self) -> str | None:
        return text(self.raw, "edata.metadata.processId")

    @property
    def channel(self) -> str | None:
        """The channel, when it is text (the original never read it; another type means none)."""
        channel = lookup(self.raw, "context.channel")
        return channel if isinstance(channel, str) and channel else None
