"""One retry policy for every call that may pass on a later try: service calls and downloads.

Exponential back-off with jitter (half to all of ``initial * 2**(attempt-1)``, at most
``max_backoff_s``, at least what the other side asked for with ``Retry-After``), within a number of
attempts and a total time: ``retry.*`` in the settings.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable


def backoff_seconds(attempt: int, initial_s: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential back-off with jitter: between half and all of ``initial * 2**(attempt-1)``."""
    base = initial_s * (2 ** (attempt - 1))
    return base / 2 + rand() * base / 2


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    max_elapsed_s: float
    initial_backoff_s: float
    max_backoff_s: float = 5.0

    def next_delay(self, attempt: int, started: float, at_least_s: float = 0.0) -> float | None:
        """The wait before the try after ``attempt`` (counted from 1, the first begun at ``started``,
        a ``time.monotonic()``), or None when the attempts or the time are spent."""
        delay = max(min(backoff_seconds(attempt, self.initial_backoff_s), self.max_backoff_s), at_least_s)
        if attempt >= self.max_attempts or time.monotonic() - started + delay > self.max_elapsed_s:
            return None
        return delay
