"""What the sandbox's services and its server share: a route's call and its reply, and the server as
the services see it (a base URL and a way to add routes). Kept apart so that the server can import the
services and the services need nothing of the server."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # a JSON document, str for an HTML page, bytes (served as the Content-Type header says), or Raw
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """An answer written byte by byte by ``write(connection)`` (``connection.write(bytes)``, ``flush()``; a
    write raises once the client has hung up), status line and headers included: for hosts that break HTTP
    (dripping, lying, cut short). It runs on a worker thread, so it may sleep; the connection is closed
    afterwards."""

    write: Callable[[Any], None]


@dataclass(frozen=True)
class Call:
    """What a route handler gets: the path match, the query, the parsed body, the headers."""

    match: re.Match
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    raw: bytes


class Router(Protocol):
    """The server, as a service registers on it."""

    url: str

    def route(self, method: str, pattern: str, handler: Callable[[Call], Reply], blocking: bool = False) -> None:
        ...
