"""Reading events: lenient JSON parsing and typed access to the paths a rule reads.

Events come from other systems, so a path may be missing (the rule decides: usually
"skip") or hold a value of the wrong type (:class:`BadValue`: the event fails with a
clear message instead of crashing the job, as the Flink jobs did).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import orjson


class BadValue(Exception):
    """A value the job reads has the wrong type."""

    def __init__(self, path: str, expected: str, value: Any):
        super().__init__(f"{path} must be {expected}, got {_type_name(value)}")
        self.path = path


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


# Digits become 0 and the bytes that may come before a number (":", ",", "[") become ":", so that
# ":" and 19 zeros, once whitespace and "-" are dropped, is where a long number may start.
_NUMBER_SHAPES = bytes.maketrans(b"0123456789,[", b"0000000000::")
_LONG_NUMBER_START = b":" + b"0" * 19
_NOT_PARSED = object()
MAX_DEPTH = 128  # levels of objects and lists; orjson writes at most 255, and no real event comes near
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_object(value: bytes | None) -> dict:
    """The Kafka value as a JSON object; ``ValueError`` when it is not one.

    orjson parses most values; a value with a number of 19 or more digits, or one orjson refuses,
    goes to the standard library parser, which keeps integers of any size exactly (orjson turns
    those beyond 64 bits into floats, which would change the event forwarded or written to the
    failed topic) and accepts what orjson does not (a BOM, NaN).

    A value holding a lone surrogate (not Unicode text: no HTTP call, log line or record could
    carry it) or nested more than :data:`MAX_DEPTH` levels is refused here, as bad input, rather
    than failing later where it would be written.
    """
    if value is None:
        raise ValueError("the value is empty (null record)")
    event: Any = _NOT_PARSED
    if not _may_hold_long_integer(value):
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    if event is _NOT_PARSED:
        try:
            event = json.loads(value)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"the value is not JSON: {err.__class__.__name__}: {err}") from None
        problem = _unwritable(event)  # orjson refuses lone surrogates itself: only this path may hold them
    else:
        problem = _unwritable(event) if value.count(b"{") + value.count(b"[") > MAX_DEPTH else None
    if problem:
        raise ValueError(problem)
    if not isinstance(event, dict):
        raise ValueError(f"the value is JSON {_type_name(event)}, not an object")
    return event


def _unwritable(document: Any) -> str | None:
    """Why the parsed value cannot be handled: nested too deep, or text with a lone surrogate."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"the value is nested more than {MAX_DEPTH} levels deep"
        items = node.items() if isinstance(node, dict) else ((None, item) for item in node)
        for key, item in items:
            if (isinstance(item, str) and _SURROGATE.search(item)) or (key is not None and _SURROGATE.search(key)):
                return "the value holds a lone surrogate (\\ud800-\\udfff), which is not Unicode text"
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
    return None


def _may_hold_long_integer(value: bytes) -> bool:
    """Whether a number of 19 digits or more may be in ``value``; a string that looks like one
    only costs the slower parser."""
    return _LONG_NUMBER_START in value.translate(_NUMBER_SHAPES, b" \t\r\n-")


@lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def lookup(event: dict, path: str) -> Any:
    """The value at a dotted path, or None when any step is missing.

    A step through something that is not an object is a :class:`BadValue`.
    """
    node: Any = event
    steps = _steps(path)
    for index, step in enumerate(steps):
        if isinstance(node, dict):
            node = node.get(step)
        elif node is None:
            return None
        else:
            raise BadValue(".".join(steps[:index]), "an object", node)
    return node


def text(event: dict, path: str) -> str | None:
    """A string at ``path``; None when missing or null."""
    value = lookup(event, path)
    if value is not None and not isinstance(value, str):
        raise BadValue(path, "a string", value)
    return value


def is_blank(value: str | None) -> bool:
    """Missing, empty or only white space: the original jobs' ``StringUtils.isBlank``."""
    return value is None or not value.strip()


def mapping(event: dict, path: str) -> dict | None:
    """An object at ``path``; None when missing or null."""
    value = lookup(event, path)
    if value is not None and not isinstance(value, dict):
        raise BadValue(path, "an object", value)
    return value


def text_list(event: dict, path: str) -> list[str] | None:
    """A list of strings at ``path``; None when missing or null."""
    value = lookup(event, path)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadValue(path, "a list of strings", value)
    return value
