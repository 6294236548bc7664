"""Linking an imported object into the units of collections (textbooks), as both auto-creators do.

:func:`units` reads the event's ``edata.collection`` entries up front: each distinct pair of a
collection id and a unit id, at most ``limit`` of them (more fails the event before any call, so one
event cannot make thousands of reads). The handlers leave the linking to the pipeline, which calls
:func:`link` for one collection at a time (:mod:`flows.runtime.linking`): it reads the hierarchy once and, for
each of the units among its nodes, adds the object under it. A unit that is not there is skipped
silently, as in the originals. Each add is checked by reading the hierarchy again and repeated (at
most ``attempts`` adds) while the object is not under the unit: a writer outside the job may have
overwritten it.
"""

from __future__ import annotations

from connectors.sunbird import ApiError, ContentService
from flows.runtime.event import BadValue, is_blank, lookup


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


def link(content: ContentService, collection_id: str, unit_ids: list[str], identifier: str, attempts: int) -> None:
    """Add ``identifier`` under each of the collection's units that its hierarchy has, checking each add."""
    nodes = content.hierarchy(collection_id).get("childNodes")
    nodes = nodes if isinstance(nodes, list) else []  # not a substring of a text, nor "in" a number
    for unit_id in unit_ids:
        if unit_id not in nodes:
            continue
        for _ in range(attempts):
            content.add_to_hierarchy(collection_id, unit_id, identifier)
            if is_under(content.hierarchy(collection_id), unit_id, identifier):
                break
        else:
            raise ApiError(f"{identifier} is still not under unit {unit_id} of collection {collection_id} "
                           f"after {attempts} adds (retry.max_attempts)")


def is_under(hierarchy: dict, unit_id: str, identifier: str) -> bool:
    """Whether the hierarchy's tree has ``identifier`` among the unit's children; without a tree (only
    the flat ``childNodes``), whether it is anywhere in the collection."""
    stack = [hierarchy]
    while stack:  # a loop, not recursion: the tree may be deep
        node = stack.pop()
        children = node.get("children") if isinstance(node, dict) else None
        children = children if isinstance(children, list) else []
        if node is not hierarchy and isinstance(node, dict) and node.get("identifier") == unit_id:
            return any(isinstance(child, dict) and child.get("identifier") == identifier for child in children)
        stack.extend(children)
    nodes = hierarchy.get("childNodes")
    return "children" not in hierarchy and isinstance(nodes, list) and identifier in nodes
