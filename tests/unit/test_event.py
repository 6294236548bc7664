import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.json_bytes import dumps
from flows.runtime.event import MAX_DEPTH, BadValue, is_blank, mapping, parse_object, text, text_list


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", b'"text"', b"42", b"null", None, b"\xff\xfe", b""])
def test_anything_but_a_json_object_is_refused(value):
    with pytest.raises(ValueError):
        parse_object(value)


def test_big_integers_survive_a_round_trip():
    event = parse_object(b'{"n": 123456789012345678901234567890}')
    assert dumps(event) == b'{"n":123456789012345678901234567890}'


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**18, max_value=10**40).map(lambda n: -n)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=5), st.sampled_from([None, 2]),
       st.booleans())
def test_parsing_matches_the_standard_library_exactly(document, indent, ascii_only):
    """The fast parser must give what the standard library gives, big integers included."""
    value = json.dumps(document, indent=indent, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    expected = json.loads(value)
    parsed = parse_object(value)
    assert parsed == expected
    assert json.dumps(parsed) == json.dumps(expected)  # the same types: no integer turned into a float


def test_deep_nesting_is_refused_not_a_crash():
    with pytest.raises(ValueError):
        parse_object(b'{"a":' * 100_000 + b"1" + b"}" * 100_000)


def test_typed_access():
    event = {"edata": {"userId": "u", "roles": ["a"], "profile": "oops", "n": 5}}
    assert text(event, "edata.userId") == "u"
    assert text(event, "edata.missing") is None
    assert text(event, "nothing.at.all") is None
    assert text_list(event, "edata.roles") == ["a"]
    with pytest.raises(BadValue, match="edata.n must be a string, got a number"):
        text(event, "edata.n")
    with pytest.raises(BadValue, match="edata.profile must be an object"):
        text(event, "edata.profile.userId")
    with pytest.raises(BadValue, match="edata.profile must be an object"):
        mapping(event, "edata.profile")
    with pytest.raises(BadValue, match="a list of strings"):
        text_list({"r": "ADMIN"}, "r")


def test_blank():
    assert is_blank(None) and is_blank("") and is_blank("  \t")
    assert not is_blank(" x ")


@pytest.mark.parametrize("value", [b'{"mid": "\\udc80"}', b'{"edata": {"userId": "\\ud800x"}}',
                                   b'{"\\udfff": 1}', b'{"n": 12345678901234567890123, "s": "\\ud83d"}',
                                   b'{"\\ud800": {}}', b'{"edata": {"\\udc80": [1]}}'])  # a key holding an object
def test_a_lone_surrogate_is_not_text_and_is_refused(value):
    with pytest.raises(ValueError, match="surrogate"):
        parse_object(value)


def test_a_surrogate_pair_is_text():
    assert parse_object(b'{"s": "\\ud83d\\ude00", "n": 12345678901234567890123}')["s"] == "\U0001F600"


@pytest.mark.parametrize("opening, closing", [(b'{"a":', b"}"), (b"[", b"]")])
def test_nesting_deeper_than_the_writer_allows_is_refused(opening, closing):
    deep = b'{"x":' + opening * 1000 + b"1" + closing * 1000 + b"}"
    with pytest.raises(ValueError, match="nested"):
        parse_object(deep)
    limit = b'{"x":' + opening * (MAX_DEPTH - 1) + b"1" + closing * (MAX_DEPTH - 1) + b"}"
    assert dumps(parse_object(limit)) == limit.replace(b" ", b"")


def test_many_brackets_side_by_side_are_not_deep():
    wide = b'{"x": [' + b",".join([b"[[{}]]"] * 5000) + b"]}"
    assert len(parse_object(wide)["x"]) == 5000


@given(st.text(alphabet=st.sampled_from(["a", "\u00e9", "\U0001F600", "\ud800", "\udc80", "\udfff"]), max_size=6))
def test_dumps_writes_json_for_any_decoded_text(value):
    document = json.loads(json.dumps({"k": value, "n": 2**70}))  # as a parser gives it: pairs joined
    assert json.loads(dumps(document)) == document
