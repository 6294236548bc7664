"""The one HTTP caller of the jobs: pooled connections, timeouts, retries with back-off.

Every call to a Sunbird service goes through :meth:`HttpClient.call`. It retries what may
change by retrying (no answer, a timeout, 408/425/429/5xx, or a body that is not JSON,
such as a gateway's error page) with exponential back-off and jitter, honouring
``Retry-After``, within the ``retry.*`` budget. It returns the first final answer for
the job's rules to judge, or raises :class:`RetriesExhausted`::

    client = HttpClient("user-delete", settings.http, settings.retry)
    answer = client.call("program-service", "DELETE", url)
    answer.status, answer.body  # 404, {"responseCode": "SERVER_ERROR", ...}
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from connectors.metrics import HTTP_REQUESTS, HTTP_SECONDS, RETRIES
from flows.event import dumps
from flows.settings import HttpSettings, RetrySettings

RETRYABLE_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))


def path_segment(value: str) -> str:
    """``value`` as exactly one URL path segment: ``/``, ``?``, ``#`` and ``%`` encoded, and
    ``.``/``..`` too, which HTTP clients and proxies would resolve as "this" or "parent" folder."""
    segment = quote(value, safe="")
    return segment.replace(".", "%2E") if segment in (".", "..") else segment


@dataclass(frozen=True)
class Answer:
    """A final HTTP answer: its status and its JSON body."""

    status: int
    body: Any


class RetriesExhausted(Exception):
    """Every attempt the budget allowed got a retryable answer (or none)."""

    def __init__(self, message: str, status: int | None):
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    def __init__(self, message: str, status: int | None, retry_after_s: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def backoff_seconds(attempt: int, initial_s: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential back-off with jitter: between half and all of ``initial * 2**(attempt-1)``."""
    base = initial_s * (2 ** (attempt - 1))
    return base / 2 + rand() * base / 2


class HttpClient:
    """Thread-safe: one ``requests.Session`` per calling thread."""

    def __init__(self, job: str, http: HttpSettings, retry: RetrySettings,
                 sleep: Callable[[float], None] = time.sleep):
        self._job = job
        self._timeout = (http.connect_timeout_s, http.read_timeout_s)
        self._headers = {"Content-Type": "application/json", **http.headers}
        self._retry = retry
        self._sleep = sleep
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no per-call look-ups of ~/.netrc, proxies and CA bundles in the environment
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=8, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def call(self, service: str, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
             form: dict[str, str] | None = None, configured_headers: bool = True) -> Answer:
        """The first final answer, after retrying retryable ones within the budget.

        ``body`` is sent as JSON; ``form`` as ``multipart/form-data`` text fields instead.
        ``headers`` are added to (or replace) the configured ones for this call; a call to
        another instance (``configured_headers=False``) gets none of them, so no credential leaks.
        """
        started = time.monotonic()
        attempt = 1
        base = self._headers if configured_headers else {"Content-Type": "application/json"}
        while True:
            try:
                return self._attempt(service, method, url, body, {**base, **(headers or {})}, form)
            except _Retryable as err:
                delay = min(backoff_seconds(attempt, self._retry.initial_backoff_s), self._retry.max_backoff_s)
                if err.retry_after_s is not None:
                    delay = max(delay, err.retry_after_s)
                elapsed = time.monotonic() - started
                if attempt >= self._retry.max_attempts or elapsed + delay > self._retry.max_elapsed_s:
                    raise RetriesExhausted(f"{err} (gave up after {attempt} attempts in {elapsed:.1f}s)",
                                           err.status) from None
                RETRIES.labels(self._job, service).inc()
                self._sleep(delay)
                attempt += 1

    def _attempt(self, service: str, method: str, url: str, body: Any, headers: dict[str, str],
                 form: dict[str, str] | None) -> Answer:
        data = None if body is None else dumps(body)
        started = time.monotonic()
        try:
            response = self._send(method, url, data, headers, form)
            content = response.content
        except requests.Timeout:
            self._count(service, "error", started)
            raise _Retryable(f"{method} {service}: timed out", None) from None
        except requests.RequestException as err:
            self._count(service, "error", started)
            raise _Retryable(f"{method} {service}: no answer ({err.__class__.__name__})", None) from None
        status = response.status_code
        self._count(service, str(status), started)
        parsed = _json_or_none(content)
        if status in RETRYABLE_STATUS:
            raise _Retryable(f"{method} {service}: HTTP {status}", status,
                             retry_after_seconds(response.headers.get("Retry-After")))
        if parsed is None:
            kind = response.headers.get("Content-Type", "no content type")
            raise _Retryable(f"{method} {service}: HTTP {status} with a body that is not JSON ({kind})", status)
        return Answer(status, parsed)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str],
              form: dict[str, str] | None) -> requests.Response:
        """Send ``url`` exactly as given: requests would decode ``%2E`` back to ``.``, turning an
        encoded ``..`` path segment into a "parent folder" step for any proxy on the way."""
        session = self._session()
        all_headers = dict(headers)
        files = None
        if form is not None:
            all_headers.pop("Content-Type")  # requests sets multipart/form-data with its boundary
            files = {name: (None, value) for name, value in form.items()}
        prepared = session.prepare_request(requests.Request(method, url, data=data, files=files,
                                                            headers=all_headers))
        prepared.url = url
        return session.send(prepared, timeout=self._timeout, allow_redirects=False)

    def _count(self, service: str, code: str, started: float) -> None:
        HTTP_REQUESTS.labels(self._job, service, code).inc()
        HTTP_SECONDS.labels(self._job, service).observe(time.monotonic() - started)


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None
