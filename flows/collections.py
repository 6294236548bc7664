"""Linking an imported object into the units of collections (textbooks), as both auto-creators do.

For each ``edata.collection`` entry with a collection id and a unit id: read the collection's
hierarchy; if the unit is among its nodes, add the object under it. A unit that is not there is
skipped silently, as in the originals.
"""

from __future__ import annotations

from connectors.sunbird import ContentService
from flows.event import is_blank, lookup


def link(content: ContentService, event: dict, identifier: str) -> None:
    entries = lookup(event, "edata.collection") or []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        collection_id, unit_id = entry.get("identifier"), entry.get("unitId")
        if not isinstance(collection_id, str) or not isinstance(unit_id, str) \
                or is_blank(collection_id) or is_blank(unit_id):
            continue
        if unit_id in (content.hierarchy(collection_id).get("childNodes") or []):
            content.add_to_hierarchy(collection_id, unit_id, identifier)
