"""Waiting until a Sunbird service shows what a call started (an upload, a review, a publish): polls
instead of the originals' fixed sleeps, and fails in one clear line when the service does not show it
in time (the next call would be refused anyway, with a less clear error)."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

from connectors.sunbird import ApiError

T = TypeVar("T")
EVERY_S = 0.2  # between two reads


async def until_shown(read: Callable[[], Awaitable[T]], shown: Callable[[T], bool], timeout_s: float,
                      not_shown: Callable[[T], str],
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """Read until ``shown`` holds; past ``timeout_s``, :class:`ApiError` with ``not_shown(last read)``."""
    deadline = time.monotonic() + timeout_s
    while not shown(value := await read()):
        if time.monotonic() >= deadline:
            raise ApiError(not_shown(value))
        await sleep(EVERY_S)
    return value
