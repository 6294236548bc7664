"""Names' DNS answers kept for a few seconds: a lookup on the event loop is a hop to a thread and, in a
cluster, one or more DNS queries, which a job made for every file and every source read.

Keeping the answers changes nothing of what is allowed: every address is checked on each request, and
the request goes to a checked address. An answer is dropped after ``ttl_s`` (10 s, as aiohttp keeps the
configured services' answers), and at once when every one of its addresses failed to connect, so a
service that moved is found again. At most ``size`` names are kept, the oldest dropped first, and only
answers of at most ``MAX_ADDRESSES`` addresses (a hostile name's DNS chooses the length; a longer one is
looked up each time), so that events naming many hosts cannot grow it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable

NAME_TTL_S = 10.0
NAMES_KEPT = 256
MAX_ADDRESSES = 32


class NameCache:
    """``getaddrinfo`` answers by (name, port); thread-safe, as a connector may serve more than one loop."""

    def __init__(self, ttl_s: float = NAME_TTL_S, size: int = NAMES_KEPT,
                 clock: Callable[[], float] = time.monotonic):
        self._ttl_s = ttl_s
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[str, int], tuple[float, list]] = OrderedDict()

    def get(self, name: str, port: int) -> list | None:
        """The answers kept for ``name`` and ``port``, or None when there are none or they are too old."""
        with self._lock:
            kept = self._answers.get((name, port))
            if kept is None or self._clock() < kept[0]:
                return None if kept is None else kept[1]
            del self._answers[(name, port)]
            return None

    def put(self, name: str, port: int, answers: list) -> None:
        if len(answers) > MAX_ADDRESSES:
            return
        with self._lock:
            self._answers.pop((name, port), None)
            self._answers[(name, port)] = (self._clock() + self._ttl_s, answers)
            if len(self._answers) > self._size:
                self._answers.popitem(last=False)

    def forget(self, name: str, port: int) -> None:
        with self._lock:
            self._answers.pop((name, port), None)
