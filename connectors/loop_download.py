"""Downloads on the event loop: :class:`~connectors.download.Downloader`'s rules for handlers that are
coroutines, with aiohttp, so that a file no longer costs a thread and the hand-overs of the GIL it takes.

The same rules, most of them the very functions the threaded downloader applies: the URL screened (form,
allow-list) and fetched through :class:`~connectors.loop_connections.LoopConnections` (the name resolved
once, every address checked, the connection made to one of those very addresses, the name travelling only
in ``Host`` and in TLS); each redirect (at most 5) checked the same way; the status and
an unexpected HTML page refused; the body capped in decoded bytes, held to a minimum rate after a grace
period, and all of it (redirects and retries included) to ``download.deadline_s``; what may pass retried
within the retry budget::

    downloads = LoopDownloader(downloader)
    name = downloads.name_for("https://host/a/My%20File.pdf")   # "my-file.pdf"
    await downloads.fetch_into("https://host/a/My%20File.pdf", spool)
"""

from __future__ import annotations

import asyncio
import time
from typing import BinaryIO
from urllib.parse import urljoin

import aiohttp
from aiohttp.http_exceptions import ContentEncodingError

from connectors.address import AddressRefused, NameNotResolved, loggable_url
from connectors.deadline import Watch
from connectors.download import (MAX_REDIRECTS, REDIRECTS, BodyRules, Downloader, DownloadError, Pace, Retryable,
                                 check_status, past_disk_budget, refuse_html)
from connectors.loop_connections import LoopConnections
from connectors.spool import OverBudget, Spool

_CHUNK = 64 * 1024


class LoopDownloader:
    """Downloads on the running event loop, with ``downloader``'s policy and retry budget, through
    :class:`~connectors.loop_connections.LoopConnections` (``connections``, which other callers of the same
    hosts may share)."""

    def __init__(self, downloader: Downloader):
        self._rules = downloader
        policy = downloader.policy
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=policy.connect_timeout_s,
                                              sock_read=policy.read_timeout_s)
        self.connections = LoopConnections(policy.allow_private_networks, policy.max_connections)

    def name_for(self, url: str, allowed: tuple[str, ...] = ()) -> str:
        """:meth:`Downloader.name_for`: the name of ``url``'s file, once the URL is screened."""
        return self._rules.name_for(url, allowed)

    async def fetch_into(self, url: str, out: BinaryIO, max_bytes: int | None = None, allowed: tuple[str, ...] = (),
                         expected_mime: str = "") -> None:
        """``url`` into the file ``out`` (emptied at each attempt: a retry starts again), as
        :meth:`Downloader.fetch` does; a :class:`~connectors.spool.Spool` keeps a small download in memory."""
        self._rules.screen(url, allowed)
        policy, started, attempt = self._rules.policy, time.monotonic(), 1
        pace = Pace(policy, Watch(started + policy.deadline_s))
        try:
            async with asyncio.timeout(policy.deadline_s) as limit:
                while True:
                    try:
                        return await self._attempt(url, out, max_bytes, allowed, expected_mime, pace)
                    except Retryable as err:
                        pace.on_time()
                        delay = self._rules.retry.next_delay(attempt, started)
                        if delay is None:
                            raise DownloadError(f"download failed after {attempt} attempts: {err}") from None
                        await asyncio.sleep(delay)
                        attempt += 1
        except TimeoutError:
            if not limit.expired():
                raise
            raise DownloadError(f"the download took longer than download.deadline_s ({policy.deadline_s:g} s)") \
                from None

    async def _attempt(self, url: str, out: BinaryIO, max_bytes: int | None, allowed: tuple[str, ...],
                       expected_mime: str, pace: Pace) -> None:
        response, final_url = await self._open(url, pace, allowed)
        try:
            check_status(response, final_url)
            refuse_html(response, final_url, expected_mime)
            await _write_body(response, out, max_bytes, pace)
        finally:
            response.close()

    async def _open(self, url: str, pace: Pace, allowed: tuple[str, ...]) -> tuple[aiohttp.ClientResponse, str]:
        """A GET of ``url`` after following redirects, each checked as ``url`` is: the answer and its URL."""
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._request(url, pace, allowed)
            location = response.headers.get("Location")
            if response.status not in REDIRECTS or not location:
                return response, url
            response.close()
            try:
                url = urljoin(url, location)
            except ValueError:
                raise DownloadError(f"a redirect to what is not a valid URL: {loggable_url(location)}") from None
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects")

    async def _request(self, url: str, pace: Pace, allowed: tuple[str, ...]) -> aiohttp.ClientResponse:
        """One checked GET of ``url`` (:class:`~connectors.loop_connections.LoopConnections`), no redirect
        followed."""
        host = self._rules.screen(url, allowed)
        try:
            response = await self.connections.request("GET", url, timeout=self._timeout)
        except AddressRefused as err:
            raise DownloadError(str(err)) from None
        except NameNotResolved as err:
            raise Retryable(str(err)) from None
        except aiohttp.ClientSSLError as err:
            raise DownloadError(f"no trusted TLS connection to {host}: {' '.join(str(err).split())[:200]}") from None
        except aiohttp.ClientError as err:
            pace.on_time()
            raise Retryable(f"no answer from {host} ({err.__class__.__name__})") from None
        if pace.expired:
            response.close()
            pace.on_time()
        return response


async def _write_body(response: aiohttp.ClientResponse, out: BinaryIO, max_bytes: int | None, pace: Pace) -> None:
    """The decoded body written to ``out`` from its start, checked as it comes (:class:`BodyRules`). A spool about
    to outgrow memory first reserves disk room for the most the body can be; a retry's spool, its file emptied,
    again if this answer may be longer. A spool on disk never waits for more: its bytes stay there meanwhile."""
    rules = BodyRules(response, max_bytes, pace)
    out.seek(0)
    out.truncate()
    spool = out if isinstance(out, Spool) else None
    if spool is not None and spool.path is not None and spool.needs_room(rules.most_bytes()):
        await _reserve_room(spool, rules)
    while True:
        try:
            chunk = await response.content.read(_CHUNK)
        except aiohttp.ClientError as err:
            if isinstance(err.__cause__, ContentEncodingError):
                raise rules.undecodable() from None
            raise rules.interrupted(err) from None
        if not rules.took(chunk):
            return
        if spool is not None and spool.path is None and spool.needs_room(len(chunk)):
            await _reserve_room(spool, rules)
        try:
            out.write(chunk)
        except OverBudget:
            raise past_disk_budget(f"at least {out.tell() + len(chunk)} bytes") from None


async def _reserve_room(spool: Spool, rules: BodyRules) -> None:
    """Disk room for the most the body can be, waited for in the budget; the wait reads nothing, so it does not
    count against the body's rate. A declared length past the whole budget can never fit: it fails at once."""
    if rules.declared is not None and rules.declared > spool.budget_total:
        raise past_disk_budget(f"{rules.declared} bytes")
    waited = time.monotonic()
    await spool.reserve(rules.most_bytes())
    rules.paused(time.monotonic() - waited)
