"""The question set's tree, as pure functions, and the bodies written from it.

* :func:`questions_of`: the questions directly under the root or inside ``visibility: Parent``
  sections (at any depth), by identifier;
* :func:`accepted`: only those in ``acceptedContributions`` when that list is not empty;
* :func:`hierarchy_request`: the sections and **only the accepted questions**, as the
  ``hierarchy/update`` API takes them (the original kept rejected questions in the hierarchy);
* :func:`write_body`: an object's metadata for create/system update, without what the target's
  publish produces, with ``origin`` and ``originData``.
"""

from __future__ import annotations

from typing import Any

from connectors.ecar import EcarError

# Keys that describe the tree, not the object; the hierarchy call carries the tree.
TREE_KEYS = ("children", "collection", "questionSet", "hierarchy", "childNodes", "objectType", "parent", "depth",
             "index")


def _is_section(node: dict, expandable: tuple[str, ...]) -> bool:
    visibility = node.get("visibility")
    return node.get("objectType") in expandable and isinstance(visibility, str) and visibility.lower() == "parent"


def _children(node: dict) -> list[dict]:
    children = node.get("children")
    return [child for child in children if isinstance(child, dict)] if isinstance(children, list) else []


def questions_of(root: dict, expandable: tuple[str, ...], leaves: tuple[str, ...]) -> dict[str, dict]:
    """Question nodes under the root and its sections, depth first, by identifier."""
    found: dict[str, dict] = {}
    for node in _children(root):
        identifier = node.get("identifier")
        if node.get("objectType") in leaves and isinstance(identifier, str) and identifier:
            found.setdefault(identifier, node)
        elif _is_section(node, expandable):
            for key, value in questions_of(node, expandable, leaves).items():
                found.setdefault(key, value)
    return found


def accepted(questions: dict[str, dict], contributions: Any) -> dict[str, dict]:
    """Only the accepted contributions, when the set lists any."""
    if not isinstance(contributions, list) or not contributions:
        return questions
    return {key: node for key, node in questions.items() if key in contributions}


def section_metadata(node: dict, publish_props: tuple[str, ...]) -> dict:
    return {key: value for key, value in node.items()
            if key not in TREE_KEYS and key not in publish_props and key != "identifier"}


def hierarchy_request(root_id: str, root: dict, keep: set[str], expandable: tuple[str, ...],
                      leaves: tuple[str, ...], publish_props: tuple[str, ...]) -> tuple[dict, dict]:
    """``(nodesModified, hierarchy)`` for the root: its sections (new nodes) and the kept questions. A
    question listed twice is placed once, where it comes first; a section whose id is taken (the root's,
    another section's, a question's) makes the tree unusable (:class:`EcarError`)."""
    nodes = {root_id: {"metadata": {}, "objectType": "QuestionSet", "root": True, "isNew": False}}
    hierarchy: dict[str, dict] = {}
    placed: set[str] = set()

    def walk(node_id: str, node: dict, is_root: bool) -> None:
        members = []
        for child in _children(node):
            identifier = child.get("identifier")
            if not isinstance(identifier, str) or not identifier:
                continue
            if child.get("objectType") in leaves and identifier in keep:
                if identifier not in placed:
                    placed.add(identifier)
                    members.append(identifier)
            elif _is_section(child, expandable):
                if identifier in nodes or identifier in keep:
                    raise EcarError(f"the hierarchy of {root_id} has the section id {identifier[:100]!r} twice "
                                    "(or as the root's or a question's id)")
                members.append(identifier)
                nodes[identifier] = {"metadata": section_metadata(child, publish_props), "objectType": "QuestionSet",
                                     "root": False, "isNew": True}
                walk(identifier, child, False)
        hierarchy[node_id] = {"children": members, "root": is_root}

    walk(root_id, root, True)
    return nodes, hierarchy


def strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def write_body(identifier: str, metadata: dict, repository: str, publish_props: tuple[str, ...]) -> dict:
    """The metadata to create or overwrite the object with, keeping its source identifier."""
    body = {key: value for key, value in metadata.items()
            if key not in TREE_KEYS and key not in publish_props and not key.startswith("IL_")}
    body.update(identifier=identifier, origin=identifier,
                originData={"identifier": identifier, "repository": strip_query(repository)})
    return body


def api_version(metadata: dict) -> str:
    """``v5`` for QuML 1.1 objects (``schemaVersion`` 1.1), else ``v4``."""
    version = metadata.get("schemaVersion")
    return "v5" if isinstance(version, str) and version.strip().lower() == "1.1" else "v4"
