"""Connections to public addresses only, made to exactly the address that was checked.

A URL that comes from an event is read once, by the parser that connects (urllib3's
``parse_url``), and refused when two parsers could read it differently (a backslash, user
info, white space or control characters) or it is not an http(s) URL with a host. Its name is
resolved once; every address it resolves to must be public (unless private networks are
allowed), and the connection goes to one of those very addresses, the name travelling only in
``Host`` and in TLS (server name and certificate check). So a DNS answer that changes between the
check and the connection (rebinding) cannot move it::

    connections = PublicConnections(allow_private_networks=False)
    response = connections.request("GET", url, timeout=urllib3.Timeout(connect=10, read=60))
    try:
        data = response.read(1 << 20)
    finally:
        response.release_conn()

Connections are kept open for the next request to the same (scheme, address, port, name), in a
bounded number of pools made by :func:`connectors.deadline.connection_pool`, so that a
``with deadline(seconds):`` around a request bounds it in wall-clock time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import certifi
import urllib3
from urllib3.exceptions import LocationParseError, NewConnectionError
from urllib3.util import Url, parse_url

from connectors.deadline import connection_pool
from connectors.name_cache import NameCache

_POOLS = 64  # hosts kept connected at once; the least recently used is closed beyond
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")

# Not public, though Python 3.11's ``is_global`` says so (or says nothing), or public only if the
# IPv4 address inside is: see :func:`is_public`.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "100.64.0.0/10",  # shared address space (carrier NAT; 100.100.100.200 is a cloud metadata address)
    "192.0.0.0/24",  # IETF protocol assignments
    "fec0::/10",  # IPv6 site-local (deprecated, still routed inside some networks)
    "64:ff9b:1::/48",  # local-use NAT64
))
_LAST_32_BITS = tuple(ipaddress.ip_network(n) for n in (
    "::ffff:0:0/96",  # IPv4-mapped
    "::/96",  # IPv4-compatible
    "64:ff9b::/96",  # NAT64
    "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
))


class AddressRefused(Exception):
    """The URL is refused by policy: not a plain http(s) URL, or not a public address. Final."""


class NameNotResolved(Exception):
    """The host name did not resolve (a DNS failure, which may pass): worth retrying."""


_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*:)?//[^/?#\s]*@")


def without_userinfo(text: str) -> str:
    """``text`` with the user info (``user:password@``) of every URL in it removed."""
    return _USERINFO.sub(lambda found: f"{found.group(1) or ''}//", text)


def loggable_url(url: str, limit: int = 200) -> str:
    """``url`` for an error message: without user info (``user:password@``), control characters
    escaped, at most ``limit`` characters."""
    text = without_userinfo(str(url))
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"
                   for ch in text[:limit])
    return text[:limit]


def parse(url: str) -> Url:
    """``url`` as urllib3 reads it and will send it; refused unless it is a plain http(s) URL with a host."""
    if not isinstance(url, str):
        raise AddressRefused(f"not a URL: {type(url).__name__}")
    if "\\" in url:
        raise AddressRefused(f"a URL with a backslash is refused (parsers disagree on it): {loggable_url(url)}")
    if not url.isprintable() or " " in url:  # of white space, only the ASCII space is printable
        raise AddressRefused(f"a URL with white space or control characters is refused: {loggable_url(url)}")
    authority = _AUTHORITY.match(url)
    if authority and "@" in authority.group(1):
        raise AddressRefused(f"a URL with a user name or password is refused: {loggable_url(url)}")
    try:
        parts = parse_url(url)
    except (LocationParseError, ValueError, UnicodeError):
        raise AddressRefused(f"not a valid URL: {loggable_url(url)}") from None
    if parts.scheme not in _DEFAULT_PORTS or not parts.host or not authority:
        raise AddressRefused(f"only http and https URLs with a host are fetched, not {loggable_url(url)}")
    if "%" in parts.host:
        raise AddressRefused(f"an IPv6 address with a zone is refused: {loggable_url(url)}")
    if parts.port == 0:
        raise AddressRefused(f"port 0 is refused: {loggable_url(url)}")
    return parts


def port_of(parts: Url) -> int:
    """The port a parsed http(s) URL connects to."""
    return parts.port if parts.port is not None else _DEFAULT_PORTS[parts.scheme]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is on the public internet, and so is every IPv4 address inside it
    (IPv4-mapped, -compatible and -translated, NAT64, 6to4, Teredo server and client)."""
    if address.is_multicast or not address.is_global or any(address in net for net in _NOT_PUBLIC):
        return False
    return all(is_public(inner) for inner in _inner_ipv4(address))


def _inner_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if address.version == 4:
        return []
    inner = [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)] if any(address in net for net in _LAST_32_BITS) else []
    if address.sixtofour is not None:
        inner.append(address.sixtofour)
    if address.teredo is not None:
        inner.extend(address.teredo)
    return inner


def located(url: str) -> tuple[Url, int, str]:
    """``url`` parsed (:func:`parse`), the port it connects to, and the name to resolve (no IPv6 brackets)."""
    parts = parse(url)
    return parts, port_of(parts), parts.host.strip("[]")


@contextmanager
def _lookup_errors(url: str, name: str) -> Iterator[None]:
    """A name that does not resolve may resolve later (:class:`NameNotResolved`); one IDNA refuses never will."""
    try:
        yield
    except socket.gaierror as err:
        raise NameNotResolved(f"cannot resolve {name[:100]}: {err.strerror}") from None
    except (UnicodeError, ValueError, OSError):  # an empty or too long label: IDNA refuses it
        raise AddressRefused(f"not a valid host name: {loggable_url(url)}") from None


async def resolve_on_loop(url: str, allow_private: bool, names: NameCache) -> "Target":
    """:meth:`PublicConnections.check`'s rules for a caller on an event loop: the name resolved by the loop
    (an address given as such is not looked up) unless ``names`` keeps its answers, every address it has
    checked."""
    parts, port, name = located(url)
    try:
        ipaddress.ip_address(name)
        answers = [(socket.AF_INET6 if ":" in name else socket.AF_INET, socket.SOCK_STREAM, 0, "", (name, port))]
    except ValueError:
        answers = names.get(name, port)
        if answers is None:
            with _lookup_errors(url, name):
                answers = await asyncio.get_running_loop().getaddrinfo(name, port, type=socket.SOCK_STREAM)
            names.put(name, port, answers)
    return checked_target(url, parts, port, name, answers, allow_private)


def checked_target(url: str, parts: Url, port: int, name: str, answers: list, allow_private: bool) -> "Target":
    """Where ``url`` may be fetched: the addresses of ``getaddrinfo``'s answers, each of them public unless
    private networks are allowed (one that is not refuses the URL)."""
    addresses = tuple(dict.fromkeys(answer[4][0] for answer in answers))
    if not addresses:
        raise NameNotResolved(f"cannot resolve {name[:100]}: no address")
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address.split("%")[0])):
                raise AddressRefused(f"refused to fetch {loggable_url(url)}: {name[:100]} resolves to {address}, "
                                     f"which is not a public address (private, loopback or link-local, "
                                     f"or reserved)")
    return Target(parts, port, addresses)


@dataclass(frozen=True)
class Target:
    """A checked URL: as parsed, its port, and the addresses its host may be reached at."""

    parts: Url
    port: int
    addresses: tuple[str, ...]

    @property
    def name(self) -> str:
        """The host as TLS wants it (no IPv6 brackets)."""
        return self.parts.host.strip("[]")

    @property
    def host_header(self) -> str:
        default = self.port == _DEFAULT_PORTS[self.parts.scheme]
        return self.parts.host if default else f"{self.parts.host}:{self.port}"


class PublicConnections:
    """Thread-safe: the pools are shared by the calling threads."""

    def __init__(self, allow_private_networks: bool, maxsize: int = 8):
        self._allow_private = allow_private_networks
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._pools: OrderedDict[tuple, urllib3.HTTPConnectionPool] = OrderedDict()

    def check(self, url: str) -> None:
        """Refuse ``url`` (:class:`AddressRefused`) or fail to resolve it (:class:`NameNotResolved`)."""
        self._resolve(url)

    def request(self, method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
                timeout: urllib3.Timeout) -> urllib3.BaseHTTPResponse:
        """Send one request to the address ``url`` was checked at: no redirect followed, no retry, the
        body not read (the caller reads it and releases the response).

        Raises :class:`AddressRefused`, :class:`NameNotResolved` or ``urllib3.exceptions.HTTPError``.
        """
        target = self._resolve(url)
        headers = {**(headers or {}), "Host": target.host_header}
        error: NewConnectionError | None = None
        for address in target.addresses:
            try:
                return self._pool(target, address).urlopen(
                    method, target.parts.request_uri, body=body, headers=headers, timeout=timeout,
                    preload_content=False, redirect=False, retries=False, assert_same_host=False)
            except NewConnectionError as err:  # refused or unreachable: the name's next address, as browsers do
                error = err
        raise error

    def _resolve(self, url: str) -> Target:
        parts, port, name = located(url)
        with _lookup_errors(url, name):
            answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        return checked_target(url, parts, port, name, answers, self._allow_private)

    def _pool(self, target: Target, address: str) -> urllib3.HTTPConnectionPool:
        scheme = target.parts.scheme
        key = (scheme, address, target.port, target.name)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            tls = {} if scheme == "http" else {
                "server_hostname": target.name, "assert_hostname": target.name,
                "cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
            pool = self._pools[key] = connection_pool(scheme, address, target.port, maxsize=self._maxsize,
                                                      block=False, retries=False, **tls)
            if len(self._pools) > _POOLS:
                self._pools.popitem(last=False)[1].close()
            return pool
