"""auto-creator-v2's pure parts: validation, the tree and write bodies (ECAR reading: test_ecar.py)."""

import pytest

from flows.auto_creator_v2.rules import identifier, skip_reason
from flows.auto_creator_v2.tree import accepted, api_version, hierarchy_request, questions_of, write_body
from tests.conftest import changed
from sandbox.questionsets import EXAMPLES, node, question, section

EXAMPLE_A, EXAMPLE_B, EXAMPLE_C = EXAMPLES
PUBLISH = ("status", "variants", "downloadUrl", "pdfUrl", "previewUrl", "pkgVersion", "versionKey", "lastPublishedOn")


def test_the_examples():
    assert skip_reason(EXAMPLE_A) is None and skip_reason(EXAMPLE_B) is None
    assert identifier(EXAMPLE_A) == "do_113244425048121344131"
    assert len(EXAMPLE_A["edata"]) == 8 and len(EXAMPLE_A["edata"]["metadata"]) == 63
    assert skip_reason(EXAMPLE_C) == "edata.action is not auto-create"  # a graph event: no edata


@pytest.mark.parametrize("event, reason", [
    (changed(EXAMPLE_A, "edata.action", "AUTO-CREATE"), "edata.action"),
    (changed(EXAMPLE_A, "edata.metadata.identifier", " "), "identifier is blank"),
    (changed(EXAMPLE_A, "edata.objectType", "Content"), "objectType"),
    (changed(EXAMPLE_A, "edata.objectType", "questionset"), "objectType"),
    (changed(EXAMPLE_A, "edata.repository", KeyError), "repository is missing"),
    (changed(EXAMPLE_A, "edata.repository", None), "repository is missing"),
    (changed(EXAMPLE_A, "edata.metadata.downloadUrl", "https://x/a.zip"), "not an .ecar URL"),
    (changed(EXAMPLE_A, "edata.metadata.downloadUrl", "https://x/a.ECAR"), "not an .ecar URL"),
    (changed(EXAMPLE_A, "edata.metadata.downloadUrl", "https://x/a.ecar?sig=1"), "not an .ecar URL"),
    ({"edata": {"action": "auto-create", "objectType": "QuestionSet", "repository": "", "metadata": {}}},
     "identifier is blank"),
])
def test_each_rule_skips(event, reason):
    assert reason in skip_reason(event)


def test_an_empty_repository_counts_as_present_and_iteration_and_stage_are_not_checked():
    event = changed(changed(EXAMPLE_A, "edata.repository", ""), "edata.iteration", 99)
    assert skip_reason(changed(event, "edata.stage", "anything")) is None


@pytest.mark.parametrize("path, value", [
    ("edata.metadata", ["x"]), ("edata.metadata.identifier", 12), ("edata.objectType", {"a": 1}),
    ("edata.action", ["auto-create"]), ("edata.metadata.downloadUrl", 3.5), ("edata", "text"),
])
def test_a_wrong_type_skips_naming_the_field_as_the_original_did(path, value):
    reason = skip_reason(changed(EXAMPLE_A, path, value))
    assert reason.startswith(path) and "must be" in reason and "read it as absent" in reason


Q = {name: question(name) for name in ("q1", "q2", "q3", "q4", "q5")}
TREE = {"identifier": "root", "objectType": "QuestionSet", "children": [
    section("s1", [node(Q["q1"]), section("s2", [node(Q["q2"])])]),
    node(Q["q3"]),
    section("hidden", [node(Q["q4"])], visibility="Default"),
    {"identifier": "content-1", "objectType": "Content"},
    node(Q["q5"], variants=None, downloadUrl=None),
]}


def test_questions_directly_under_the_root_or_in_parent_sections_at_any_depth():
    assert list(questions_of(TREE, ("QuestionSet",), ("Question",))) == ["q1", "q2", "q3", "q5"]
    assert questions_of({"identifier": "r"}, ("QuestionSet",), ("Question",)) == {}


def test_accepted_contributions_filter():
    found = questions_of(TREE, ("QuestionSet",), ("Question",))
    assert list(accepted(found, ["q1", "q5", "elsewhere"])) == ["q1", "q5"]
    assert accepted(found, []) == found and accepted(found, None) == found


def test_the_hierarchy_holds_sections_and_only_kept_questions():
    nodes, hierarchy = hierarchy_request("root", TREE, {"q1", "q3"}, ("QuestionSet",), ("Question",), PUBLISH)
    assert hierarchy == {"root": {"children": ["s1", "q3"], "root": True},
                         "s1": {"children": ["q1", "s2"], "root": False},
                         "s2": {"children": [], "root": False}}
    assert nodes["root"] == {"metadata": {}, "objectType": "QuestionSet", "root": True, "isNew": False}
    assert nodes["s1"]["isNew"] is True and nodes["s1"]["metadata"]["name"] == "Section s1"
    assert "status" not in nodes["s1"]["metadata"] and "children" not in nodes["s1"]["metadata"]
    assert "hidden" not in nodes and "q2" not in str(hierarchy)


def test_write_body_keeps_the_source_identity_and_drops_what_publish_makes():
    body = write_body("q1", {**Q["q1"], "IL_UNIQUE_ID": "q1", "children": []},
                      "https://src/api/question/v1/read/q1?fields=a,b", PUBLISH)
    assert body["identifier"] == "q1" and body["origin"] == "q1"
    assert body["originData"] == {"identifier": "q1", "repository": "https://src/api/question/v1/read/q1"}
    assert body["body"] == Q["q1"]["body"] and body["responseDeclaration"] == Q["q1"]["responseDeclaration"]
    for dropped in PUBLISH + ("IL_UNIQUE_ID", "children", "objectType"):
        assert dropped not in body


def test_api_version():
    assert api_version({"schemaVersion": "1.1"}) == "v5" and api_version({"schemaVersion": "1.0"}) == "v4"
    assert api_version({}) == "v4"


def test_a_question_listed_twice_is_placed_once_and_a_reused_section_id_is_refused():
    from connectors.ecar import EcarError

    tree = {"identifier": "root", "children": [section("s1", [node(Q["q1"]), node(Q["q2"]), node(Q["q1"])]),
                                               node(Q["q1"])]}
    _, hierarchy = hierarchy_request("root", tree, {"q1", "q2"}, ("QuestionSet",), ("Question",), PUBLISH)
    assert hierarchy["s1"]["children"] == ["q1", "q2"] and hierarchy["root"]["children"] == ["s1"]
    for reused in ("root", "s1", "q2"):
        bad = {"identifier": "root", "children": [section("s1", [node(Q["q2"])]), section(reused, [])]}
        with pytest.raises(EcarError, match="section id"):
            hierarchy_request("root", bad, {"q2"}, ("QuestionSet",), ("Question",), PUBLISH)
