"""Fetching artifact, icon and ECAR files from other hosts, safely.

Every URL, and every redirect (at most 5), goes through :mod:`connectors.address` (read by the
parser that connects, resolved once, public addresses only unless allowed) and through the
allow-list when one is set. A download has a size cap counted in decoded bytes (a compressed body
cannot inflate past it), a wall-clock deadline for all of it (redirects, headers and retries
included), and a minimum average rate for the body after a grace period: a host that drips is cut
off. What may pass (no answer, 5xx, a DNS failure) is retried within the retry budget; every
other failure is a :class:`DownloadError` with one line::

    downloader = Downloader(policy, retry)
    path = downloader.fetch("https://host/a/My%20File.pdf", workdir)   # workdir / "my-file.pdf"
"""

from __future__ import annotations

import re
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import unquote, urljoin

import urllib3
from urllib3.exceptions import DecodeError, HTTPError, LocationParseError, SSLError
from urllib3.util import Url, parse_url

from connectors.address import AddressRefused, NameNotResolved, PublicConnections, loggable_url, parse, port_of
from connectors.deadline import Watch, deadline
from connectors.http import RETRYABLE_STATUS, declared_length
from connectors.retry import RetryPolicy

_CHUNK = 64 * 1024
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_NAME = 200  # file systems allow 255 bytes per name
T = TypeVar("T")


class DownloadError(Exception):
    """The file cannot be had: refused by policy, missing, too large, too slow. Not worth retrying."""


class TooLarge(DownloadError):
    """The file is larger than the size cap it was fetched with."""


def past_disk_budget(size: str) -> DownloadError:
    """A file that cannot fit in what downloads may keep on disk at once (:mod:`connectors.disk_budget`)."""
    return DownloadError(f"the file is larger than downloads may keep on disk at once (download.disk_budget_bytes): "
                         f"{size}")


_PAGES = ("text/html", "application/xhtml+xml")
_PAGE_CONTENTS = ("text/html", "text/x-url")


class Retryable(Exception):
    """What may pass (no answer, 5xx, a DNS failure): tried again within the retry budget."""


@dataclass(frozen=True)
class DownloadPolicy:
    allow_private_networks: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    deadline_s: float = 3600.0  # all of one download: redirects, headers, body, retries
    min_rate_bytes_s: float = 10240.0  # the body's average rate, checked ...
    min_rate_grace_s: float = 30.0  # ... once this long after its first byte
    max_connections: int = 8  # kept open per host


def slug(name: str) -> str:
    """The original's file-name slug: decoded, accents dropped, spaces to ``-``, only ``[\\w.-]``, lower
    case, at most 200 characters (the end cut off before a short extension, which is kept); "" for a
    name of dots only (``.`` and ``..`` name a folder, not a file)."""
    text = unicodedata.normalize("NFKD", unquote(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"\s+", "-", text.strip())
    text = re.sub(r"[^\w.-]", "", text, flags=re.ASCII)
    text = re.sub(r"-{2,}", "-", text).lower()
    if len(text) > _MAX_NAME:
        stem, dot, extension = text.rpartition(".")
        text = f"{stem[:_MAX_NAME - 1 - len(extension)]}.{extension}" if dot and len(extension) <= 16 \
            else text[:_MAX_NAME]
    return "" if set(text) <= {"."} else text


def file_name(url: str) -> str:
    """The slug of the URL's last path segment (the query ignored); "" when it has none."""
    try:
        path = parse_url(url).path or ""
    except (LocationParseError, ValueError, UnicodeError):
        return ""
    return slug(path.rsplit("/", 1)[-1])


def allowed_source(url: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``url`` matches an entry of the allow-list (any URL does when it is empty).

    An entry is a host (``drive.google.com``: any port), a host and a path (``host/files``), or a
    URL (``https://host:8443/files/``). Scheme, host and port match exactly where the entry has
    them; the path on a ``/`` boundary, both as sent (dot segments removed) and percent-decoded. So
    ``https://drive.google.com`` does not pass ``drive.google.com.evil.com`` or
    ``drive.google.com@evil.com``, and ``host/files`` does not pass ``/files-evil/`` or ``/files/%2e%2e/admin``.
    """
    if not allowed:
        return True
    try:
        parts = parse(url)
    except AddressRefused:
        return False
    return any(_matches(parts, entry) for entry in allowed)


def _matches(parts: Url, entry: str) -> bool:
    entry = entry.strip()
    try:
        rule = parse_url(entry if "://" in entry else f"//{entry}")
    except (LocationParseError, ValueError, UnicodeError):
        return False
    if not rule.host or rule.host != parts.host or (rule.scheme and rule.scheme != parts.scheme):
        return False
    port = port_of(rule) if rule.scheme else rule.port
    if port is not None and port != port_of(parts):
        return False
    return _inside(parts.path or "/", rule.path or "")


def _inside(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it, as sent and percent-decoded (``\\`` read as ``/``)."""
    sent_prefix = _without_dot_segments(prefix).rstrip("/")
    decoded_prefix = _without_dot_segments(unquote(prefix).replace("\\", "/")).rstrip("/")
    decoded = _without_dot_segments(unquote(path).replace("\\", "/"))
    return _below(_without_dot_segments(path), sent_prefix) and _below(decoded, decoded_prefix)


def _below(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _without_dot_segments(path: str) -> str:
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(kept) > 1:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    return "/".join(kept)


class Pace:
    """The time rules of one download: its deadline, and its body's minimum average rate."""

    def __init__(self, policy: DownloadPolicy, watch: Watch):
        self._policy = policy
        self._watch = watch

    @property
    def expired(self) -> bool:
        return self._watch.expired or time.monotonic() >= self._watch.at

    def on_time(self) -> None:
        """Refuse to go on past the deadline (an answer cut there may look complete: it is not)."""
        if self.expired:
            raise DownloadError(f"the download took longer than download.deadline_s ({self._policy.deadline_s:g} s)")

    def steady(self, received: int, since: float) -> None:
        """On time, and ``received`` body bytes since ``since`` are enough once the grace period is over."""
        self.on_time()
        elapsed = time.monotonic() - since
        if elapsed > self._policy.min_rate_grace_s and received < self._policy.min_rate_bytes_s * elapsed:
            raise DownloadError(f"the download is too slow: {received} bytes in {elapsed:.1f} s, less than "
                                f"download.min_rate_bytes_s ({self._policy.min_rate_bytes_s:g} bytes/s)")


class Downloader:
    """Downloads on the calling thread (Drive links, on threads the handlers await). Thread-safe: the threads
    share its connections. Its policy, retry budget and screening are also
    :class:`~connectors.loop_download.LoopDownloader`'s, which makes the other downloads on the event loop."""

    def __init__(self, policy: DownloadPolicy, retry: RetryPolicy):
        self.policy = policy
        self.retry = retry
        self._timeout = urllib3.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s)
        self.connections = PublicConnections(policy.allow_private_networks, policy.max_connections)

    def screen(self, url: str, allowed: tuple[str, ...] = ()) -> str:
        """The host of ``url`` if its form and the allow-list (when given) allow it; no DNS yet."""
        with _address_errors():
            host = parse(url).host
        if not allowed_source(url, allowed):
            raise DownloadError(f"Artifact Source is not from allowed one | url: {loggable_url(url)} | "
                                f"Allowed Sources : {list(allowed)}")
        return host

    def fetch(self, url: str, directory: Path, max_bytes: int | None = None, allowed: tuple[str, ...] = (),
              expected_mime: str = "") -> Path:
        """Download ``url`` into ``directory`` (file name: :func:`file_name`); the path of the file. An HTML
        page is refused unless ``expected_mime`` is a page (:func:`refuse_html`)."""
        target = self.target_file(url, directory, allowed)

        def attempt(pace: Pace) -> Path:
            with self.open(url, pace, allowed) as (response, final_url):
                check_status(response, final_url)
                refuse_html(response, final_url, expected_mime)
                save(response, target, max_bytes, pace)
            return target

        return self.retrying(attempt)

    def target_file(self, url: str, directory: Path, allowed: tuple[str, ...] = ()) -> Path:
        """Where :meth:`fetch` keeps ``url``: ``directory`` (made if need be) / :meth:`name_for`."""
        name = self.name_for(url, allowed)
        directory.mkdir(parents=True, exist_ok=True)
        return directory / name

    def name_for(self, url: str, allowed: tuple[str, ...] = ()) -> str:
        """The name of ``url``'s file (:func:`file_name`); a URL refused, or one that names no file, is a
        :class:`DownloadError`."""
        self.screen(url, allowed)
        name = file_name(url)
        if not name:
            raise DownloadError(f"Invalid fileUrl received | fileUrl : {loggable_url(url)}")
        return name

    def retrying(self, work: Callable[[Pace], T]) -> T:
        """``work(pace)``, again after what may pass (:class:`Retryable`) within the retry budget, all of
        it within ``download.deadline_s``."""
        started, attempt = time.monotonic(), 1
        with deadline(self.policy.deadline_s) as watch:
            pace = Pace(self.policy, watch)
            while True:
                try:
                    return work(pace)
                except Retryable as err:
                    pace.on_time()
                    delay = self.retry.next_delay(attempt, started)
                    if delay is None:
                        raise DownloadError(f"download failed after {attempt} attempts: {err}") from None
                    time.sleep(delay)
                    attempt += 1

    @contextmanager
    def open(self, url: str, pace: Pace,
             allowed: tuple[str, ...] = ()) -> Iterator[tuple[urllib3.BaseHTTPResponse, str]]:
        """A GET of ``url`` after following redirects, each checked as ``url`` is: the answer and its URL.
        The answer is released afterwards."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self.request(url, pace, allowed)
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                try:
                    yield response, url
                finally:
                    release(response)
                return
            release(response)
            try:
                url = urljoin(url, location)
            except ValueError:
                raise DownloadError(f"a redirect to what is not a valid URL: {loggable_url(location)}") from None
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects")

    def request(self, url: str, pace: Pace, allowed: tuple[str, ...] = (),
                headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        """One checked GET of ``url``, no redirect followed; the caller releases the answer."""
        host = self.screen(url, allowed)
        try:
            with _address_errors():
                response = self.connections.request("GET", url, headers=headers, timeout=self._timeout)
        except SSLError as err:
            raise DownloadError(f"no trusted TLS connection to {host}: {' '.join(str(err).split())[:200]}") from None
        except HTTPError as err:
            pace.on_time()
            raise Retryable(f"no answer from {host} ({err.__class__.__name__})") from None
        if pace.expired:
            release(response)
            pace.on_time()
        return response


@contextmanager
def _address_errors() -> Iterator[None]:
    """A refused address is final; a name that did not resolve may resolve later."""
    try:
        yield
    except AddressRefused as err:
        raise DownloadError(str(err)) from None
    except NameNotResolved as err:
        raise Retryable(str(err)) from None


def check_status(response: urllib3.BaseHTTPResponse, url: str) -> None:
    """Retry what may pass (408, 425, 429, 5xx); refuse anything else but 200."""
    if response.status in RETRYABLE_STATUS:
        raise Retryable(f"HTTP {response.status} from {loggable_url(url)}")
    if response.status != 200:
        raise DownloadError(f"HTTP {response.status} for {loggable_url(url)}")


def refuse_html(response: urllib3.BaseHTTPResponse, url: str, expected_mime: str) -> None:
    """An HTML page where a file was expected (a sign-in page, Drive's viewer, a "not found" page answered
    with 200) is not the file: refused, unless the content is itself a page (``text/html``, ``text/x-url``)."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type in _PAGES and expected_mime.strip().lower() not in _PAGE_CONTENTS:
        raise DownloadError(f"{loggable_url(url)} answered an HTML page (Content-Type {content_type}), "
                            f"not the file of a {' '.join(expected_mime.split())[:100] or 'content'}")


def save(response: urllib3.BaseHTTPResponse, target: Path, max_bytes: int | None, pace: Pace) -> None:
    """Stream the body to ``target``; nothing is left there if it fails (:func:`body`)."""
    try:
        with open(target, "wb") as out:
            for chunk in body(response, max_bytes, pace):
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def read_body(response: urllib3.BaseHTTPResponse, max_bytes: int, pace: Pace) -> bytes:
    """The whole (small) body in memory, with the checks of :func:`body`."""
    return b"".join(body(response, max_bytes, pace))


def read_head(response: urllib3.BaseHTTPResponse, max_bytes: int, pace: Pace) -> bytes:
    """At most the first ``max_bytes`` of the body (an error page: enough to read what it says)."""
    head = b""
    for chunk in body(response, None, pace):
        head += chunk
        if len(head) >= max_bytes:
            break
    return head[:max_bytes]


def body(response: urllib3.BaseHTTPResponse, max_bytes: int | None, pace: Pace) -> Iterator[bytes]:
    """The decoded body in small reads, checked after each (:class:`BodyRules`)."""
    rules = BodyRules(response, max_bytes, pace)
    while True:
        try:
            chunk = response.read1(_CHUNK)
        except DecodeError:
            raise rules.undecodable() from None
        except HTTPError as err:
            raise rules.interrupted(err) from None
        if not rules.took(chunk):
            return
        yield chunk


class BodyRules:
    """What a body must keep to, checked as it comes in whatever reads it: the size cap (in decoded bytes, so
    a compressed body cannot inflate past it; a declared length is refused before any read), the deadline
    and the minimum rate."""

    def __init__(self, response, max_bytes: int | None, pace: Pace):
        self._encoding = response.headers.get("Content-Encoding", "").strip().lower()
        declared = declared_length(response)
        if max_bytes is not None and self._encoding in ("", "identity") and declared is not None \
                and declared > max_bytes:
            raise TooLarge(f"File Size is larger than allowed file size: {declared} bytes > {max_bytes}")
        self._max_bytes, self._pace = max_bytes, pace
        self._received, self._since = 0, time.monotonic()
        self.declared = declared if self._encoding in ("", "identity") else None  # what the body will be, if known

    def most_bytes(self) -> int | None:
        """The most the decoded body can be: its declared length when not encoded, else the cap (None: no cap)."""
        return self.declared if self.declared is not None else self._max_bytes

    def paused(self, seconds: float) -> None:
        """Nothing was read for ``seconds`` on purpose (waiting for disk room): not counted against the rate."""
        self._since += seconds

    def took(self, chunk: bytes) -> bool:
        """Whether ``chunk`` is more of the body (not its end), once checked."""
        self._pace.steady(self._received + len(chunk), self._since)
        if not chunk:
            return False
        self._received += len(chunk)
        if self._max_bytes is not None and self._received > self._max_bytes:
            raise TooLarge(f"File Size is larger than allowed file size: more than {self._max_bytes} bytes")
        if self.declared is not None and self._received > self.declared:  # sent chunked, say
            raise DownloadError(f"the body is longer than its Content-Length ({self.declared} bytes)")
        return True

    def undecodable(self) -> DownloadError:
        return DownloadError(f"the body is not valid {self._encoding[:40]} (Content-Encoding)")

    def interrupted(self, err: Exception) -> Exception:
        """What a broken transfer is: worth another attempt, if there is time left for one."""
        self._pace.on_time()
        return Retryable(f"download interrupted ({err.__class__.__name__})")


def release(response: urllib3.BaseHTTPResponse) -> None:
    """The connection back to its pool: kept open if the body was read to its end, else closed."""
    if not response.closed:
        response.close()
    response.release_conn()
