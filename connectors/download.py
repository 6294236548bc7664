"""Fetching artifact and icon files from other hosts, safely.

Only http(s); hosts on the allow-list (when one is set); no private, loopback or
link-local addresses unless allowed; every redirect checked by the same rules; connect
and read timeouts; a size cap enforced while streaming, so a huge file is cut off rather
than stored. Answers that may change (5xx, timeouts) are retried within the retry budget::

    downloader = Downloader(policy, retry)
    path = downloader.fetch("https://host/a/My File.pdf", workdir)   # workdir / "my-file.pdf"
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import unicodedata
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import requests

from connectors.http import RETRYABLE_STATUS, backoff_seconds
from flows.settings import RetrySettings

_CHUNK = 64 * 1024
_MAX_REDIRECTS = 5


class DownloadError(Exception):
    """The file cannot be had: refused by policy, missing, or too large. Not worth retrying."""


class _Retryable(Exception):
    pass


@dataclass(frozen=True)
class DownloadPolicy:
    allow_private_networks: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0


def slug(name: str) -> str:
    """The original's file-name slug: decoded, accents dropped, spaces to ``-``, only ``[\\w.-]``, lower case."""
    text = unicodedata.normalize("NFKD", unquote(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"\s+", "-", text.strip())
    text = re.sub(r"[^\w.-]", "", text, flags=re.ASCII)
    return re.sub(r"-{2,}", "-", text).lower()


def file_name(url: str) -> str:
    """The slug of the URL's last path segment (the query ignored)."""
    return slug(urlsplit(url).path.rsplit("/", 1)[-1])


def allowed_source(url: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``url`` matches an entry: a host (exactly), or a URL prefix (an entry with ``://``).

    An entry is never matched as a substring anywhere in the URL, so
    ``https://evil.example/?drive.google.com`` does not pass ``drive.google.com``.
    """
    if not allowed:
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for entry in allowed:
        entry = entry.strip()
        if "://" in entry:
            if url.startswith(entry):
                return True
        elif "/" in entry:
            if f"{host}{parts.path}".startswith(entry.lower()):
                return True
        elif entry and host == entry.lower():
            return True
    return False


def _refused_address(host: str) -> str | None:
    """Why connecting to ``host`` is refused: it resolves to a private/loopback/link-local address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as err:
        raise _Retryable(f"cannot resolve {host}: {err}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_multicast or address.is_unspecified):
            return f"{host} resolves to a private, loopback or link-local address"
    return None


class Downloader:
    def __init__(self, policy: DownloadPolicy, retry: RetrySettings):
        self._policy = policy
        self._retry = retry
        self._sessions = threading.local()

    def session(self) -> requests.Session:
        """This thread's session: connections to a file host are kept open between downloads.

        One per handler thread, as a ``requests.Session`` is not made to be shared by threads.
        """
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
        return session

    def check(self, url: str, allowed: tuple[str, ...] = ()) -> None:
        """Refuse a URL the policy does not allow: scheme, allow-list (when given), address."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DownloadError(f"only http and https URLs are downloaded, not {url[:200]!r}")
        if not allowed_source(url, allowed):
            raise DownloadError(f"Artifact Source is not from allowed one | url: {url[:200]} | Allowed Sources : "
                                f"{list(allowed)}")
        if not self._policy.allow_private_networks:
            problem = _refused_address(parts.hostname)
            if problem:
                raise DownloadError(f"refused to download {url[:200]}: {problem}")

    def fetch(self, url: str, directory: Path, max_bytes: int | None = None, allowed: tuple[str, ...] = ()) -> Path:
        """Download ``url`` into ``directory`` (file name: :func:`file_name`); the path of the file."""
        self.check(url, allowed)
        target_name = file_name(url)
        if not target_name:
            raise DownloadError(f"Invalid fileUrl received | fileUrl : {url[:200]}")
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / target_name
        started, attempt = time.monotonic(), 1
        while True:
            try:
                self._fetch_once(url, target, max_bytes, allowed)
                return target
            except _Retryable as err:
                delay = min(backoff_seconds(attempt, self._retry.initial_backoff_s), self._retry.max_backoff_s)
                if attempt >= self._retry.max_attempts or time.monotonic() - started + delay > self._retry.max_elapsed_s:
                    target.unlink(missing_ok=True)
                    raise DownloadError(f"download failed after {attempt} attempts: {err}") from None
                time.sleep(delay)
                attempt += 1

    def open(self, url: str, allowed: tuple[str, ...] = ()) -> requests.Response:
        """A streaming GET of ``url`` after following checked redirects; the caller closes it."""
        for _ in range(_MAX_REDIRECTS + 1):
            self.check(url, allowed)
            try:
                response = self.session().get(url, stream=True, allow_redirects=False,
                                              timeout=(self._policy.connect_timeout_s, self._policy.read_timeout_s))
            except requests.RequestException as err:
                raise _Retryable(f"no answer from {urlsplit(url).hostname} ({err.__class__.__name__})") from None
            if response.is_redirect and response.headers.get("Location"):
                url = urljoin(url, response.headers["Location"])
                response.close()
                continue
            return response
        raise DownloadError(f"more than {_MAX_REDIRECTS} redirects")

    def _fetch_once(self, url: str, target: Path, max_bytes: int | None, allowed: tuple[str, ...]) -> None:
        with self.open(url, allowed) as response:
            if response.status_code in RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {response.status_code} from {urlsplit(url).hostname}")
            if response.status_code != 200:
                raise DownloadError(f"HTTP {response.status_code} for {url[:200]}")
            save(response, target, max_bytes)


def save(response: requests.Response, target: Path, max_bytes: int | None) -> None:
    """Stream the body to ``target``, stopping as soon as it passes ``max_bytes``."""
    declared = response.headers.get("Content-Length")
    if max_bytes is not None and declared and declared.isdigit() and int(declared) > max_bytes:
        raise DownloadError(f"File Size is larger than allowed file size: {int(declared)} bytes > {max_bytes}")
    written = 0
    try:
        with open(target, "wb") as out:
            for chunk in response.iter_content(_CHUNK):
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise DownloadError(f"File Size is larger than allowed file size: more than {max_bytes} bytes")
                out.write(chunk)
    except requests.RequestException as err:
        target.unlink(missing_ok=True)
        raise _Retryable(f"download interrupted ({err.__class__.__name__})") from None
    except DownloadError:
        target.unlink(missing_ok=True)
        raise
