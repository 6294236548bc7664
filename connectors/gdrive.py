"""Google Drive links, as the bulk uploads use them: ``…/uc?export=download&id=<ID>``,
``…/open?id=<ID>`` or ``…/file/d/<ID>/view``.

Only links on a Drive host (``content_auto_creator.gdrive.hosts``) are Drive links; one that names no
file (a folder, a Google Doc) is refused, and only an id of ``[A-Za-z0-9_-]`` characters is taken: the
id goes into a Drive API path, with the service account's token, so it must name a file and nothing
else. With a service-account credential (``g_service_acct_cred``) the file is read through the Drive
API v3: its metadata first (name and MIME type, which must fit the content's ``mimeType`` by the
original's mapping, :func:`mime_fits`), then its media; neither follows a redirect, so the token goes nowhere else.
Without one it is a direct download of the file's ``uc?export=download`` link (redirects checked as for
any download), checked the same way against the answer's ``Content-Type``. A 403 from Google (a Drive
host, the API host, ``*.google.com``, ``*.googleusercontent.com``) that a wait can cure (a rate-limit
reason, or no Google JSON error at all, as Drive answers a used-up download quota) is retried with a
growing wait, a bounded number of times, and then the download fails (the original looped forever);
any other Google error fails at once with its reason. A 403 from any other host is a plain failure.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs

import requests
from urllib3.util import Url

from connectors.address import AddressRefused, loggable_url, parse
from connectors.download import (Downloader, DownloadError, Pace, check_status, read_body, read_head, refuse_html,
                                 release, save, slug)
from connectors.http import RETRYABLE_STATUS, path_segment

SCOPES = ["https://www.googleapis.com/auth/drive.file", "https://www.googleapis.com/auth/drive",
          "https://www.googleapis.com/auth/drive.metadata"]
ICON = "image"  # the expected MIME type the original passes for icons: not checked
DRIVE_HOSTS = ("drive.google.com", "docs.google.com")
_FILE_ID = re.compile(r"[A-Za-z0-9_-]+")
_FILE_PATH = re.compile(r"(?:/u/\d+)?/file/d/([^/]*)(?:/(?:view|edit|preview))?/?")
_MAX_ERROR_BYTES = 1 << 20  # of an error answer read to see what it says
# A Google API 403 that a wait can cure; any other reason (no permission, not found, ...) is final.
_RATE_LIMITS = {"rateLimitExceeded", "userRateLimitExceeded", "sharingRateLimitExceeded"}
_MAX_METADATA_BYTES = 1 << 20

# A content's mimeType -> the Drive MIME types that are the same thing.
_SAME_AS = {
    "application/vnd.ekstep.h5p-archive": {"application/x-zip", "application/zip"},
    "application/epub": {"application/epub+zip"},
    "audio/mp3": {"audio/mpeg"},
    "application/vnd.ekstep.html-archive": {"application/x-zip-compressed"},
}


def drive_file_id(url: str, hosts: tuple[str, ...] = DRIVE_HOSTS) -> str | None:
    """The file id of a Drive link on one of ``hosts``, else None (not a Drive link). The file forms are
    ``…/uc?export=download&id=<id>`` (or ``uc?id=``), ``…/open?id=<id>`` and ``…/file/d/<id>/view`` (or
    ``/edit``, ``/preview``, nothing after the id). Any other link on a Drive host (a folder, a Google
    Doc, a page) gives "", which :meth:`DriveDownloader.fetch` refuses, as it refuses an id that is not
    ``[A-Za-z0-9_-]+``: Google would answer it with an HTML page, not the file."""
    try:
        parts = parse(url)
    except AddressRefused:
        return None
    if parts.host not in hosts:
        return None
    path = parts.path or ""
    query = parse_qs(parts.query or "", keep_blank_values=True)
    if path.endswith(("/uc", "/open")) and query.get("export", ["download"]) == ["download"]:
        ids = query.get("id", [])
        return ids[0] if len(ids) == 1 else ""
    in_path = _FILE_PATH.fullmatch(path)
    return in_path.group(1) if in_path else ""


def download_link(url: str, file_id: str) -> str:
    """Google's direct download link of the file, on the link's own host."""
    parts = parse(url)
    return Url(scheme=parts.scheme, host=parts.host, port=parts.port, path="/uc",
               query=f"export=download&id={file_id}").url


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
                 hosts: tuple[str, ...] = DRIVE_HOSTS, sleep: Callable[[float], None] = time.sleep):
        self._downloader = downloader
        self._credentials = _credentials(credential_json) if credential_json.strip() else None
        self._token_lock = threading.Lock()
        self._api = api_base_url.rstrip("/")
        try:
            api_host = parse(self._api).host
        except AddressRefused as err:
            raise ValueError(f"not a usable Drive API URL: {err}") from None
        self._hosts = tuple(host.strip().lower() for host in hosts)
        self._google = {*self._hosts, api_host}
        self._backoff = backoff
        self._sleep = sleep

    def is_link(self, url: str) -> bool:
        """Whether ``url`` is a Drive download link (on a Drive host)."""
        return drive_file_id(url, self._hosts) is not None

    def fetch(self, url: str, directory: Path, expected_mime: str, max_bytes: int | None,
              allowed: tuple[str, ...] = ()) -> Path:
        """Download the Drive file; ``allowed`` is checked against the link, as for any download."""
        self._downloader.screen(url, allowed)
        file_id = drive_file_id(url, self._hosts)
        if not file_id:
            raise DownloadError(f"ERR_INVALID_UPLOAD_FILE_URL: Invalid fileUrl received (not a Google Drive file link: "
                                f"uc?export=download&id=, open?id= or file/d/<id>) | fileUrl : {loggable_url(url)}")
        if not _FILE_ID.fullmatch(file_id):
            raise DownloadError(f"ERR_INVALID_UPLOAD_FILE_URL: not a Google Drive file id (letters, digits, - and _ "
                                f"only): {file_id[:100]!r}")
        for wait in [*self._backoff.waits(), None]:
            try:
                if self._credentials is None:
                    return self._downloader.retrying(
                        lambda pace: self._direct(url, file_id, directory, expected_mime, max_bytes, allowed, pace))
                return self._downloader.retrying(
                    lambda pace: self._through_api(file_id, directory, expected_mime, max_bytes, pace))
            except _QuotaExceeded:
                if wait is None:
                    break
                self._sleep(wait)
        raise DownloadError(f"Google Drive kept answering 403 for file Id : {file_id}; gave up after "
                            f"{len(self._backoff.waits()) + 1} attempts")

    def _direct(self, url: str, file_id: str, directory: Path, expected_mime: str, max_bytes: int | None,
                allowed: tuple[str, ...], pace: Pace) -> Path:
        with self._downloader.open(download_link(url, file_id), pace, allowed) as (response, final_url):
            self._check_status(response, final_url, file_id, pace)
            refuse_html(response, final_url, expected_mime)
            self._check_mime(file_id, response.headers.get("Content-Type", ""), expected_mime)
            target = _target(directory, _name_from_disposition(response.headers.get("Content-Disposition")), file_id)
            save(response, target, max_bytes, pace)
            return target

    def _through_api(self, file_id: str, directory: Path, expected_mime: str, max_bytes: int | None,
                     pace: Pace) -> Path:
        headers = {"Authorization": f"Bearer {self._token()}"}
        url = f"{self._api}/drive/v3/files/{path_segment(file_id)}"
        meta_url = f"{url}?fields=id,name,size,mimeType&supportsAllDrives=true"
        response = self._downloader.request(meta_url, pace, headers=headers)
        try:
            self._check_status(response, meta_url, file_id, pace)
            meta = json.loads(read_body(response, _MAX_METADATA_BYTES, pace))
        except (ValueError, RecursionError):
            raise DownloadError(f"Invalid Response Received From Google API for file Id : {file_id} | Error is : "
                                f"the metadata is not JSON") from None
        finally:
            release(response)
        if not isinstance(meta, dict):
            raise DownloadError(f"Invalid Response Received From Google API for file Id : {file_id} | Error is : "
                                f"the metadata is not a JSON object")
        self._check_mime(file_id, str(meta.get("mimeType", "")), expected_mime)
        target = _target(directory, str(meta.get("name") or ""), file_id)
        media_url = f"{url}?alt=media&supportsAllDrives=true"
        response = self._downloader.request(media_url, pace, headers=headers)
        try:
            self._check_status(response, media_url, file_id, pace)
            refuse_html(response, media_url, expected_mime)
            save(response, target, max_bytes, pace)
        finally:
            release(response)
        return target

    def _token(self) -> str:
        from google.auth.transport.requests import Request

        with self._token_lock:
            if not self._credentials.valid:
                session = requests.Session()
                session.trust_env = False  # no ~/.netrc credentials, no proxy from the environment
                policy = self._downloader.policy
                timeouts = (policy.connect_timeout_s, policy.read_timeout_s)  # google-auth's own: 120 s
                try:
                    self._credentials.refresh(partial(Request(session), timeout=timeouts))
                except Exception as err:  # google-auth raises several types for a refused grant
                    raise DownloadError(f"Google service account sign-in failed: {err.__class__.__name__}") from None
                finally:
                    session.close()
            return self._credentials.token

    def _check_status(self, response, url: str, file_id: str, pace: Pace) -> None:
        if response.status == 403 and self._is_google(url):
            refusal = _google_error(read_head(response, _MAX_ERROR_BYTES, pace))
            if refusal is None:
                raise _QuotaExceeded()
            raise DownloadError(f"ERR_INVALID_UPLOAD_FILE_URL: Invalid Response Received From Google API for file Id : "
                                f"{file_id} | Error is : {refusal}")
        if response.status != 200 and response.status not in RETRYABLE_STATUS:
            raise DownloadError(f"Invalid Response Received From Google API | HTTP {response.status} "
                                f"for {loggable_url(url)}")
        check_status(response, url)  # retries what may pass

    def _is_google(self, url: str) -> bool:
        """Whether the answer came from Google, whose 403 means a quota used up."""
        host = parse(url).host
        return (host in self._google or host == "google.com"
                or host.endswith((".google.com", ".googleusercontent.com")))

    @staticmethod
    def _check_mime(file_id: str, drive_mime: str, expected_mime: str) -> None:
        if expected_mime != ICON and not mime_fits(expected_mime, drive_mime):
            raise DownloadError(f"Invalid File Url! File MimeType Is Not Same As Object MimeType for File Id : "
                                f"{file_id} | File MimeType is : {' '.join(drive_mime.split())[:100]} | "
                                f"Node MimeType is : {expected_mime[:100]}")


def _google_error(body: bytes) -> str | None:
    """What a Google API error body says, or None when a wait may cure it: a rate limit (a rate-limit
    reason, ``RESOURCE_EXHAUSTED`` or code 429), or a body that is not a Google JSON error (a plain 403
    page, as Drive answers a used-up download quota)."""
    try:
        error = json.loads(body).get("error")  # UTF-8, -16 or -32, as JSON may come
    except (ValueError, AttributeError, RecursionError):
        return None
    if not isinstance(error, dict):
        return None
    details = error.get("errors") if isinstance(error.get("errors"), list) else []
    reasons = [d.get("reason") for d in details if isinstance(d, dict) and isinstance(d.get("reason"), str)]
    status = error.get("status") if isinstance(error.get("status"), str) else ""
    if any(reason in _RATE_LIMITS for reason in reasons) or status == "RESOURCE_EXHAUSTED" or error.get("code") == 429:
        return None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    return " ".join(f"{', '.join(reasons) or status or 'error'}: {message}".split())[:500]


def _credentials(credential_json: str):
    from google.oauth2 import service_account

    try:
        info = json.loads(credential_json)
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as err:
        raise ValueError(f"not a Google service-account key: {err.__class__.__name__}") from None


def _name_from_disposition(value: str | None) -> str:
    if not value or "filename=" not in value:
        return ""
    return value.split("filename=", 1)[1].split(";")[0].strip().strip('"')


def _target(directory: Path, name: str, file_id: str) -> Path:
    """Where the file goes: its name made safe, or its id when nothing of the name is left (``..``)."""
    directory.mkdir(parents=True, exist_ok=True)
    return directory / (slug(name) or slug(file_id))
