"""Linking into collection units (flows/sunbird/hierarchy.py, against the sandbox)."""

import pytest

from connectors.async_http import AsyncHttpClient
from connectors.http import HttpSettings
from connectors.retry import RetryPolicy
from connectors.sunbird import ApiError, ContentService
from flows.runtime.event import BadValue
from flows.sunbird import hierarchy
from flows.sunbird.hierarchy import children_of, units
from sandbox.routes import Reply
from tests.conftest import on_the_loop


def content(sandbox, base=""):
    return ContentService(AsyncHttpClient("test", HttpSettings(2, 5, 4, {}), RetryPolicy(1, 5, 0.01)),
                          sandbox.url + base)


def link(*args):
    return on_the_loop(hierarchy.link(*args))


def event(*entries):
    return {"edata": {"collection": list(entries)}}


def link_all(service, an_event, identifier, limit=100, attempts=3):
    for collection_id, unit_ids in units(an_event, limit).items():
        errors = link(service, collection_id, [(identifier, unit_ids)], attempts)
        if errors:
            raise ApiError(errors[identifier])


def test_a_unit_of_the_collection_gets_the_object(sandbox):
    sandbox.content.add_collection("do_234", ["do_345"])
    link_all(content(sandbox), event({"identifier": "do_234", "unitId": "do_345"}), "do_123")
    assert sandbox.content.collections["do_234"]["do_345"] == ["do_123"]


def test_unknown_units_blank_entries_and_no_collection_are_skipped(sandbox):
    sandbox.content.add_collection("do_234", ["do_345"])
    link_all(content(sandbox), event({"identifier": "do_234", "unitId": "do_999"}, {"identifier": " ", "unitId": "u"},
                                 {}, "text"), "do_123")
    link_all(content(sandbox), {"edata": {}}, "do_123")
    assert sandbox.journal.count("PATCH") == 0 and sandbox.journal.count("GET") == 1


def test_a_missing_collection_fails(sandbox):
    with pytest.raises(ApiError, match="Unable to fetch collection hierarchy for : do_404 | Response Code : 404"):
        link_all(content(sandbox), event({"identifier": "do_404", "unitId": "u"}), "do_123")


def test_a_refused_add_fails(sandbox):
    sandbox.content.add_collection("do_234", ["do_345"])
    sandbox.faults.script("PATCH", "/content/v3/hierarchy/add", [400])
    with pytest.raises(ApiError, match="Hierarchy Update Failed For : do_234"):
        link_all(content(sandbox), event({"identifier": "do_234", "unitId": "do_345"}), "do_123")


def test_repeated_entries_are_linked_once_and_each_collection_read_once(sandbox):
    sandbox.content.add_collection("do_234", ["do_345", "do_346"])
    entries = [{"identifier": "do_234", "unitId": "do_345"}, {"identifier": "do_234", "unitId": "do_346"}] * 15_000
    link_all(content(sandbox), event(*entries), "do_123")
    assert sandbox.journal.count("GET") == 1 + 1 and sandbox.journal.count("PATCH") == 2  # one read checks the adds


def test_more_distinct_units_than_allowed_fail_before_any_call(sandbox):
    entries = [{"identifier": f"do_{i}", "unitId": "u"} for i in range(30_000)]
    with pytest.raises(BadValue, match="at most 100 distinct collection units"):
        link_all(content(sandbox), event(*entries), "do_123")
    assert sandbox.journal.count() == 0


@pytest.mark.parametrize("child_nodes", [5, True, 1.5, "do_345"])
def test_child_nodes_that_are_not_a_list_link_nothing(sandbox, child_nodes):
    """A hostile or broken content service: ``childNodes`` of another type is no unit (it raised TypeError,
    an unexpected error with a traceback, or matched a unit id inside a string)."""
    sandbox.route("GET", r"/odd/content/v3/hierarchy/do_234", lambda call: Reply(200, {
        "responseCode": "OK", "result": {"content": {"childNodes": child_nodes}}}))
    odd = content(sandbox, "/odd")
    link_all(odd, event({"identifier": "do_234", "unitId": "do_345"}), "do_123")
    assert sandbox.journal.count("PATCH") == 0


def test_an_add_that_a_concurrent_writer_overwrote_is_repeated_then_fails(sandbox):
    """The hierarchy is read after each add: a child missing from its unit is added again, at most
    ``attempts`` adds in all."""
    sandbox.content.add_collection("do_234", ["do_345"])
    sandbox.content.lost_adds = 2
    link_all(content(sandbox), event({"identifier": "do_234", "unitId": "do_345"}), "do_123", attempts=3)
    assert sandbox.content.collections["do_234"]["do_345"] == ["do_123"]
    assert sandbox.journal.count("PATCH") == 3
    sandbox.content.lost_adds = 3
    with pytest.raises(ApiError, match="still not under unit do_345 of collection do_234 after 3 adds"):
        link_all(content(sandbox), event({"identifier": "do_234", "unitId": "do_345"}), "do_777", attempts=3)


def test_children_of_reads_the_tree_and_else_the_flat_nodes():
    def is_under(hierarchy, unit_id, identifier):
        return identifier in children_of(hierarchy, unit_id)

    tree = {"identifier": "c", "children": [{"identifier": "u1", "children": [{"identifier": "x"}]},
                                            {"identifier": "u2", "children": []}]}
    assert is_under(tree, "u1", "x") and not is_under(tree, "u2", "x") and not is_under(tree, "u3", "x")
    assert is_under({"childNodes": ["u1", "x"]}, "u1", "x") and not is_under({"childNodes": ["u1"]}, "u1", "x")
    deep = node = {"identifier": "c", "children": []}
    for depth in range(5000):  # a deep tree is walked without recursion
        child = {"identifier": f"n{depth}", "children": []}
        node["children"].append(child)
        node = child
    node["children"].append({"identifier": "x"})
    assert is_under(deep, "n4999", "x")


def test_objects_for_one_collection_are_added_per_unit_in_one_call_and_checked_in_one_read(sandbox):
    sandbox.content.add_collection("do_234", ["u1", "u2"])
    adds = [(f"do_{n}", ["u1", "u2"] if n % 2 else ["u1", "gone"]) for n in range(10)]
    assert link(content(sandbox), "do_234", adds, 3) == {}
    assert sandbox.content.collections["do_234"] == {"u1": [f"do_{n}" for n in range(10)],
                                                     "u2": [f"do_{n}" for n in range(1, 10, 2)]}
    assert sandbox.journal.count("GET") == 2 and sandbox.journal.count("PATCH") == 2


def test_only_the_objects_a_concurrent_writer_dropped_are_added_again(sandbox):
    sandbox.content.add_collection("do_234", ["u1"])
    sandbox.content.lost_adds = 1
    assert link(content(sandbox), "do_234", [("do_1", ["u1"]), ("do_2", ["u1"])], 3) == {}
    assert sandbox.content.collections["do_234"]["u1"] == ["do_1", "do_2"]
    sandbox.content.lost_adds = 3
    errors = link(content(sandbox), "do_234", [("do_3", ["u1"]), ("do_1", ["u1"])], 3)
    assert errors == {"do_3": "do_3 is still not under unit u1 of collection do_234 after 3 adds (retry.max_attempts)"}


def test_children_that_are_not_text_are_no_children():
    """A hostile or broken content service: an identifier that is a list or an object cannot be put in a set
    (TypeError, a traceback), and a number is no object's identifier."""
    tree = {"identifier": "c", "children": [{"identifier": "u1", "children": [
        {"identifier": ["x"]}, {"identifier": {"x": 1}}, {"identifier": 5}, "x", {"identifier": "y"}]}]}
    assert children_of(tree, "u1") == {"y"}
    assert children_of({"childNodes": [["x"], {"x": 1}, "y"]}, "u1") == {"y"}
