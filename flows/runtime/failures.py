"""The failures a job's handler expects, and how they become a result.

A Sunbird service's final refusal, a refused or failed download, a storage error, retries used up,
an unusable ECAR: each ends the event as :class:`~flows.runtime.job.Fail` with its message and HTTP status.
Anything else is a bug, which the pipeline also turns into a failed event (with a traceback logged).
"""

from __future__ import annotations

from typing import Callable

from connectors.download import DownloadError
from connectors.ecar import EcarError
from connectors.http import RefusedCall, RetriesExhausted
from connectors.storage import StorageError
from connectors.sunbird import ApiError
from flows.runtime.job import Done, Fail, Link, Result

MAX_DETAIL = 2000  # characters of an error or a skip reason kept (it may repeat a whole service answer)


def shortened(detail: str) -> str:
    """``detail`` cut to :data:`MAX_DETAIL` characters, saying how much was left out."""
    if len(detail) <= MAX_DETAIL:
        return detail
    return f"{detail[:MAX_DETAIL]}... ({len(detail) - MAX_DETAIL} more characters)"


EXPECTED = (ApiError, DownloadError, StorageError, RetriesExhausted, RefusedCall, EcarError)


def result_of(work: Callable[[], Link | None]) -> Result:
    """Done when ``work`` completes (or the Link it leaves to the pipeline); Fail with the message and
    status of an expected failure."""
    try:
        link = work()
    except EXPECTED as err:
        return Fail(str(err), getattr(err, "status", None))
    return link or Done()
