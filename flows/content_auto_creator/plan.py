"""The decisions of the content-auto-creator, as pure functions: the metadata split, the target, the stage matrix.

* :func:`split_metadata`: which metadata goes into the create call and which into update;
* :func:`target_from_search`: what to do with an earlier auto-created copy, if any;
* :func:`steps`: the stage matrix, which calls run for the target state and the requested stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CREATE, UPDATE, UPLOAD, REVIEW, PUBLISH, NA = "create", "update", "upload", "review", "publish", "na"
FINAL_STATUSES = ("Live", "Unlisted", "Processing")


def split_metadata(metadata: dict, removed: tuple[str, ...], create_props: tuple[str, ...]) -> tuple[dict, dict]:
    """``(create, update)``: the metadata minus the removed keys, split by the create keys."""
    kept = {key: value for key, value in metadata.items() if key not in removed}
    create = {key: value for key, value in kept.items() if key in create_props}
    update = {key: value for key, value in kept.items() if key not in create_props}
    return create, update


@dataclass(frozen=True)
class Target:
    """The state of the content in the target repository: what to do, and its identifier there."""

    stage: str
    internal_id: str | None = None


def as_number(value: Any) -> float:
    """A ``pkgVersion`` as a number: any JSON number or numeric string; anything else is 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0


def _origin_data(hit: dict) -> dict | None:
    """A hit's ``originData``: the index stores it as a JSON string, a service may give an object."""
    value = hit.get("originData")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def earlier_copy(hits: list[dict], object_id: str) -> dict | None:
    """The first hit auto-created from ``object_id`` (its originData says so), or None."""
    for hit in hits:
        origin = _origin_data(hit)
        if origin is None:
            continue
        identifier, repository = origin.get("identifier"), origin.get("repository")
        if (isinstance(identifier, str) and identifier.lower() == object_id.lower()
                and isinstance(repository, str) and repository.strip() and isinstance(hit.get("identifier"), str)):
            return hit
    return None


def target_from_search(hits: list[dict], object_id: str, event_pkg_version: Any) -> Target:
    """Create when there is no earlier copy; else review, update or nothing, by its state."""
    hit = earlier_copy(hits, object_id)
    if hit is None:
        return Target(CREATE)
    if hit.get("status") not in FINAL_STATUSES:
        return Target(REVIEW if hit.get("artifactUrl") else UPDATE, hit["identifier"])
    if as_number(event_pkg_version) > as_number(hit.get("pkgVersion")):
        return Target(UPDATE, hit["identifier"])
    return Target(NA, hit["identifier"])


_FULL = (CREATE, UPDATE, UPLOAD, REVIEW, PUBLISH)
_LAST_STEP = {"": PUBLISH, PUBLISH: PUBLISH, REVIEW: REVIEW, UPLOAD: UPLOAD, CREATE: UPDATE}


def steps(target_stage: str, requested: str) -> tuple[tuple[str, ...], bool]:
    """``(calls, link)``: the stage matrix (README, "The content-auto-creator job").

    The pipeline starts at the target state's step and stops at the requested stage
    (``create`` stops after update, and then collections are not linked).
    For a content already in review, the original published also when ``create`` or
    ``upload`` was asked; here nothing is published that was not asked for.
    """
    requested = requested.strip()
    if target_stage == NA:
        return (), True
    if requested not in _LAST_STEP:
        raise ValueError(f"no pipeline is defined for the stage {requested!r}")
    start = _FULL.index(target_stage)
    stop = _FULL.index(_LAST_STEP[requested])
    if stop < start:  # a content in review, and an earlier stage asked for
        return (REVIEW,), True
    return _FULL[start:stop + 1], requested != CREATE
