"""Public connections: one parse, one resolution, the connection to the checked address, and hostile URLs
(property-based) that are refused or allowed but never escape as another error or reach 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.exceptions import SSLError

import connectors.address
from connectors.address import (AddressRefused, NameNotResolved, PublicConnections, is_public, loggable_url,
                                without_userinfo)
from connectors.download import Downloader, DownloadError, DownloadPolicy, allowed_source, file_name
from connectors.retry import RetryPolicy
from tests.fake_network import FakeNetwork

TIMEOUT = urllib3.Timeout(connect=2, read=5)


def get(connections, url, **kwargs):
    response = connections.request("GET", url, timeout=TIMEOUT, **kwargs)
    try:
        return response.status, response.read(), response.headers
    finally:
        response.release_conn()


def test_loggable_url_drops_user_info_escapes_and_truncates():
    assert loggable_url("https://user:secret@host/a?b=1") == "https://host/a?b=1"
    assert loggable_url("https://a@b@host/") == "https://host/"
    assert loggable_url("https://u:p\\@host/x") == "https://host/x"
    assert loggable_url("http://host/a\nb") == "http://host/a\\x0ab"
    assert loggable_url("http://host/" + "a" * 500) == "http://host/" + "a" * 188
    assert len(loggable_url("http://host/" + "a" * 500, limit=50)) == 50


def test_check_raises_the_two_kinds(monkeypatch):
    FakeNetwork(monkeypatch, {"private.test": ["10.0.0.1"], "public.test": ["8.8.8.8"]})
    connections = PublicConnections(allow_private_networks=False)
    connections.check("https://public.test/a")
    with pytest.raises(AddressRefused, match="not a public address"):
        connections.check("https://private.test/a")
    with pytest.raises(NameNotResolved, match="cannot resolve nowhere.test"):
        connections.check("https://nowhere.test/a")
    for url in ("ftp://public.test/", "https://u@public.test/", "https://public.test\\@x/", "http://a..b/",
                "https://public.test/a b", "public.test/a", "https:///a", "https://[::1"):
        with pytest.raises(AddressRefused):
            connections.check(url)
    PublicConnections(allow_private_networks=True).check("https://private.test/a")


def test_request_sends_the_name_connects_to_the_checked_address_and_keeps_the_connection(sandbox, monkeypatch):
    network = FakeNetwork(monkeypatch, {"files.test": ["127.0.0.1"]})
    sandbox.files.add("a.pdf", b"%PDF")
    connections = PublicConnections(allow_private_networks=True)
    url = f"http://files.test:{sandbox.port}/files/a.pdf"
    assert get(connections, url)[:2] == (200, b"%PDF")
    assert get(connections, url, headers={"Host": "evil.test"})[:2] == (200, b"%PDF")
    assert network.lookups == ["files.test"] * 2
    assert network.connected == [("127.0.0.1", sandbox.port)]  # one connection, kept for the second request
    assert [r.headers["Host"] for r in sandbox.journal.all()] == [f"files.test:{sandbox.port}"] * 2


def test_request_follows_no_redirect(sandbox):
    url = sandbox.files.add("moved", b"", status=302, headers={"Location": "http://elsewhere.test/"})
    status, _, headers = get(PublicConnections(allow_private_networks=True), url)
    assert status == 302 and headers["Location"] == "http://elsewhere.test/"


def test_a_name_with_a_refused_address_is_tried_at_its_next_one(sandbox, monkeypatch):
    FakeNetwork(monkeypatch, {"two.test": ["8.8.4.4"]})
    real = socket.getaddrinfo

    def two(host, *args, **kwargs):
        answers = real(host, *args, **kwargs)
        return answers + real("127.0.0.1", *args[:1]) if host == "two.test" else answers

    monkeypatch.setattr(socket, "getaddrinfo", two)
    sandbox.files.add("a.pdf", b"%PDF")
    assert get(PublicConnections(True), f"http://two.test:{sandbox.port}/files/a.pdf")[:2] == (200, b"%PDF")


def test_pools_are_bounded_and_shared_by_threads(sandbox, monkeypatch):
    FakeNetwork(monkeypatch, {f"h{i}.test": ["127.0.0.1"] for i in range(5)})
    monkeypatch.setattr(connectors.address, "_POOLS", 2)
    sandbox.files.add("a.pdf", b"%PDF")
    connections = PublicConnections(allow_private_networks=True, maxsize=4)
    urls = [f"http://h{i % 5}.test:{sandbox.port}/files/a.pdf" for i in range(60)]
    with ThreadPoolExecutor(8) as threads:
        assert {status for status, _, _ in threads.map(lambda url: get(connections, url), urls)} == {200}
    assert len(connections._pools) == 2


class TlsServer:
    """A TLS server on 127.0.0.1 with a self-signed certificate for ``name``; it records the SNI it is sent."""

    def __init__(self, tmp_path, name: str):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                .sign(key, hashes.SHA256()))
        (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
        self.names: list[str | None] = []
        self.context.sni_callback = lambda _sock, server_name, _ctx: self.names.append(server_name)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    def close(self) -> None:
        self._listener.close()


def test_https_checks_the_certificate_for_the_name_it_sends(tmp_path, monkeypatch):
    FakeNetwork(monkeypatch, {"files.test": ["127.0.0.1"]})
    server = TlsServer(tmp_path, "files.test")
    try:
        with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):  # self-signed: not in certifi's roots
            get(PublicConnections(allow_private_networks=True), f"https://files.test:{server.port}/a")
        assert server.names == ["files.test"]
    finally:
        server.close()


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700::1111", True), ("64:ff9b::808:808", True), ("2002:808:808::1", True),
    ("100.100.100.200", False), ("192.0.0.9", False), ("fec0::1", False), ("2002:7f00:1::", False),
    ("2001:0:808:808:0:0:80ff:fffe", False), ("::ffff:10.0.0.1", False), ("::10.0.0.1", False),
    ("64:ff9b::a00:1", False), ("::ffff:0:a00:1", False), ("224.0.0.1", False),
])
def test_is_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


HOSTS = ["localhost", "localhost.", "LOCALHOST", "public.test", "rebind.test", "v6.test", "127.0.0.1", "127.0.0.1.",
         "127.1", "0", "0.0.0.0", "2130706433", "017700000001", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.000.000.1",
         "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[fe80::1%25lo]",
         "[::1%2525]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[2001:0:7f00:1::1]", "100.100.100.200",
         "169.254.169.254", "%31%32%37.0.0.1", "127。0。0。1", "a..b", ".", "..", "xn--", "8.8.8.8",
         "[2606:4700::1111]"]
USERINFO = [""] * 20 + ["u@", "u:p@", "@", ":@", "%40@", "127.0.0.1:{port}\\@", "a@b@", "public.test@",
                        "8.8.8.8\\@"]
PORTS = [":{port}"] * 6 + ["", ":0", ":99999", ":-1", ":", ":+80", ": 80", ":0x50"]
SEGMENTS = ["files", "a.pdf"] * 12 + ["..", ".", "%2e%2e", "%2E.", "..%2f", "%5c", "\\", "..\\", " ",
            "%00", "\t", "#", "?", "@8.8.8.8", "x", "..%21", "%2F", "\n"]
URLS = st.builds(
    lambda scheme, sep, userinfo, host, port, path, tail: f"{scheme}{sep}{userinfo}{host}{port}/{path}{tail}",
    st.sampled_from(["http"] * 10 + ["https", "HTTP", "hTTps", "ftp", "file", ""]),
    st.sampled_from(["://"] * 20 + [":/", ":\\\\", ":", "://\\", ":///", "//"]),
    st.sampled_from(USERINFO), st.sampled_from(HOSTS), st.sampled_from(PORTS),
    st.sampled_from(["files/a.pdf"] * 8 + ["files/./a.pdf", "files/x/../a.pdf", "x/../files/a.pdf", "files/%61.pdf"])
    | st.lists(st.sampled_from(SEGMENTS), max_size=3).map("/".join),
    st.sampled_from(["", "", "", "", "?id=1", "#x", "?a=../..", "%2F..", "\\", "?\\", "/..", "/%2e%2e"])
    | st.text(max_size=3))


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(url=URLS)
def test_a_hostile_url_is_refused_or_allowed_never_an_other_error_and_never_reaches_a_private_address(
        sandbox, tmp_path, monkeypatch, url):
    url = url.replace("{port}", str(sandbox.port))
    network = FakeNetwork(monkeypatch, {"public.test": ["8.8.8.8"], "rebind.test": ["8.8.8.8", "127.0.0.1"],
                                        "v6.test": ["::1"], "localhost": ["127.0.0.1"]})
    sandbox.files.add("a.pdf", b"%PDF")
    assert isinstance(allowed_source(url, ("public.test/files", "https://8.8.8.8")), bool)
    assert isinstance(file_name(url), str) and file_name(url) not in (".", "..")
    strict = Downloader(DownloadPolicy(allow_private_networks=False, read_timeout_s=2), RetryPolicy(1, 5, 0.01))
    arrived = sandbox.journal.arrived
    try:
        strict.fetch(url, tmp_path / "strict")
    except DownloadError as err:
        assert str(err) and "\n" not in str(err)
    assert sandbox.journal.arrived == arrived
    assert all(is_public(ipaddress.ip_address(address)) for address, _ in network.connected), network.connected
    lax = Downloader(DownloadPolicy(allow_private_networks=True, read_timeout_s=2), RetryPolicy(1, 5, 0.01))
    try:
        path = lax.fetch(url, tmp_path / "lax")
        assert path.parent == tmp_path / "lax" and path.read_bytes() == b"%PDF"
    except DownloadError as err:
        assert str(err) and "\n" not in str(err)


def test_user_info_is_removed_from_every_url_in_a_text():
    text = "read http://svc:pa55@h:1/a, then //u@h/b and https://a@b@c/x; keep http://h/p@q"
    assert without_userinfo(text) == "read http://h:1/a, then //h/b and https://c/x; keep http://h/p@q"


_SPACES = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200b"


@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_SPACES)), max_size=12))
def test_a_url_with_any_white_space_or_unprintable_character_is_refused(tail):
    """Every character Python calls white space or not printable (controls, separators, format characters such
    as U+200B and U+FEFF, lone surrogates) refuses the URL, wherever it is."""
    url = f"http://example.org/a{tail.replace(chr(92), '')}b.pdf"  # a backslash is refused first, as such
    if any(not ch.isprintable() or ch.isspace() for ch in tail):
        with pytest.raises(AddressRefused, match="white space or control characters"):
            connectors.address.parse(url)
    else:
        connectors.address.parse(url)
