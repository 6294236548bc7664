"""The failures the Sunbird jobs expect, which end an event as a failed record without a traceback:
a service's final refusal, a refused or failed download, a storage error, retries used up, a call
refused before it was sent, an unusable ECAR. Anything else is a bug: the pipeline fails the event
too, and logs the traceback."""

from __future__ import annotations

from connectors.download import DownloadError
from connectors.ecar import EcarError
from connectors.http import RefusedCall, RetriesExhausted
from connectors.storage import StorageError
from connectors.sunbird import ApiError

EXPECTED = (ApiError, DownloadError, StorageError, RetriesExhausted, RefusedCall, EcarError)
