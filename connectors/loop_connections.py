"""Connections to public addresses only, on the event loop: :class:`~connectors.address.PublicConnections`'
rules for callers that are coroutines, with aiohttp.

The URL is read by the parser that connects (:func:`~connectors.address.parse`); its name is resolved
once, by the loop (an address given as such is not looked up), its answers kept a few seconds
(:mod:`connectors.name_cache`); every address it has must be public
(unless private networks are allowed); and the request goes to one of those very addresses, the name
travelling only in ``Host`` and in TLS (server name and certificate check). No redirect is followed, no
cookie kept, nothing taken from the environment::

    connections = LoopConnections(allow_private_networks=False)
    async with await connections.request("GET", url, timeout=aiohttp.ClientTimeout(sock_read=60)) as answer:
        data = await answer.content.read(1 << 20)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ssl
from typing import Callable

import aiohttp
import certifi
from yarl import URL

from connectors.address import Target, resolve_on_loop
from connectors.name_cache import NameCache


class LoopConnections:
    """One aiohttp session per loop, at most ``maxsize`` connections kept open per checked address."""

    def __init__(self, allow_private_networks: bool, maxsize: int = 8):
        self.allow_private_networks = allow_private_networks
        self._maxsize = maxsize
        self._tls = ssl.create_default_context(cafile=certifi.where())
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._names = NameCache()

    async def request(self, method: str, url: str, *, timeout: aiohttp.ClientTimeout,
                      headers: dict[str, str] | None = None, data: bytes | None = None) -> aiohttp.ClientResponse:
        """The answer of one request to an address ``url``'s name was checked at; the caller reads and
        releases it.

        Raises :class:`~connectors.address.AddressRefused`, :class:`~connectors.address.NameNotResolved`, or
        ``aiohttp.ClientError`` (a TLS error at once; a refused, unreachable or silent address once the name's
        other addresses have been tried, as browsers do).
        """
        target = await resolve_on_loop(url, self.allow_private_networks, self._names)
        tls = target.parts.scheme == "https"
        headers = {**(headers or {}), "Host": target.host_header}
        error: aiohttp.ClientError | None = None
        for address in target.addresses:
            try:
                return await self._session().request(
                    method, _at_address(target, address), data=data, headers=headers, timeout=timeout,
                    allow_redirects=False, ssl=self._tls if tls else False,
                    server_hostname=target.name if tls else None)
            except aiohttp.ClientSSLError:
                raise
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as err:  # nothing sent yet
                error = err
        self._names.forget(target.name, target.port)  # none of its addresses answers: look the name up again
        raise error

    def _session(self) -> aiohttp.ClientSession:
        return session_of_loop(self._sessions, lambda: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=self._maxsize), cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False))


def _at_address(target: Target, address: str) -> URL:
    """The URL with the checked address in place of its name, its path and query as sent."""
    address = address.split("%")[0]
    host = f"[{address}]" if ":" in address else address
    return URL(f"{target.parts.scheme}://{host}:{target.port}{target.parts.request_uri}", encoded=True)


def session_of_loop(sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession],
                    make: Callable[[], aiohttp.ClientSession]) -> aiohttp.ClientSession:
    """The running loop's session in ``sessions``, made there by ``make`` at its first use (a session belongs
    to the loop it was made on), and closed at exit."""
    loop = asyncio.get_running_loop()
    session = sessions.get(loop)
    if session is None:
        session = sessions[loop] = make()
        atexit.register(_close, session, loop)
    return session


def _close(session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop) -> None:
    """At exit, the session's connections closed on its loop, if it still runs (else there is nothing to say
    "unclosed" to)."""
    if loop.is_running() and not session.closed:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=2)
