"""Linking an imported object into the units of collections (textbooks), as both auto-creators do.

:func:`units` reads the event's ``edata.collection`` entries up front: each distinct pair of a
collection id and a unit id, at most ``limit`` of them (more fails the event before any call, so one
event cannot make thousands of reads). The handlers leave the linking to the pipeline, which calls
:func:`link` for one collection at a time (:mod:`flows.runtime.linking`), with every object waiting to go
into it: it reads the hierarchy once and, for each of the units among its nodes, adds all the objects
wanted under it in one call. A unit that is not there is skipped silently, as in the originals. The
adds are checked by reading the hierarchy again, and repeated (at most ``attempts`` adds) for the
objects not under their unit: a writer outside the job may have overwritten them.
"""

from __future__ import annotations

from connectors.sunbird import ContentService
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


async def link(content: ContentService, collection_id: str, adds: list[tuple[str, list[str]]],
         attempts: int) -> dict[str, str]:
    """Add each identifier under each of its units that the collection's hierarchy has: one add per unit
    for all of its identifiers, then one read that checks them all. The identifiers still not under a
    unit after ``attempts`` adds, with why; a refused call raises :class:`ApiError` (for all of them)."""
    nodes = (await content.hierarchy(collection_id)).get("childNodes")
    nodes = nodes if isinstance(nodes, list) else []  # not a substring of a text, nor "in" a number
    missing: dict[str, list[str]] = {}  # unit id -> the identifiers to add under it, in order
    for identifier, unit_ids in adds:
        for unit_id in unit_ids:
            if unit_id in nodes and identifier not in missing.setdefault(unit_id, []):
                missing[unit_id].append(identifier)
    for _ in range(attempts):
        if not missing:
            return {}
        for unit_id, identifiers in missing.items():
            await content.add_to_hierarchy(collection_id, unit_id, identifiers)
        tree = await content.hierarchy(collection_id)
        placed = {unit_id: children_of(tree, unit_id) for unit_id in missing}  # one walk of the tree per unit
        missing = {unit_id: left for unit_id, identifiers in missing.items()
                   if (left := [i for i in identifiers if i not in placed[unit_id]])}
    errors: dict[str, str] = {}
    for unit_id, identifiers in missing.items():
        for identifier in identifiers:
            errors.setdefault(identifier, f"{identifier} is still not under unit {unit_id} of collection "
                                          f"{collection_id} after {attempts} adds (retry.max_attempts)")
    return errors


def children_of(hierarchy: dict, unit_id: str) -> set[str]:
    """The identifiers of the unit's children in the hierarchy's tree; without a tree (only the flat
    ``childNodes``), everything in the collection."""
    stack = [hierarchy]
    while stack:  # a loop, not recursion: the tree may be deep
        node = stack.pop()
        children = node.get("children") if isinstance(node, dict) else None
        children = children if isinstance(children, list) else []
        if node is not hierarchy and isinstance(node, dict) and node.get("identifier") == unit_id:
            return {child.get("identifier") for child in children
                    if isinstance(child, dict) and isinstance(child.get("identifier"), str)}
        stack.extend(children)
    nodes = hierarchy.get("childNodes")
    if "children" in hierarchy or not isinstance(nodes, list):
        return set()
    return {node for node in nodes if isinstance(node, str)}
