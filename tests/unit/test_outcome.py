import json

from connectors.failed_records import next_iteration
from connectors.kafka import SourceMessage
from flows.runtime.outcome import BAD_INPUT, FAILED, Outcome, failed_record, failed_record_or_stand_in

MESSAGE = SourceMessage(key=b"k", value=b'{"edata":{"iteration":2}}', topic="t", partition=1, offset=7)


def test_failed_record_format():
    outcome = Outcome(MESSAGE, FAILED, event={"mid": "m", "edata": {"iteration": 2, "userId": "u"}},
                      stage="process", detail="HTTP 500", status=500)
    record = failed_record("user-delete", outcome)
    assert record.key == b"k"
    assert json.loads(record.value) == {
        "mid": "m", "edata": {"iteration": 3, "userId": "u"}, "jobName": "user-delete",
        "failInfo": {"error": "HTTP 500", "stage": "process", "status": 500}}
    assert dict(record.headers) == {"job": b"user-delete", "error": b"HTTP 500", "stage": b"process",
                                    "source.topic": b"t", "source.partition": b"1", "source.offset": b"7"}


def test_bad_input_keeps_the_bytes():
    raw = SourceMessage(key=None, value=b"\x00not json", topic="t", partition=0, offset=1)
    record = failed_record("user-delete", Outcome(raw, BAD_INPUT, stage="parse", detail="not JSON"))
    assert record.value == b"\x00not json"
    assert dict(record.headers)["stage"] == b"parse"


def test_iteration_starts_at_one_and_the_event_is_not_changed():
    event = {"edata": {"iteration": "x"}}
    assert next_iteration(event)["edata"]["iteration"] == 1
    assert next_iteration({})["edata"] == {"iteration": 1}
    assert event == {"edata": {"iteration": "x"}}


def test_a_record_with_surrogates_in_event_and_error_is_written():
    outcome = Outcome(MESSAGE, FAILED, event={"mid": "\udc80", "edata": {"userId": "\ud800"}}, stage="process",
                      detail="bad id \ud800", status=None)
    record = failed_record("user-delete", outcome)
    assert json.loads(record.value)["edata"]["userId"] == "\ud800"
    assert dict(record.headers)["error"] == b"bad id \\ud800"


def test_a_record_that_cannot_be_written_becomes_a_stand_in_naming_the_source():
    outcome = Outcome(MESSAGE, FAILED, event={"edata": {"x": object()}}, stage="process", detail="x")
    record = failed_record_or_stand_in("user-delete", outcome)
    assert "could not be written" in json.loads(record.value)["failInfo"]["error"]
    assert dict(record.headers)["source.offset"] == b"7" and dict(record.headers)["value.omitted"] == b"unwritable"


def test_an_unwritable_record_becomes_a_small_stand_in():
    """The stand-in keeps each header and the key to 1 KiB, as the too-large one does: it must stay small."""
    outcome = Outcome(SourceMessage(key=b"k" * 5000, value=b"{}", topic="t", partition=0, offset=7), FAILED,
                      event={"edata": {"x": object()}}, stage="process", detail="e" * 5000)
    record = failed_record_or_stand_in("job", outcome)
    headers = dict(record.headers)
    assert record.key is None and all(len(value) <= 1024 for value in headers.values())
    assert headers["value.omitted"] == b"unwritable" and headers["source.offset"] == b"7"
