"""The content-auto-creator's pure rules: validation, metadata split, target, stage matrix."""

import json

import pytest

from flows.content_auto_creator import DEFAULTS
from flows.content_auto_creator.plan import (NA, Target, as_number, earlier_copy, split_metadata, steps,
                                             target_from_search)
from flows.content_auto_creator.rules import Rules, skip_reason
from flows.runtime.event import BadValue
from flows.runtime.settings import Reader, load_config
from tests.conftest import EVENTS_DIR, changed

EXAMPLE_A, EXAMPLE_B, EXAMPLE_C = [json.loads(line) for line in
                                   (EVENTS_DIR / "content-auto-creator.events.jsonl").read_text().splitlines()]
RULES = Rules(1, ("Content",), ("create", "upload", "review", "publish"),
              ("name", "code", "mimeType", "primaryCategory", "artifactUrl", "lastPublishedBy"))


def test_the_examples_are_valid():
    for event in (EXAMPLE_A, EXAMPLE_B, EXAMPLE_C):
        assert skip_reason(RULES, event) is None


@pytest.mark.parametrize("event, reason", [
    (changed(EXAMPLE_A, "edata.iteration", 2), "above maxIteration"),
    (changed(EXAMPLE_A, "edata.action", "auto-publish"), "edata.action"),
    (changed(EXAMPLE_A, "edata.action", "AUTO-CREATE"), "edata.action"),
    (changed(EXAMPLE_A, "object.id", " "), "object.id"),
    (changed(EXAMPLE_A, "context.channel", ""), "context.channel"),
    (changed(EXAMPLE_A, "context", {}), "context.channel"),
    (changed(EXAMPLE_A, "edata.objectType", "Question"), "objectType"),
    (changed(EXAMPLE_A, "edata.metadata", {}), "edata.metadata is empty"),
    (changed(changed(EXAMPLE_A, "edata.repository", KeyError), "edata.metadata.artifactUrl", ""), "neither"),
    (changed(changed(EXAMPLE_B, "edata.repository", None), "edata.metadata.artifactUrl", " "), "neither"),
    (changed(EXAMPLE_A, "edata.stage", "Publish"), "stage"),
    (changed(EXAMPLE_A, "edata.stage", " publish"), "stage"),
    (changed(EXAMPLE_A, "edata.metadata.lastPublishedBy", KeyError), "lacks lastPublishedBy"),
    ({}, "edata.action"),
])
def test_each_rule_skips(event, reason):
    assert reason in skip_reason(RULES, event)


def test_repository_alone_is_enough_and_values_of_mandatory_fields_are_not_checked():
    event = changed(changed(EXAMPLE_A, "edata.metadata.artifactUrl", None), "edata.repository", "")
    assert skip_reason(RULES, event) is None
    assert skip_reason(RULES, changed(EXAMPLE_A, "edata.stage", "")) is None
    assert skip_reason(RULES, changed(EXAMPLE_A, "edata.stage", None)) is None


def test_no_mandatory_fields_skips_everything():
    rules = Rules(1, ("Content",), ("publish",), ())
    assert "content_mandatory_fields is empty" in skip_reason(rules, EXAMPLE_A)


def test_wrong_types_raise():
    for event in (changed(EXAMPLE_A, "edata.metadata", "text"), changed(EXAMPLE_A, "edata.iteration", "1"),
                  changed(EXAMPLE_A, "object.id", 7), changed(EXAMPLE_A, "edata.stage", 3)):
        with pytest.raises(BadValue):
            skip_reason(RULES, event)


def test_the_metadata_split_of_example_a():
    reader = Reader(load_config(DEFAULTS, {}))
    create, update = split_metadata(EXAMPLE_A["edata"]["metadata"],
                                    tuple(reader.text_list("content_auto_creator.content_props_to_removed")),
                                    tuple(reader.text_list("content_auto_creator.content_create_props")))
    assert sorted(create) == sorted(["mimeType", "primaryCategory", "contentType", "name", "code", "processId",
                                     "framework"])
    assert "artifactUrl" in update and "appIcon" in update and "source" in update
    for removed in ("channel", "objectType", "identifier", "status", "pkgVersion", "versionKey", "posterImage",
                    "lastPublishedBy", "size"):
        assert removed not in create and removed not in update
    assert len(update) == 41


def hit(**fields):
    base = {"identifier": "do_copy", "status": "Draft",
            "originData": json.dumps({"identifier": "do_1", "repository": "https://src/api/content/v1/read/do_1"})}
    return {**base, **fields}


@pytest.mark.parametrize("hits, pkg, expected", [
    ([], 1, Target("create")),
    ([hit()], 1, Target("update", "do_copy")),
    ([hit(artifactUrl="https://x/a.mp4")], 1, Target("review", "do_copy")),
    ([hit(status="Live", pkgVersion=1)], 2, Target("update", "do_copy")),
    ([hit(status="Unlisted", pkgVersion=2.0)], 2, Target(NA, "do_copy")),
    ([hit(status="Processing", pkgVersion="3")], 2, Target(NA, "do_copy")),
    ([hit(status="Live", pkgVersion=1)], 1.5, Target("update", "do_copy")),
])
def test_the_target_follows_the_earlier_copy(hits, pkg, expected):
    assert target_from_search(hits, "do_1", pkg) == expected


def test_search_edge_cases():
    as_object = hit(originData={"identifier": "DO_1", "repository": "r"})
    assert earlier_copy([as_object], "do_1") is as_object  # an object, not a string; case-insensitive id
    no_match = [hit(originData=json.dumps({"identifier": "other", "repository": "r"})),
                hit(originData=json.dumps({"identifier": "do_1", "repository": ""})),
                hit(originData="not json"), {"identifier": "do_x"}, hit(originData=None)]
    assert target_from_search(no_match, "do_1", 1) == Target("create")  # every hit filtered out
    second = hit(identifier="do_second")
    assert earlier_copy([no_match[0], second], "do_1") is second
    assert as_number("2") == 2.0 and as_number(None) == 0 and as_number(True) == 0


# The stage matrix, every cell; ⚠ cells publish nothing here.
FULL = ("create", "update", "upload", "review", "publish")
MATRIX = {
    ("create", ""): (FULL, True), ("create", "publish"): (FULL, True),
    ("create", "review"): (FULL[:4], True), ("create", "upload"): (FULL[:3], True),
    ("create", "create"): (FULL[:2], False),
    ("update", ""): (FULL[1:], True), ("update", "publish"): (FULL[1:], True),
    ("update", "review"): (FULL[1:4], True), ("update", "upload"): (FULL[1:3], True),
    ("update", "create"): (("update",), False),
    ("review", ""): (("review", "publish"), True), ("review", "publish"): (("review", "publish"), True),
    ("review", "review"): (("review",), True), ("review", "upload"): (("review",), True),
    ("review", "create"): (("review",), True),
    **{("na", stage): ((), True) for stage in ("", "publish", "review", "upload", "create")},
}


@pytest.mark.parametrize("cell", sorted(MATRIX))
def test_stage_matrix(cell):
    assert steps(*cell) == MATRIX[cell]


def test_the_requested_stage_is_trimmed():
    assert steps("create", " review ") == MATRIX[("create", "review")]


def test_an_origin_data_text_nested_too_deep_for_the_parser_is_no_earlier_copy():
    """The search service's ``originData`` string is parsed as JSON: nesting past the parser's recursion
    limit raised RecursionError (an unexpected error), not a "not JSON"."""
    deep = hit(originData="[" * 100_000)
    assert earlier_copy([deep], "do_1") is None
