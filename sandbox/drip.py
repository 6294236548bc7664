"""A host that drips its answer: the head at once, then one byte at a time, for ever (slowloris).

Socket timeouts never fire against it; only a wall-clock deadline ends a call to it::

    server = DripServer(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100\\r\\n\\r\\n", b"x")
    url = f"http://127.0.0.1:{server.port}/"
"""

from __future__ import annotations

import socket
import threading


class DripServer:
    """Answers every connection with ``head``, then one byte of ``drip`` every ``interval_s``, for ever."""

    def __init__(self, head: bytes, drip: bytes, interval_s: float = 0.05):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._head, self._drip, self._interval_s = head, drip, interval_s
        self._stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(self._head)
                while not self._stopped.wait(self._interval_s):
                    connection.sendall(self._drip)
            except OSError:
                return

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()

    def __enter__(self) -> "DripServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
