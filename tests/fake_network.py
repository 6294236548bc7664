"""A resolver and connector for tests that never leave 127.0.0.1.

Names resolve from a table (answers in turn, the last one repeated; unknown names fail as DNS does),
numeric hosts as the system reads them (no DNS either). Connections to 127.0.0.1 are real; to any
other address they are refused at once, whether urllib3 or aiohttp makes them, except that aiohttp's
to a ``silent`` address are never answered (a firewall that drops them), until its connect timeout. Every name looked up and
every connection tried is recorded::

    network = FakeNetwork(monkeypatch, {"rebind.test": ["8.8.8.8", "127.0.0.1"]})
    ...
    assert network.lookups == ["rebind.test"] and network.connected == [("8.8.8.8", port)]
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import aiohappyeyeballs
import urllib3.util.connection

_REAL_GETADDRINFO = socket.getaddrinfo
_REAL_CONNECT = urllib3.util.connection.create_connection
_REAL_START_CONNECTION = aiohappyeyeballs.start_connection


class FakeNetwork:
    def __init__(self, monkeypatch, names: dict[str, list[str]] | None = None, silent: tuple[str, ...] = ()):
        self._names = {name: list(answers) for name, answers in (names or {}).items()}
        self._silent = silent
        self.lookups: list[str] = []
        self.connected: list[tuple[str, int]] = []
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr(urllib3.util.connection, "create_connection", self.create_connection)
        monkeypatch.setattr(aiohappyeyeballs, "start_connection", self.start_connection)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        try:  # a numeric host (127.1, 0x7f.1, 2130706433, ::1): read by the system, no DNS
            return _REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            pass
        self.lookups.append(host)
        answers = self._names.get(host.lower() if isinstance(host, str) else host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port or 0, 0, 0) if kind == socket.AF_INET6 else (address, port or 0)
        return [(kind, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

    def create_connection(self, address, timeout=None, source_address=None, socket_options=None):
        host, port = address
        resolved = self.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
        self.connected.append((resolved, port))
        if ipaddress.ip_address(resolved) != ipaddress.ip_address("127.0.0.1"):
            raise ConnectionRefusedError(f"tests connect to 127.0.0.1 only, not {resolved}")
        return _REAL_CONNECT((resolved, port), timeout, source_address, socket_options)

    async def start_connection(self, addr_infos, **kwargs):
        """aiohttp's way to connect: to addresses it has already (checked ones, in the downloads)."""
        for info in addr_infos:
            self.connected.append((info[4][0], info[4][1]))
            if info[4][0] in self._silent:
                await asyncio.sleep(3600)
            if ipaddress.ip_address(info[4][0]) != ipaddress.ip_address("127.0.0.1"):
                raise ConnectionRefusedError(f"tests connect to 127.0.0.1 only, not {info[4][0]}")
        return await _REAL_START_CONNECTION(addr_infos, **kwargs)
