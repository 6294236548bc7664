"""Google Drive links (``.../uc?export=download&id=<ID>``), as the bulk uploads use them.

With a service-account credential (``g_service_acct_cred``) the file is read through the
Drive API v3: its metadata first (name and MIME type, which must fit the content's
``mimeType`` by the spec's §3.6.2 mapping), then its media. Without one it is a direct
download of the link, checked the same way against the answer's ``Content-Type``.
Google answers 403 when a quota is used up: that is retried with a growing wait, a
bounded number of times, and then the download fails (the original looped forever).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import requests

from connectors.download import Downloader, DownloadError, save, slug

SCOPES = ["https://www.googleapis.com/auth/drive.file", "https://www.googleapis.com/auth/drive",
          "https://www.googleapis.com/auth/drive.metadata"]
ICON = "image"  # the expected MIME type the original passes for icons: not checked

# A content's mimeType -> the Drive MIME types that are the same thing.
_SAME_AS = {
    "application/vnd.ekstep.h5p-archive": {"application/x-zip", "application/zip"},
    "application/epub": {"application/epub+zip"},
    "audio/mp3": {"audio/mpeg"},
    "application/vnd.ekstep.html-archive": {"application/x-zip-compressed"},
}


def drive_file_id(url: str) -> str | None:
    """The file id of a ``uc?export=download&id=`` link, else None."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if not parts.path.endswith("/uc") or query.get("export") != ["download"] or not query.get("id"):
        return None
    return query["id"][0]


def mime_fits(content_mime: str, drive_mime: str) -> bool:
    """Whether a Drive file of ``drive_mime`` may be the artifact of a ``content_mime`` content."""
    content_mime, drive_mime = content_mime.strip().lower(), drive_mime.split(";")[0].strip().lower()
    return drive_mime == content_mime or drive_mime in _SAME_AS.get(content_mime, set())


@dataclass(frozen=True)
class Backoff:
    """Waits after a 403: ``initial_s``, then times ``factor``, while not above ``maximum_s``."""

    initial_s: float
    maximum_s: float
    factor: float

    def waits(self) -> list[float]:
        waits, wait = [], self.initial_s
        while wait <= self.maximum_s and len(waits) < 32:
            waits.append(wait)
            wait *= max(self.factor, 1.0001)
        return waits


class _QuotaExceeded(Exception):
    pass


class DriveDownloader:
    def __init__(self, downloader: Downloader, credential_json: str, api_base_url: str, backoff: Backoff,
                 sleep: Callable[[float], None] = time.sleep):
        self._downloader = downloader
        self._credentials = _credentials(credential_json) if credential_json.strip() else None
        self._api = api_base_url.rstrip("/")
        self._backoff = backoff
        self._sleep = sleep

    def fetch(self, url: str, directory: Path, expected_mime: str, max_bytes: int | None,
              allowed: tuple[str, ...] = ()) -> Path:
        """Download the Drive file; ``allowed`` is checked against the link, as for any download."""
        self._downloader.check(url, allowed)
        file_id = drive_file_id(url)
        if file_id is None:
            raise DownloadError(f"Invalid fileUrl received | fileUrl : {url[:200]}")
        for wait in [*self._backoff.waits(), None]:
            try:
                if self._credentials is None:
                    return self._direct(url, directory, expected_mime, max_bytes, allowed)
                return self._through_api(file_id, directory, expected_mime, max_bytes)
            except _QuotaExceeded:
                if wait is None:
                    break
                self._sleep(wait)
        raise DownloadError(f"Google Drive kept answering 403 for file Id : {file_id}; gave up after "
                            f"{len(self._backoff.waits()) + 1} attempts")

    def _direct(self, url: str, directory: Path, expected_mime: str, max_bytes: int | None,
                allowed: tuple[str, ...]) -> Path:
        with self._downloader.open(url, allowed) as response:
            self._check_status(response, url)
            name = _name_from_disposition(response.headers.get("Content-Disposition")) or drive_file_id(url)
            self._check_mime(drive_file_id(url), response.headers.get("Content-Type", ""), expected_mime)
            target = _target(directory, name)
            save(response, target, max_bytes)
            return target

    def _through_api(self, file_id: str, directory: Path, expected_mime: str, max_bytes: int | None) -> Path:
        headers = {"Authorization": f"Bearer {self._token()}"}
        meta_url = f"{self._api}/drive/v3/files/{file_id}?fields=id,name,size,mimeType&supportsAllDrives=true"
        try:
            with self._downloader.session().get(meta_url, headers=headers, timeout=(10, 60)) as response:
                self._check_status(response, meta_url)
                meta = response.json()
        except (requests.RequestException, ValueError) as err:
            raise DownloadError(f"Invalid Response Received From Google API for file Id : {file_id} | Error is : "
                                f"{err.__class__.__name__}") from None
        self._check_mime(file_id, str(meta.get("mimeType", "")), expected_mime)
        target = _target(directory, str(meta.get("name") or file_id))
        media_url = f"{self._api}/drive/v3/files/{file_id}?alt=media&supportsAllDrives=true"
        try:
            with self._downloader.session().get(media_url, headers=headers, stream=True, timeout=(10, 60)) as response:
                self._check_status(response, media_url)
                save(response, target, max_bytes)
        except requests.RequestException as err:
            raise DownloadError(f"Invalid Response Received From Google API for file Id : {file_id} | Error is : "
                                f"{err.__class__.__name__}") from None
        return target

    def _token(self) -> str:
        from google.auth.transport.requests import Request

        if not self._credentials.valid:
            try:
                self._credentials.refresh(Request())
            except Exception as err:  # google-auth raises several types for a refused grant
                raise DownloadError(f"Google service account sign-in failed: {err.__class__.__name__}") from None
        return self._credentials.token

    @staticmethod
    def _check_status(response: requests.Response, url: str) -> None:
        if response.status_code == 403:
            raise _QuotaExceeded()
        if response.status_code != 200:
            raise DownloadError(f"Invalid Response Received From Google API | HTTP {response.status_code} "
                                f"for {url[:200]}")

    @staticmethod
    def _check_mime(file_id: str | None, drive_mime: str, expected_mime: str) -> None:
        if expected_mime != ICON and not mime_fits(expected_mime, drive_mime):
            raise DownloadError(f"Invalid File Url! File MimeType Is Not Same As Object MimeType for File Id : "
                                f"{file_id} | File MimeType is : {drive_mime} | Node MimeType is : {expected_mime}")


def _credentials(credential_json: str):
    from google.oauth2 import service_account

    try:
        info = json.loads(credential_json)
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as err:
        raise ValueError(f"not a Google service-account key: {err.__class__.__name__}") from None


def _name_from_disposition(value: str | None) -> str | None:
    if not value or "filename=" not in value:
        return None
    return value.split("filename=", 1)[1].split(";")[0].strip().strip('"') or None


def _target(directory: Path, name: str) -> Path:
    clean = slug(name)
    if not clean:
        raise DownloadError("the Drive file has no usable name")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / clean
