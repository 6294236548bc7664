"""Wall-clock deadlines for HTTP exchanges.

A socket timeout bounds each read, not the exchange: a host that sends one byte every half second,
in its headers or its body, keeps a call alive for ever. Inside ``with deadline(seconds) as watch:``,
every connection the thread uses from a pool made here is shut down once the deadline passes (unless
it is back in its pool by then, where another call may have taken it), so a blocked read returns.
The call then fails, or (headers cut short parse as complete ones) returns an answer that must not
be trusted: check ``watch.expired`` after the call either way::

    pools = pool_manager(maxsize=8)
    with deadline(120) as watch:
        data = pools.request("GET", url).data
    if watch.expired:
        ...  # no complete answer within 120 s

One watchdog thread per process keeps the deadlines; it wakes only when one is due.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection

_current = threading.local()
_CUTTING = threading.Lock()  # a connection is cut, or given back to its pool, never both at once


class Watch:
    """One deadline, and the sockets of the connections used under it.

    The sockets themselves are kept, not their connections: http.client takes the socket off its
    connection as soon as the head of an answer that is read until the connection closes has arrived.
    """

    __slots__ = ("at", "expired", "_sockets")

    def __init__(self, at: float):
        self.at = at
        self.expired = False
        self._sockets: list[socket.socket] = []

    def watching(self, connection: HTTPConnection) -> None:
        """Called when the connection is used, and again once it has connected (a new socket)."""
        with _CUTTING:
            connection._watch = self  # type: ignore[attr-defined]
            if connection.sock is not None:
                self._sockets.append(connection.sock)
        if self.expired:
            self.cut()

    def released(self, connection: HTTPConnection) -> None:
        """The connection is back in its pool, where another call may take it: not to be cut any more."""
        with _CUTTING:
            self._sockets = [sock for sock in self._sockets if sock is not connection.sock]

    def cut(self) -> None:
        """Expire: shut down every socket in use, so that their reads return at once."""
        self.expired = True
        with _CUTTING:
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Watchdog:
    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._watches: set[Watch] = set()
        self._next_at: float | None = None
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._wake:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            if self._next_at is None or watch.at < self._next_at:
                self._wake.notify()

    def remove(self, watch: Watch) -> None:
        with self._wake:
            self._watches.discard(watch)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for watch in [w for w in self._watches if w.at <= now]:
                    self._watches.discard(watch)
                    watch.cut()
                self._next_at = min((w.at for w in self._watches), default=None)
                self._wake.wait(None if self._next_at is None else self._next_at - now)


_WATCHDOG = _Watchdog()


@contextmanager
def deadline(seconds: float) -> Iterator[Watch]:
    """Connections used by this thread inside the block are cut ``seconds`` from now."""
    watch = Watch(time.monotonic() + seconds)
    outer = getattr(_current, "watch", None)
    _current.watch = watch
    _WATCHDOG.add(watch)
    try:
        yield watch
    finally:
        _WATCHDOG.remove(watch)
        _current.watch = outer


class _Watched:
    """Registers the connection with the thread's deadline when it is used."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.watching(self)  # type: ignore[arg-type]  # now with its new socket

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.watching(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


def _put_back(connection: HTTPConnection | None) -> None:
    watch = getattr(connection, "_watch", None)
    if watch is not None:
        watch.released(connection)
        connection._watch = None  # type: ignore[union-attr]


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _put_conn(self, conn: Any) -> None:
        _put_back(conn)
        super()._put_conn(conn)


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _put_conn(self, conn: Any) -> None:
        _put_back(conn)
        super()._put_conn(conn)


def pool_manager(**kwargs: Any) -> PoolManager:
    """A ``PoolManager`` whose connections obey :func:`deadline`."""
    manager = PoolManager(**kwargs)
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


def connection_pool(scheme: str, host: str, port: int, **kwargs: Any) -> HTTPConnectionPool:
    """One host's pool (``http`` or ``https``) whose connections obey :func:`deadline`."""
    pool = _HTTPSPool if scheme == "https" else _HTTPPool
    return pool(host, port, **kwargs)
