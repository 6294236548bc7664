"""Writing JSON that any decoded value survives: for request bodies and failed records."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(document: Any) -> bytes:
    """JSON bytes of any decoded value: the standard library writes integers beyond 64 bits, and
    text with lone surrogates as ``\\uXXXX`` escapes, which read back the same."""
    try:
        return orjson.dumps(document)
    except TypeError:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(document, separators=(",", ":")).encode()
