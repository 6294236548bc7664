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
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping, NoReturn
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from connectors.address import AddressRefused, NameNotResolved, PublicConnections
from connectors.deadline import deadline, pool_manager
from connectors.json_bytes import dumps
from connectors.metrics import HTTP_REQUESTS, HTTP_SECONDS, RETRIES
from connectors.retry import RetryPolicy

RETRYABLE_STATUS = frozenset({408, 425, 429}) | frozenset(range(500, 600))
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_CHUNK = 64 * 1024


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


class RefusedCall(Exception):
    """A call that is not made (a header value that would change the request) or whose answer is
    refused (larger than ``http.max_answer_bytes``): retrying would not change it."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class WorthRetrying(Exception):
    """An attempt without a final answer (none, a retryable status, a body that is not JSON): the
    callers' retry loops catch it; it never leaves them (:class:`RetriesExhausted` does)."""

    def __init__(self, message: str, status: int | None, retry_after_s: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²", which isdigit() takes and float() refuses
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout_s: float
    read_timeout_s: float
    max_in_flight: int
    headers: dict[str, str]
    call_deadline_s: float = 120.0  # one exchange (request and whole answer), whatever the host's pace
    max_answer_bytes: int = 32 * 2**20  # a service answer, once decoded


class HttpClient:
    """Thread-safe: one urllib3 pool manager, keep-alive connections shared by the calling threads.

    urllib3 directly, rather than requests on top of it: a call costs about half the CPU, and the
    URL is sent exactly as given (requests decodes ``%2E`` back to ``.``, which would turn an
    encoded ``..`` path segment into a "parent folder" step for any proxy on the way).
    """

    def __init__(self, job: str, http: HttpSettings, retry: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep, public: PublicConnections | None = None):
        """``public``: a client for another Sunbird instance, at URLs that may come from events: it
        calls only the addresses ``public`` allows, each name resolved once, and sends none of the
        configured ``http.headers``, so no credential leaks."""
        self._job = job
        self._timeout = urllib3.Timeout(connect=http.connect_timeout_s, read=http.read_timeout_s)
        self._deadline_s = http.call_deadline_s
        self._max_answer_bytes = http.max_answer_bytes
        self._headers = {"Content-Type": "application/json", **({} if public else http.headers)}
        self._retry = retry
        self._sleep = sleep
        self._public = public
        self._pool = pool_manager(num_pools=32, maxsize=max(http.max_in_flight, 4), retries=False)

    def call(self, service: str, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
             form: dict[str, str] | None = None) -> Answer:
        """The first final answer, after retrying retryable ones within the budget.

        ``body`` is sent as JSON; ``form`` as ``multipart/form-data`` text fields instead.
        ``headers`` are added to (or replace) the configured ones for this call.
        """
        refuse_control_characters(method, service, headers)
        attempts = Attempts(self._retry, self._job, service)
        while True:
            try:
                return self._attempt(service, method, url, body, {**self._headers, **(headers or {})}, form)
            except WorthRetrying as err:
                self._sleep(attempts.delay_after(err))

    def _attempt(self, service: str, method: str, url: str, body: Any, headers: dict[str, str],
                 form: dict[str, str] | None) -> Answer:
        data = request_body(body, form, headers)
        started = time.monotonic()
        with deadline(self._deadline_s) as watch:
            try:
                response = self._send(method, url, data, headers, service)
                try:
                    content = read_capped(response, self._max_answer_bytes, f"{method} {service}")
                finally:
                    response.release_conn()
            except HTTPError as err:
                problem = _no_answer(err)
            else:
                problem = None
        if watch.expired:
            problem = f"no complete answer within {self._deadline_s:g}s"
        if problem:
            unanswered(self._job, service, method, started, problem)
        return judged(self._job, service, method, started, response.status, content, response.headers)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str],
              service: str) -> urllib3.BaseHTTPResponse:
        if self._public is None:
            return self._pool.request(method, url, body=data, headers=headers, timeout=self._timeout,
                                      redirect=False, retries=False, preload_content=False)
        try:
            return self._public.request(method, url, headers=headers, body=data, timeout=self._timeout)
        except AddressRefused as err:
            raise RefusedCall(f"{method} {service}: {err}") from None
        except NameNotResolved as err:
            raise WorthRetrying(f"{method} {service}: {err}", None) from None


def request_body(body: Any, form: dict[str, str] | None, headers: dict[str, str]) -> bytes | None:
    """``body`` as JSON, or ``form`` as ``multipart/form-data`` text fields (setting its Content-Type in
    ``headers``)."""
    if form is not None:
        for name in [name for name in headers if name.lower() == "content-type"]:
            del headers[name]  # a configured one in other case would be sent too
        data, headers["Content-Type"] = urllib3.encode_multipart_formdata(form)
        return data
    return None if body is None else dumps(body)


def refuse_control_characters(method: str, service: str, headers: dict[str, str] | None) -> None:
    """A header value with a control character would fold or split the request: the call is not made."""
    for name, value in (headers or {}).items():
        if _CONTROL.search(value):
            raise RefusedCall(f"{method} {service}: the header {name} holds a control character; not sent")


class Attempts:
    """One call's attempts within the ``retry.*`` budget: how long to wait before the next one."""

    def __init__(self, policy: RetryPolicy, job: str, service: str):
        self._policy, self._job, self._service = policy, job, service
        self._started, self._attempt = time.monotonic(), 1

    def delay_after(self, err: WorthRetrying) -> float:
        """The wait before the next attempt; :class:`RetriesExhausted` when the budget has none left."""
        delay = self._policy.next_delay(self._attempt, self._started, err.retry_after_s or 0.0)
        if delay is None:
            elapsed = time.monotonic() - self._started
            raise RetriesExhausted(f"{err} (gave up after {self._attempt} attempts in {elapsed:.1f}s)",
                                   err.status) from None
        RETRIES.labels(self._job, self._service).inc()
        self._attempt += 1
        return delay


def unanswered(job: str, service: str, method: str, started: float, problem: str) -> NoReturn:
    """An attempt that got no (complete) answer, counted: worth another attempt."""
    _counted(job, service, "error", started)
    raise WorthRetrying(f"{method} {service}: {problem}", None)


def judged(job: str, service: str, method: str, started: float, status: int, content: bytes,
           headers: Mapping[str, str]) -> Answer:
    """An attempt's answer, counted: final (returned), or worth another attempt (raised): a retryable
    status, or a body that is not JSON, such as a gateway's error page."""
    _counted(job, service, str(status), started)
    if status in RETRYABLE_STATUS:
        raise WorthRetrying(f"{method} {service}: HTTP {status}", status,
                            retry_after_seconds(headers.get("Retry-After")))
    parsed = _json_or_none(content)
    if parsed is None:
        kind = headers.get("Content-Type", "no content type")
        raise WorthRetrying(f"{method} {service}: HTTP {status} with a body that is not JSON ({kind})", status)
    return Answer(status, parsed)


def _counted(job: str, service: str, code: str, started: float) -> None:
    requests, seconds = _series(job, service, code)
    requests.inc()
    seconds.observe(time.monotonic() - started)


@lru_cache(maxsize=4096)
def _series(job: str, service: str, code: str) -> tuple:
    """The call's counter and histogram children: ``labels()`` takes a lock and a lookup (5 µs a call)."""
    return HTTP_REQUESTS.labels(job, service, code), HTTP_SECONDS.labels(job, service)


def _no_answer(err: HTTPError) -> str:
    if isinstance(err, NewConnectionError):  # urllib3 files "refused" under timeouts too
        return "no answer (connection refused)"
    if isinstance(err, TimeoutError):
        return "timed out"
    return f"no answer ({err.__class__.__name__})"


def declared_length(response: urllib3.BaseHTTPResponse) -> int | None:
    """The answer's ``Content-Length``, or None when it is not a plain number (``²`` is a digit to
    ``isdigit()``, not to ``int()``, which also refuses more than 4,300 digits)."""
    declared = response.headers.get("Content-Length", "").strip()
    return int(declared) if declared.isascii() and declared.isdigit() and len(declared) <= 18 else None


def read_capped(response: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
    """The decoded body, read in small steps so that a compressed one cannot inflate past ``limit``;
    a larger one is a :class:`RefusedCall`, and its connection is closed."""
    declared = declared_length(response)
    size, chunks = declared or 0, []
    # A chunked answer is read as chunked, whatever length it declares.
    if declared is not None and size <= limit and not response.headers.get("Content-Encoding") \
            and not response.chunked:
        return response.read()  # the usual answer: its declared bytes, no more, in one step
    if size <= limit:
        size = 0
        # read1, not stream(): urllib3's own chunk reader takes a negative chunk size ("-1") as "read
        # to the end of the connection", all of it in one step; http.client's read1 does not.
        while chunk := response.read1(_CHUNK):
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    if size > limit:
        response.close()  # and its connection: the unread rest must not meet the next call on it
        raise RefusedCall(f"{what}: the answer is larger than {limit} bytes (http.max_answer_bytes)", response.status)
    return b"".join(chunks)


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None
