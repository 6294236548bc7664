"""Linking an imported object into the units of collections (textbooks), as both auto-creators do.

:func:`units` reads the event's ``edata.collection`` entries up front: each distinct pair of a
collection id and a unit id, at most ``limit`` of them (more fails the event before any call, so one
event cannot make thousands of reads). :func:`link` then reads each collection's hierarchy once and,
for each of its units among the hierarchy's nodes, adds the object under it. A unit that is not there
is skipped silently, as in the originals.
"""

from __future__ import annotations

from connectors.sunbird import ContentService
from flows.event import BadValue, is_blank, lookup


def units(event: dict, limit: int) -> dict[str, list[str]]:
    """Collection id -> its unit ids, without repeats and in the event's order."""
    entries = lookup(event, "edata.collection") or []
    found: dict[str, list[str]] = {}
    count = 0
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        collection_id, unit_id = entry.get("identifier"), entry.get("unitId")
        if not isinstance(collection_id, str) or not isinstance(unit_id, str) \
                or is_blank(collection_id) or is_blank(unit_id):
            continue
        unit_ids = found.setdefault(collection_id, [])
        if unit_id not in unit_ids:
            count += 1
            if count > limit:
                raise BadValue("edata.collection", f"at most {limit} distinct collection units "
                                                   "(collections.max_units)", entries)
            unit_ids.append(unit_id)
    return found


def link(content: ContentService, collection_units: dict[str, list[str]], identifier: str) -> None:
    for collection_id, unit_ids in collection_units.items():
        nodes = content.hierarchy(collection_id).get("childNodes")
        nodes = nodes if isinstance(nodes, list) else []  # not a substring of a text, nor "in" a number
        for unit_id in unit_ids:
            if unit_id in nodes:
                content.add_to_hierarchy(collection_id, unit_id, identifier)
