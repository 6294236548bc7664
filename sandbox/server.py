"""A real HTTP server on 127.0.0.1 standing in for the Sunbird services.

Services register routes on it (``sandbox/contribution.py`` for now); the server adds
what tests need around them: a journal of every request, and fault injection (latency,
scripted status sequences per route, outage windows, non-JSON error pages, answers slower
than the client's read timeout)::

    with SunbirdSandbox() as sandbox:
        sandbox.contribution.add_user("u-1")
        sandbox.faults.script("DELETE", "/program/v1/user/", [503, 503])  # then normal answers
        ...  # run a job against sandbox.url
        assert sandbox.journal.count("DELETE", "/program/v1/user/u-1") == 3

The same controls are served under ``/__sandbox/`` (``GET journal``, ``POST faults``) for
a sandbox running in another process (``python -m sandbox``).

The HTTP layer is aiohttp's low-level server on an event loop of its own, in a daemon thread: it costs
less than half the CPU per call of ``http.server``'s thread per connection, and the sandbox shares the
machine's cores with the job under test in benchmarks. Route handlers stay plain functions: most run on
the loop, and must not wait there; one registered ``blocking`` (it sleeps, or fetches from the sandbox
itself) and a :class:`Raw` answer (written with pauses) run on worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_request import BaseRequest

from sandbox.process import free_port
from sandbox.content import ContentService
from sandbox.contribution import ContributionService
from sandbox.files import FileServer
from sandbox.questions import QuestionSource, QuestionTarget
from sandbox.routes import Call, Raw, Reply


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # as sent, still percent-encoded
    body: Any  # the parsed JSON body, the raw text, or None
    headers: dict[str, str]
    status: int
    at: float


class Journal:
    """Every request the sandbox answered (or refused), in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self.arrived = 0  # requests received, answered or not yet

    def arrive(self) -> None:
        with self._lock:
            self.arrived += 1

    def add(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def all(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def matching(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [r for r in self.all() if (method is None or r.method == method)
                and (path is None or r.path == path)]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.matching(method, path))

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()


@dataclass
class _Script:
    method: str
    prefix: str
    statuses: deque
    html: bool
    retry_after: str | None


class Faults:
    """What goes wrong, and when: consulted before a route answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._latency: list[tuple[str | None, str, float]] = []
        self._outage_until = 0.0
        self._outage_status = 503
        self._outage_html = False

    def script(self, method: str, prefix: str, statuses: list[int], html: bool = False,
               retry_after: str | None = None) -> None:
        """The next requests to ``method prefix*`` get these statuses in turn (200 = answer normally)."""
        with self._lock:
            self._scripts.append(_Script(method, prefix, deque(statuses), html, retry_after))

    def latency(self, seconds: float, method: str | None = None, prefix: str = "") -> None:
        """Delay every answer to ``method prefix*`` by ``seconds`` (more than the read timeout = too slow)."""
        with self._lock:
            self._latency.append((method, prefix, seconds))

    def outage(self, seconds: float, status: int = 503, html: bool = False) -> None:
        """Every route answers ``status`` for the next ``seconds``."""
        with self._lock:
            self._outage_until = time.monotonic() + seconds
            self._outage_status, self._outage_html = status, html

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
            self._latency.clear()
            self._outage_until = 0.0

    def in_outage(self) -> bool:
        with self._lock:
            return time.monotonic() < self._outage_until

    def delay_for(self, method: str, path: str) -> float:
        with self._lock:
            return sum(s for m, p, s in self._latency if m in (None, method) and path.startswith(p))

    def injected(self, method: str, path: str) -> Reply | None:
        """The fault reply for this request, if one is due."""
        with self._lock:
            if time.monotonic() < self._outage_until:
                return _error_reply(self._outage_status, self._outage_html, None)
            for script in self._scripts:
                if script.statuses and script.method == method and path.startswith(script.prefix):
                    status = script.statuses.popleft()
                    return None if status == 200 else _error_reply(status, script.html, script.retry_after)
        return None

    def configure(self, spec: dict) -> None:
        """Apply a JSON fault description (the ``POST /__sandbox/faults`` body)."""
        if spec.get("clear"):
            self.clear()
        for item in spec.get("scripts", []):
            self.script(item["method"], item["prefix"], item["statuses"], item.get("html", False),
                        item.get("retry_after"))
        for item in spec.get("latency", []):
            self.latency(item["seconds"], item.get("method"), item.get("prefix", ""))
        if "outage" in spec:
            self.outage(spec["outage"]["seconds"], spec["outage"].get("status", 503),
                        spec["outage"].get("html", False))


def _error_reply(status: int, html: bool, retry_after: str | None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after else {}
    if html:
        page = f"<html><head><title>{status}</title></head><body><h1>{status} Bad Gateway</h1></body></html>"
        return Reply(status, page, headers)
    return Reply(status, {"responseCode": "SERVER_ERROR", "params": {"status": "failed",
                                                                     "err": "SANDBOX_FAULT"}}, headers)


Route = Callable[[Call], Reply]


_GATED = ("/program/", "/content/", "/v3/search", "/question/", "/questionset/")  # behind the gateway
_METHODS = {"GET", "POST", "DELETE", "PATCH", "PUT"}
_WORKERS = 512  # blocking routes and Raw answers at once; an upload's fetch of a file from the sandbox takes two
_LIMIT = 65536  # the longest request line and header line accepted (http.server's limit)
_QUIET = logging.getLogger("sandbox.server")  # bad requests and hang-ups are normal here, not errors to print
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


class SunbirdSandbox:
    """The server; services add routes with :meth:`route`."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.journal = Journal()
        self.faults = Faults()
        self._routes: list[tuple[str, re.Pattern, Route, bool]] = []
        self.contribution = ContributionService(self)
        self.files = FileServer(self)
        self.content = ContentService(self)
        self.source = QuestionSource(self)
        self.questions = QuestionTarget(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._workers: ThreadPoolExecutor | None = None
        self._server: web.Server | None = None
        self._listener: socket.socket | None = None
        self._reopening: asyncio.Task | None = None  # held: the loop keeps only weak references to its tasks
        self.refusing = False
        self.required_headers: dict[str, str] = {}  # as a gateway's credentials: without them, HTTP 401

    def require_header(self, name: str, value: str) -> None:
        """The configured services (program, content, search, question set) answer 401 to a request without
        this header value, as a gateway does to wrong credentials; the source and the file hosts do not."""
        self.required_headers[name.lower()] = value

    def route(self, method: str, pattern: str, handler: Route, blocking: bool = False) -> None:
        """Answer ``method`` on raw paths fully matching ``pattern``. A ``blocking`` handler (one that sleeps
        or calls out) runs on a worker thread; the others run on the event loop, which they must not hold up."""
        self._routes.append((method, re.compile(pattern), handler, blocking))

    def answer(self, method: str, path: str, body: Any, headers: dict[str, str], raw: bytes = b"") -> Reply:
        """The reply to a request, as the server sends it (faults, credentials, then the route)."""
        return self._dispatch(method, path, body, headers, raw)[0]()

    def _dispatch(self, method: str, path: str, body: Any, headers: dict[str, str],
                  raw: bytes) -> tuple[Callable[[], Reply], bool]:
        """What answers this request, and whether it may block (a route registered ``blocking``)."""
        injected = self.faults.injected(method, path)
        if injected is not None:
            return lambda: injected, False
        route_path, _, query = path.partition("?")
        given = {name.lower(): value for name, value in headers.items()}
        if route_path.startswith(_GATED) and any(given.get(name) != value
                                                 for name, value in self.required_headers.items()):
            return lambda: Reply(401, {"message": "Unauthorized"}), False
        for route_method, pattern, handler, blocking in self._routes:
            match = pattern.fullmatch(route_path)
            if route_method == method and match:
                return partial(handler, Call(match, dict(parse_qsl(query)), body, headers, raw)), blocking
        page = f"<!DOCTYPE html><html><body><pre>Cannot {method} {route_path}</pre></body></html>"
        return lambda: Reply(404, page), False

    def refuse(self, seconds: float) -> None:
        """Refuse connections for ``seconds``: the port is closed and open connections are dropped (each at
        its next request; one already received is answered, as a change made must not go unanswered)."""
        asyncio.run_coroutine_threadsafe(self._refuse(seconds), self._loop).result()

    async def _refuse(self, seconds: float) -> None:
        self.refusing = True
        if self._listener is not None:
            self._stop_listening()
        if self._reopening is not None:  # a refusal during another: the port opens after the later one
            self._reopening.cancel()
        self._reopening = asyncio.create_task(self._reopen(seconds))

    async def _reopen(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        for _ in range(100):  # the port may be held a moment by a socket still closing
            try:
                await self._listen()
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            await self._listen()  # still taken after 5 s: the error ends the reopening, refusing stays True
        self.refusing = False

    async def _listen(self) -> None:
        """Listen on the port, with a deep backlog: dozens of calls connecting at once would overflow a short
        one, and each connection dropped waits a second for its retry."""
        self._listener = socket.create_server(("127.0.0.1", self.port), backlog=1024)
        self._listener.setblocking(False)
        self._loop.add_reader(self._listener.fileno(), self._accept)

    def _accept(self) -> None:
        """Hand each waiting connection to aiohttp. Accepted here rather than by an ``asyncio.Server``: in
        Python 3.11, a connection such a server accepts just before it closes is left open, never answered."""
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # none waiting (BlockingIOError), or one already gone
                return
            self._loop.create_task(self._loop.connect_accepted_socket(self._server, connection))

    def _stop_listening(self) -> None:
        self._loop.remove_reader(self._listener.fileno())
        self._listener.close()
        self._listener = None

    def start(self) -> "SunbirdSandbox":
        self.refusing = False
        self._loop = asyncio.new_event_loop()
        self._workers = ThreadPoolExecutor(_WORKERS, thread_name_prefix="sandbox-route")
        self._server = web.Server(self._handle, loop=self._loop, access_log=None, logger=_QUIET,
                                  max_line_size=_LIMIT, max_field_size=_LIMIT)
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the port and every connection, end the loop's thread, and let the worker threads end."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._workers.shutdown(wait=False, cancel_futures=True)  # a route still sleeping ends on its own
        self._loop = self._thread = self._workers = self._server = self._listener = self._reopening = None

    async def _close(self) -> None:
        """Stop listening, close every connection and end every task (a handler in a latency fault's sleep, a
        connection being set up, a refusal's reopening): until none is left, as ending one can start another."""
        if self._listener is not None:
            self._stop_listening()
        while pending := [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]:
            for connection in self._server.connections:
                connection.force_close()
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0)  # the closed connections' sockets are released on the next turn of the loop

    def __enter__(self) -> "SunbirdSandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _handle(self, request: BaseRequest) -> web.StreamResponse:
        """One request: journal, faults, the route (on a worker thread if it blocks), the reply."""
        if self.refusing:  # a request that reached the loop before the port closed: dropped unanswered
            return _dropped(request)
        method, path = request.method, request.raw_path
        if method not in _METHODS:
            return _response(Reply(501, f"<html><body>Unsupported method ({method!r})</body></html>"))
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw = await request.content.read() if request.body_exists else b""
        body = _decode(raw)
        if path.startswith("/__sandbox/"):
            return _response(self._control(path, body))
        self.journal.arrive()
        delay = self.faults.delay_for(method, path)
        if delay:
            await asyncio.sleep(delay)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.raw_headers}
        try:
            answering, blocking = self._dispatch(method, path, body, headers, raw)
            reply = await self._loop.run_in_executor(self._workers, answering) if blocking else answering()
        except Exception:  # a route's own failure: the connection is closed unanswered, as a crashed service's
            return _dropped(request)
        self.journal.add(Request(method, path, body, headers, reply.status, time.time()))
        if isinstance(reply.body, Raw):
            return await self._write_raw(request, reply.body)
        return _response(reply)

    def _control(self, path: str, body: Any) -> Reply:
        if path == "/__sandbox/journal":
            return Reply(200, [vars(r) for r in self.journal.all()])
        if path == "/__sandbox/faults" and isinstance(body, dict):
            self.faults.configure(body)
            return Reply(200, {"ok": True})
        return Reply(404, {"error": f"no control {path}"})

    async def _write_raw(self, request: BaseRequest, raw: Raw) -> web.StreamResponse:
        """A Raw answer, written by its own function on a worker thread (it sleeps between bytes); then the
        connection is closed, aiohttp adding nothing of its own."""
        with contextlib.suppress(Exception):  # the client hung up
            await self._loop.run_in_executor(self._workers, raw.write, _Connection(self._loop, request.transport))
        return _dropped(request)


class _Connection:
    """A connection as a Raw answer writes to it from a worker thread: each write is queued onto the loop
    (in order); once the client has hung up, a write raises."""

    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport | None):
        self._loop, self._transport = loop, transport

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise BrokenPipeError("the client hung up")
        self._loop.call_soon_threadsafe(self._put, bytes(data))

    def _put(self, data: bytes) -> None:
        if not self._transport.is_closing():
            self._transport.write(data)

    def flush(self) -> None:
        """Nothing to do: every write is on its way already."""


def _dropped(request: BaseRequest) -> web.StreamResponse:
    """Close the connection without an answer: aiohttp then finds it closed and writes nothing."""
    request.protocol.force_close()
    return web.Response()


def _response(reply: Reply) -> web.Response:
    if isinstance(reply.body, bytes):
        payload, kind = reply.body, "application/octet-stream"
    elif isinstance(reply.body, str):
        payload, kind = reply.body.encode(), "text/html; charset=utf-8"
    else:
        payload, kind = json.dumps(reply.body).encode(), "application/json"
    headers = reply.headers if "Content-Type" in reply.headers else {"Content-Type": kind, **reply.headers}
    return web.Response(status=reply.status, body=payload, headers=headers)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
