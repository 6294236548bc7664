"""The jobs' HTTP caller on an event loop: :class:`~connectors.http.HttpClient`'s calls for handlers that
are coroutines, with aiohttp. Thousands of calls can wait at once on one thread, where a thread per call
costs a hand-over of the GIL for every answer.

The same contract as the threaded client: retries within ``retry.*`` (no answer, a timeout,
408/425/429/5xx, a body that is not JSON), ``Retry-After``, a wall-clock deadline per attempt
(``http.call_deadline_s``), answers capped at ``http.max_answer_bytes`` once decoded, header values with
a control character refused, the URL sent exactly as given, no redirect followed, nothing taken from
the environment (proxies, ``.netrc``)::

    client = AsyncHttpClient("user-delete", settings.http, settings.retry)
    answer = await client.call("program-service", "DELETE", url)

A client made with ``public=`` (:class:`~connectors.loop_connections.LoopConnections`) calls URLs that come
from events: to checked addresses only, without the configured headers.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

import aiohttp
from yarl import URL

from connectors.address import AddressRefused, NameNotResolved
from connectors.http import (Answer, Attempts, HttpSettings, RefusedCall, WorthRetrying, judged,
                             refuse_control_characters, request_body, unanswered)
from connectors.loop_connections import LoopConnections, session_of_loop
from connectors.retry import RetryPolicy

_CHUNK = 64 * 1024


class AsyncHttpClient:
    """One aiohttp session per event loop (made on the loop at its first call), keep-alive connections
    shared by the coroutines, at most ``http.max_in_flight`` of them."""

    def __init__(self, job: str, http: HttpSettings, retry: RetryPolicy,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, public: LoopConnections | None = None):
        """``public``: a client for another Sunbird instance, at URLs that may come from events: it calls only
        the addresses ``public`` allows, each name resolved once, and sends none of the configured
        ``http.headers``, so no credential leaks."""
        self._job = job
        self._public = public
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=http.connect_timeout_s,
                                              sock_read=http.read_timeout_s)
        self._deadline_s = http.call_deadline_s
        self._max_answer_bytes = http.max_answer_bytes
        self._connections = max(http.max_in_flight, 4)
        self._headers = {"Content-Type": "application/json", **({} if public else http.headers)}
        self._retry = retry
        self._sleep = sleep
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def _session(self) -> aiohttp.ClientSession:
        return session_of_loop(self._sessions, lambda: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._connections), timeout=self._timeout, trust_env=False))

    async def call(self, service: str, method: str, url: str, body: Any = None,
                   headers: dict[str, str] | None = None, form: dict[str, str] | None = None) -> Answer:
        """The first final answer, after retrying retryable ones within the budget. ``body`` is sent as
        JSON; ``form`` as ``multipart/form-data`` text fields instead; ``headers`` are added to (or replace)
        the configured ones for this call."""
        refuse_control_characters(method, service, headers)
        attempts = Attempts(self._retry, self._job, service)
        while True:
            try:
                headers_sent = {**self._headers, **(headers or {})}
                data = request_body(body, form, headers_sent)
                return await self._attempt(service, method, url, data, headers_sent)
            except WorthRetrying as err:
                await self._sleep(attempts.delay_after(err))

    async def _attempt(self, service: str, method: str, url: str, data: bytes | None,
                       headers: dict[str, str]) -> Answer:
        started = time.monotonic()
        what = f"{method} {service}"
        try:
            async with asyncio.timeout(self._deadline_s) as limit:
                async with await self._send(method, url, data, headers, service) as response:
                    content = await _read_capped(response, self._max_answer_bytes, what)
        except TimeoutError:
            expired = limit.expired()  # the whole exchange's deadline, or one read's timeout
            unanswered(self._job, service, method, started, f"no complete answer within {self._deadline_s:g}s"
                       if expired else "timed out")
        except aiohttp.ClientConnectorError:
            unanswered(self._job, service, method, started, "no answer (connection refused)")
        except (aiohttp.ClientError, ValueError) as err:  # a broken answer; ValueError: a malformed head
            unanswered(self._job, service, method, started, f"no answer ({err.__class__.__name__})")
        return judged(self._job, service, method, started, response.status, content, response.headers)


    async def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str],
                    service: str) -> aiohttp.ClientResponse:
        if self._public is None:
            return await self._session().request(method, URL(url, encoded=True), data=data, headers=headers,
                                                 allow_redirects=False)
        try:
            return await self._public.request(method, url, headers=headers, data=data, timeout=self._timeout)
        except AddressRefused as err:
            raise RefusedCall(f"{method} {service}: {err}") from None
        except NameNotResolved as err:
            raise WorthRetrying(f"{method} {service}: {err}", None) from None


async def _read_capped(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The decoded body, read in steps so that a compressed one cannot inflate past ``limit``; a larger one
    is a :class:`~connectors.http.RefusedCall`, and its connection is closed."""
    declared, size, chunks = response.content_length, 0, []
    if declared is None or declared <= limit:
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    if (declared or 0) > limit or size > limit:
        response.close()  # and its connection: the unread rest must not meet the next call on it
        raise RefusedCall(f"{what}: the answer is larger than {limit} bytes (http.max_answer_bytes)", response.status)
    return b"".join(chunks)
