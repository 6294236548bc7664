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
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl

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


class SunbirdSandbox:
    """The server; services add routes with :meth:`route`."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.journal = Journal()
        self.faults = Faults()
        self._routes: list[tuple[str, re.Pattern, Route]] = []
        self.contribution = ContributionService(self)
        self.files = FileServer(self)
        self.content = ContentService(self)
        self.source = QuestionSource(self)
        self.questions = QuestionTarget(self)
        self._server: ThreadingHTTPServer | None = None
        self.refusing = False
        self.required_headers: dict[str, str] = {}  # as a gateway's credentials: without them, HTTP 401

    def require_header(self, name: str, value: str) -> None:
        """The configured services (program, content, search, question set) answer 401 to a request without
        this header value, as a gateway does to wrong credentials; the source and the file hosts do not."""
        self.required_headers[name.lower()] = value

    def route(self, method: str, pattern: str, handler: Route) -> None:
        """Answer ``method`` on raw paths fully matching ``pattern``."""
        self._routes.append((method, re.compile(pattern), handler))

    def answer(self, method: str, path: str, body: Any, headers: dict[str, str], raw: bytes = b"") -> Reply:
        injected = self.faults.injected(method, path)
        if injected is not None:
            return injected
        route_path, _, query = path.partition("?")
        given = {name.lower(): value for name, value in headers.items()}
        if route_path.startswith(_GATED) and any(given.get(name) != value
                                                 for name, value in self.required_headers.items()):
            return Reply(401, {"message": "Unauthorized"})
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(route_path)
            if route_method == method and match:
                return handler(Call(match, dict(parse_qsl(query)), body, headers, raw))
        return Reply(404, f"<!DOCTYPE html><html><body><pre>Cannot {method} {route_path}</pre></body></html>")

    def refuse(self, seconds: float) -> None:
        """Refuse connections for ``seconds``: the port is closed and open connections are dropped."""
        self.refusing = True
        self._server.shutdown()
        self._server.server_close()

        def reopen() -> None:
            time.sleep(seconds)
            self.start()

        threading.Thread(target=reopen, daemon=True).start()

    def start(self) -> "SunbirdSandbox":
        self.refusing = False
        self._server = _QuietServer(("127.0.0.1", self.port), _handler_class(self))
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="sandbox", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "SunbirdSandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-answer (a killed job) are normal here, not errors to print.

    The listen backlog is raised from socketserver's 5: with dozens of calls in flight, a full
    accept queue drops new connections, and each dropped one waits a second for its retry."""

    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address) -> None:
        pass


def _handler_class(sandbox: SunbirdSandbox) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args) -> None:  # the journal is the log
            pass

        def _serve(self) -> None:
            if sandbox.refusing:  # a connection opened before the port closed: drop it unanswered
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = _decode(raw)
            path = self.path
            if path.startswith("/__sandbox/"):
                return self._send(self._control(path, body))
            sandbox.journal.arrive()
            delay = sandbox.faults.delay_for(self.command, path)
            if delay:
                time.sleep(delay)
            headers = dict(self.headers.items())
            reply = sandbox.answer(self.command, path, body, headers, raw)
            sandbox.journal.add(Request(self.command, path, body, headers, reply.status, time.time()))
            self._send(reply)

        def _control(self, path: str, body: Any) -> Reply:
            if path == "/__sandbox/journal":
                return Reply(200, [vars(r) for r in sandbox.journal.all()])
            if path == "/__sandbox/faults" and isinstance(body, dict):
                sandbox.faults.configure(body)
                return Reply(200, {"ok": True})
            return Reply(404, {"error": f"no control {path}"})

        def _send(self, reply: Reply) -> None:
            if isinstance(reply.body, Raw):
                self.close_connection = True
                return reply.body.write(self.wfile)
            if isinstance(reply.body, bytes):
                payload, kind = reply.body, "application/octet-stream"
            elif isinstance(reply.body, str):
                payload, kind = reply.body.encode(), "text/html; charset=utf-8"
            else:
                payload, kind = json.dumps(reply.body).encode(), "application/json"
            self.send_response(reply.status)
            if "Content-Type" not in reply.headers:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve

    return Handler


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
