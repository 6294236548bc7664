"""Liveness and readiness of a job process over HTTP, for an orchestrator's probes.

* ``GET /livez``: 200, unless events are pending (taken from Kafka, no outcome yet) and none has
  reached an outcome for ``health.stall_timeout_s``: then 503, and the orchestrator restarts a
  process that is stuck (a hung call, a deadlock) while it still looks alive. An idle job is live.
* ``GET /readyz``: 200 once the dataflow has listed its topics' partitions and while the Kafka
  brokers are reachable; 503 with the reason otherwise.

The workers of a process share one :class:`Progress`, updated once per batch, so the probes cost
nothing per event::

    progress = Progress()
    serve(8081, Health(progress, watch.unreachable_s, stall_timeout_s=600))
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import orjson


class Progress:
    """Events taken from Kafka, events that reached an outcome, and when the dataflow last moved."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()  # taken once per batch, never per event
        self._taken = 0
        self._reported = 0
        self._moved = clock()  # the last outcome, or when events became pending after an idle spell
        self.started = False

    def took(self, count: int) -> None:
        with self._lock:
            if self._taken == self._reported:  # idle until now: waiting starts with this batch
                self._moved = self._clock()
            self._taken += count

    def reported(self, count: int) -> None:
        with self._lock:
            self._reported += count
            self._moved = self._clock()

    def start(self) -> None:
        self.started = True

    def state(self) -> tuple[int, float]:
        """Events pending, and seconds since the dataflow last moved."""
        with self._lock:
            return self._taken - self._reported, self._clock() - self._moved


@dataclass(frozen=True)
class ProbeAnswer:
    status: int
    body: dict


class Health:
    """What the probes answer, from the progress and the brokers' reachability."""

    def __init__(self, progress: Progress, unreachable_s: Callable[[], float | None], stall_timeout_s: float):
        self._progress = progress
        self._unreachable_s = unreachable_s
        self._stall_timeout_s = stall_timeout_s

    def live(self) -> ProbeAnswer:
        pending, still_s = self._progress.state()
        body = {"status": "ok", "pending": pending, "seconds_since_progress": round(still_s, 1)}
        if pending and still_s > self._stall_timeout_s:
            return ProbeAnswer(503, {**body, "status": "stalled",
                                     "reason": f"{pending} events pending and none reached an outcome for "
                                               f"{still_s:.0f}s (health.stall_timeout_s = {self._stall_timeout_s:g})"})
        return ProbeAnswer(200, body)

    def ready(self) -> ProbeAnswer:
        down_s = self._unreachable_s()
        if down_s is not None:
            return ProbeAnswer(503, {"status": "not ready", "reason": f"Kafka brokers unreachable for {down_s:.0f}s"})
        if not self._progress.started:
            return ProbeAnswer(503, {"status": "not ready", "reason": "the dataflow has not started reading yet"})
        return ProbeAnswer(200, {"status": "ready"})

    def answer(self, path: str) -> ProbeAnswer:
        probe = {"/livez": self.live, "/readyz": self.ready}.get(path.split("?", 1)[0])
        return probe() if probe else ProbeAnswer(404, {"status": "not found", "paths": ["/livez", "/readyz"]})


class _ProbeHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        answer = self.server.health.answer(self.path)
        body = orjson.dumps(answer.body)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        """Quiet: a probe every few seconds would bury the outcome lines."""


def serve(port: int, health: Health) -> ThreadingHTTPServer:
    """Answer the probes on ``0.0.0.0:port`` from a daemon thread; ``OSError`` when the port cannot be bound."""
    server = ThreadingHTTPServer(("0.0.0.0", port), _ProbeHandler)  # daemon threads per request
    server.health = health
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
