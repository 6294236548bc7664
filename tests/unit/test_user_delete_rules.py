import json

import pytest

from flows.runtime.event import BadValue
from flows.user_delete.rules import Topics, entity, skip_reason
from tests.conftest import EVENTS_DIR, changed

TOPICS = Topics("delete.user", "user.ownership.transfer")
EXAMPLES = [json.loads(line) for line in (EVENTS_DIR / "user-delete.events.jsonl").read_text().splitlines()]
DELETE, DELETE_DOC, TRANSFER = EXAMPLES


def test_the_examples_are_valid_on_their_topic():
    assert skip_reason(TOPICS, "delete.user", DELETE) is None
    assert skip_reason(TOPICS, "delete.user", DELETE_DOC) is None
    assert skip_reason(TOPICS, "user.ownership.transfer", TRANSFER) is None


def test_the_entity_is_the_user_the_event_is_about():
    assert entity(DELETE) == DELETE["edata"]["userId"]
    assert entity(TRANSFER) == TRANSFER["edata"]["fromUserProfile"]["userId"]


def test_an_action_on_the_other_topic_is_skipped():
    assert "does not belong" in skip_reason(TOPICS, "user.ownership.transfer", DELETE)
    assert "does not belong" in skip_reason(TOPICS, "delete.user", TRANSFER)


# The original's negative cases, and the other blank values its rules skip.
@pytest.mark.parametrize("event, topic", [
    ({"eid": "BE_JOB_REQUEST", "object": {"id": "u", "ver": "1.0"},  # EventFixture.EVENT_2: no object.type
      "edata": {"action": "delete-user", "userId": "delete-user", "iteration": 1}}, "delete.user"),
    (changed(DELETE, "edata.userId", ""), "delete.user"),
    (changed(DELETE, "edata.userId", "   "), "delete.user"),
    (changed(DELETE, "edata.userId", KeyError), "delete.user"),
    (changed(DELETE, "edata.action", "user-ownership-transfer"), "delete.user"),
    (changed(DELETE, "edata.action", "DELETE-USER"), "delete.user"),
    (changed(DELETE, "edata.action", KeyError), "delete.user"),
    (changed(DELETE, "object.type", "content"), "delete.user"),
    (changed(TRANSFER, "edata.toUserProfile.lastName", ""), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.toUserProfile.lastName", None), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.toUserProfile.firstName", " "), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.toUserProfile.userId", KeyError), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.toUserProfile.roles", []), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.fromUserProfile.userId", ""), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.toUserProfile", KeyError), "user.ownership.transfer"),
    ({}, "delete.user"),
])
def test_invalid_events_are_skipped_with_a_reason(event, topic):
    assert skip_reason(TOPICS, topic, event)


def test_object_type_is_compared_ignoring_case_and_can_be_switched_off():
    assert skip_reason(TOPICS, "delete.user", changed(DELETE, "object.type", "USER")) is None
    no_type = changed(DELETE, "object", {"id": "x"})
    assert skip_reason(TOPICS, "delete.user", no_type) == "object.type is not User"
    assert skip_reason(TOPICS, "delete.user", no_type, check_object_type=False) is None


@pytest.mark.parametrize("event, topic", [
    (changed(DELETE, "edata.userId", 12345), "delete.user"),
    (changed(DELETE, "edata.action", 7), "delete.user"),
    (changed(DELETE, "object", "user"), "delete.user"),
    (changed(TRANSFER, "edata.toUserProfile", "someone"), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.fromUserProfile", "someone"), "user.ownership.transfer"),
    (changed(TRANSFER, "edata.toUserProfile.roles", "CONTENT_CREATOR"), "user.ownership.transfer"),
])
def test_values_of_the_wrong_type_raise(event, topic):
    with pytest.raises(BadValue):
        entity(event)
        skip_reason(TOPICS, topic, event)
