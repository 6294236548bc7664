"""Downloads: schemes, allow-list, private addresses, redirects, size cap, retries, file names, and hostile
URLs and hosts."""

import gzip
import io
import posixpath
import socket
import time
import tracemalloc
import urllib.parse
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.disk_budget import DiskBudget
from connectors.download import Downloader, DownloadError, DownloadPolicy, allowed_source, file_name, slug
from connectors.loop_download import LoopDownloader
from connectors.retry import RetryPolicy
from connectors.spool import Spool
from sandbox.routes import Raw, Reply
from flows.runtime.in_flight import event_loop
from tests.conftest import on_the_loop
from tests.fake_network import FakeNetwork

_TRANSPORT = {"now": "threads"}


@pytest.fixture(autouse=True, params=["threads", "event loop"])
def transport(request):
    """Every test here runs against both downloaders: the threaded one and the one on the event loop."""
    _TRANSPORT["now"] = request.param
    return request.param


class OnTheLoop:
    """:class:`LoopDownloader` behind the threaded downloader's calls, run on the process's event loop."""

    def __init__(self, downloader: Downloader):
        self._downloads = LoopDownloader(downloader)

    def fetch(self, url, directory, max_bytes=None, allowed=(), expected_mime=""):
        """Into ``directory`` under the name the job stores it with (:meth:`LoopDownloader.name_for`), as
        :meth:`Downloader.fetch` does; nothing is left there when it fails."""
        target = directory / self._downloads.name_for(url, allowed)
        directory.mkdir(parents=True, exist_ok=True)
        try:
            with open(target, "wb") as out:
                on_the_loop(self._downloads.fetch_into(url, out, max_bytes, allowed, expected_mime))
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return target

    def fetch_into(self, *args, **kwargs):
        return on_the_loop(self._downloads.fetch_into(*args, **kwargs))


def made(policy: DownloadPolicy, retry: RetryPolicy):
    """The downloader of the test's transport."""
    return Downloader(policy, retry) if _TRANSPORT["now"] == "threads" else OnTheLoop(Downloader(policy, retry))


def downloader(private=True, attempts=3):
    return made(DownloadPolicy(allow_private_networks=private, read_timeout_s=2), RetryPolicy(attempts, 10, 0.01))


def test_slug_like_the_original():
    assert slug("My%20Lesson (Final).PDF") == "my-lesson-final.pdf"
    assert slug("Été  à   l'école.mp4") == "ete-a-lecole.mp4"
    assert file_name("https://h/a/b/Chapter%201.pdf?sig=x") == "chapter-1.pdf"
    assert file_name("https://h/") == ""


@pytest.mark.parametrize("url, entries, allowed", [
    ("https://drive.google.com/uc?id=1", ("drive.google.com",), True),
    ("https://DRIVE.google.com/uc?id=1", ("drive.google.com",), True),
    ("https://evil.example/?x=drive.google.com", ("drive.google.com",), False),
    ("https://drive.google.com.evil.example/a", ("drive.google.com",), False),
    ("https://store.blob.core.windows.net/content/a.mp4", ("https://store.blob.core.windows.net/content/",), True),
    ("https://store.blob.core.windows.net/other/a.mp4", ("https://store.blob.core.windows.net/content/",), False),
    ("https://store.blob.core.windows.net/content/a.mp4", ("store.blob.core.windows.net/content",), True),
    ("https://anything/a", (), True),
    # an entry matches scheme, host and port exactly, and a path on a "/" boundary after normalising it
    ("https://drive.google.com.evil.com/uc", ("https://drive.google.com",), False),
    ("https://drive.google.com@evil.com/uc", ("https://drive.google.com",), False),
    ("https://drive.google.com\\@evil.com/uc", ("https://drive.google.com",), False),
    ("https://drive.google.com/uc", ("https://drive.google.com",), True),
    ("https://drive.google.com:443/uc", ("https://drive.google.com",), True),
    ("https://drive.google.com:8443/uc", ("https://drive.google.com",), False),
    ("http://drive.google.com/uc", ("https://drive.google.com",), False),
    ("https://host/files-evil/a", ("host/files",), False),
    ("https://host/files/../admin", ("host/files",), False),
    ("https://host/files/%2e%2e/admin", ("host/files",), False),
    ("https://host/files/..%2fadmin", ("host/files",), False),
    ("https://host/files/..%5cadmin", ("host/files",), False),
    ("https://host/files%2f..%2fadmin", ("host/files",), False),
    ("https://host/files/a/../b.pdf", ("host/files",), True),
    ("https://host/files", ("host/files/",), True),
    ("https://host/files/a.pdf", ("host/files",), True),
    ("https://host:8080/files/a.pdf", ("host/files",), True),
    ("https://host:8080/files/a.pdf", ("host:8081/files",), False),
    ("https://HOST/files/a.pdf", ("https://host/files/",), True),
    ("https://host./files/a.pdf", ("host",), False),
    ("https://host/Files/a.pdf", ("host/files",), False),
])
def test_allow_list_entries_are_hosts_or_prefixes(url, entries, allowed):
    assert allowed_source(url, entries) is allowed


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/a.pdf", "gopher://h/", "http:///nohost"])
def test_only_http_and_https(url, tmp_path):
    with pytest.raises(DownloadError, match="only http and https"):
        downloader().fetch(url, tmp_path)


def test_private_addresses_are_refused_unless_allowed(sandbox, tmp_path):
    url = sandbox.files.add("a.pdf", b"%PDF")
    with pytest.raises(DownloadError, match="private, loopback or link-local"):
        downloader(private=False).fetch(url, tmp_path)
    assert downloader(private=True).fetch(url, tmp_path).read_bytes() == b"%PDF"
    assert sandbox.journal.count() == 1


def test_redirects_are_checked_at_every_hop(sandbox, tmp_path):
    target = sandbox.files.add("a.pdf", b"%PDF")
    assert downloader().fetch(sandbox.files.redirect(target, hops=3), tmp_path).read_bytes() == b"%PDF"
    with pytest.raises(DownloadError, match="not from allowed one"):
        downloader().fetch(sandbox.files.redirect("http://other.example/a.pdf"), tmp_path, allowed=("127.0.0.1",))
    with pytest.raises(DownloadError, match="only http and https"):
        downloader().fetch(sandbox.files.redirect("file:///etc/passwd"), tmp_path)
    with pytest.raises(DownloadError, match="redirects"):
        downloader().fetch(sandbox.files.redirect(target, hops=7), tmp_path)


def test_the_size_cap_stops_the_transfer(sandbox, tmp_path):
    url = sandbox.files.add("big.bin", b"x" * 300_000)
    with pytest.raises(DownloadError, match="larger than allowed"):
        downloader().fetch(url, tmp_path, max_bytes=100_000)
    assert list(tmp_path.iterdir()) == []
    assert downloader().fetch(url, tmp_path, max_bytes=300_000).stat().st_size == 300_000


def test_a_download_into_a_file_object_holds_only_the_body_and_is_checked_as_a_file_is(sandbox, tmp_path, transport):
    """What the file held before (an attempt cut short, then retried) is dropped."""
    if transport == "threads":
        pytest.skip("only the event-loop downloader writes into a file object (auto-creator-v2's ECARs)")
    url = sandbox.files.add("a.ecar", b"PK body")
    out = io.BytesIO(b"what an earlier attempt wrote, longer than the body")
    downloader().fetch_into(url, out)
    assert out.getvalue() == b"PK body"
    with pytest.raises(DownloadError, match="private, loopback or link-local"):
        downloader(private=False).fetch_into(url, io.BytesIO())
    with pytest.raises(DownloadError, match="larger than allowed"):
        downloader().fetch_into(url, io.BytesIO(), max_bytes=3)


def test_server_errors_are_retried_and_missing_files_are_not(sandbox, tmp_path):
    url = sandbox.files.add("a.pdf", b"%PDF")
    sandbox.faults.script("GET", "/files/a.pdf", [503, 502])
    assert downloader().fetch(url, tmp_path).read_bytes() == b"%PDF"
    with pytest.raises(DownloadError, match="HTTP 404"):
        downloader().fetch(f"{sandbox.url}/files/none.pdf", tmp_path)
    assert sandbox.journal.count("GET", "/files/none.pdf") == 1


def test_a_slow_host_times_out(sandbox, tmp_path):
    url = sandbox.files.add("slow.pdf", b"%PDF", delay_s=3)
    with pytest.raises(DownloadError, match="download failed after 1 attempts"):
        downloader(attempts=1).fetch(url, tmp_path)


# Hostile event producers and file hosts (the independent review's findings, each reproduced here).

def strict(attempts=1, **policy):
    """A downloader with private networks refused, as in production."""
    return made(DownloadPolicy(allow_private_networks=False, read_timeout_s=2, **policy),
                RetryPolicy(attempts, 10, 0.01))


def test_a_url_two_parsers_read_differently_is_refused(sandbox, tmp_path, monkeypatch):
    """urllib.parse reads the host of this URL as 8.8.8.8; urllib3, which connects, as 127.0.0.1."""
    network = FakeNetwork(monkeypatch)
    for url in (f"http://127.0.0.1:{sandbox.port}\\@8.8.8.8/files/a.pdf",
                f"http://127.0.0.1:{sandbox.port}\\\\@8.8.8.8/files/a.pdf",
                f"http://8.8.8.8\\@127.0.0.1:{sandbox.port}/files/a.pdf"):
        with pytest.raises(DownloadError, match="backslash"):
            strict().fetch(url, tmp_path)
    assert sandbox.journal.arrived == 0 and network.connected == []


@pytest.mark.parametrize("url, problem", [
    ("http://user:secret@127.0.0.1:{port}/files/a.pdf", "user name"),
    ("http://user@127.0.0.1:{port}/files/a.pdf", "user name"),
    ("http://@127.0.0.1:{port}/files/a.pdf", "user name"),
    ("http://127.0.0.1:{port}/files/a .pdf", "white space or control character"),
    ("http://127.0.0.1:{port}/files/a.pdf\t", "white space or control character"),
    ("http://127.0.0.1:{port}/files/a.pdf\r\nX-Injected: 1", "white space or control character"),
    ("http://127.0.0.1:{port}/files/a\x00.pdf", "white space or control character"),
    ("http://127.0.0.1:{port}/files/a\x7f.pdf", "white space or control character"),
    ("http://127.0.0.1:{port}/files/a\u2028.pdf", "white space or control character"),
])
def test_user_info_white_space_and_control_characters_are_refused(sandbox, tmp_path, url, problem):
    sandbox.files.add("a.pdf", b"%PDF")
    with pytest.raises(DownloadError, match=problem):
        downloader(private=True).fetch(url.format(port=sandbox.port), tmp_path)
    assert sandbox.journal.arrived == 0


def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected(sandbox, tmp_path, monkeypatch):
    """DNS rebinding: a public answer for the check, 127.0.0.1 for the connection."""
    sandbox.files.add("a.pdf", b"%PDF")
    network = FakeNetwork(monkeypatch, {"rebind.test": ["8.8.8.8", "127.0.0.1"]})
    with pytest.raises(DownloadError):
        strict().fetch(f"http://rebind.test:{sandbox.port}/files/a.pdf", tmp_path)
    assert network.lookups == ["rebind.test"]
    assert network.connected == [("8.8.8.8", sandbox.port)]
    assert sandbox.journal.arrived == 0


def test_every_redirect_hop_is_checked_and_sent_with_its_name(sandbox, tmp_path, monkeypatch, transport):
    """Each hop is looked up by the threaded downloader; the loop's keeps a name's answers a few seconds
    (:mod:`connectors.name_cache`) and checks them at each hop."""
    network = FakeNetwork(monkeypatch, {"files.test": ["127.0.0.1"]})
    base = f"http://files.test:{sandbox.port}"
    sandbox.files.add("a.pdf", b"%PDF")
    sandbox.files.add("hop2", b"", status=302, headers={"Location": f"{base}/files/a.pdf"})
    sandbox.files.add("hop1", b"", status=302, headers={"Location": "/files/hop2"})
    assert downloader().fetch(f"{base}/files/hop1", tmp_path).name == "hop1"
    assert network.lookups == ["files.test"] * (3 if transport == "threads" else 1)
    assert [r.headers.get("Host") for r in sandbox.journal.all()] == [f"files.test:{sandbox.port}"] * 3


def test_a_cookie_one_host_sets_is_not_sent_to_another_at_the_same_address(sandbox, tmp_path, monkeypatch):
    """Both names are at one address, the one the connection goes to: a cookie jar keyed by it would hand
    the first host's cookie to the second."""
    FakeNetwork(monkeypatch, {"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    sandbox.files.add("a.pdf", b"%PDF", headers={"Set-Cookie": "session=secret; Path=/"})
    shared = downloader()  # one per job, as in production
    for host in ("a.test", "b.test", "a.test"):
        shared.fetch(f"http://{host}:{sandbox.port}/files/a.pdf", tmp_path)
    assert [r.headers.get("Cookie") for r in sandbox.journal.all()] == [None, None, None]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "169.254.169.254", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::",
    "100.64.0.1", "100.100.100.200", "100.127.255.254", "192.0.0.9", "192.0.0.170", "224.0.0.1", "ff02::1",
    "fec0::1", "feff::1",
    "2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:6440:1::",  # 6to4 around 127.0.0.1, 169.254.169.254, 100.64.0.1
    "2001:0:7f00:1:0:0:0:1", "2001:0:808:808:0:0:80ff:fffe",  # Teredo: server 127.0.0.1; client 127.0.0.1
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:100.100.100.200",  # IPv4-mapped
    "::127.0.0.1", "::a9fe:a9fe",  # IPv4-compatible
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::6464:64c8", "64:ff9b:1::808:808",  # NAT64
])
def test_addresses_that_are_not_public_are_refused(address, monkeypatch, tmp_path):
    network = FakeNetwork(monkeypatch, {"host.test": [address]})
    with pytest.raises(DownloadError, match="not a public address"):
        strict().fetch("http://host.test/a.pdf", tmp_path)
    assert network.connected == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1", "[::1]",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]", "0.0.0.0", "[::]"])
def test_an_address_written_as_the_host_is_checked_like_a_name_s(sandbox, tmp_path, monkeypatch, host):
    """No name to look up, and still no way in: the address, however written, is checked before a connection."""
    network = FakeNetwork(monkeypatch)
    with pytest.raises(DownloadError, match="not a public address"):
        strict().fetch(f"http://{host}:{sandbox.port}/files/a.pdf", tmp_path)
    assert network.connected == [] and network.lookups == [] and sandbox.journal.arrived == 0


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_pass_the_check(address, monkeypatch, tmp_path):
    network = FakeNetwork(monkeypatch, {"host.test": [address]})
    with pytest.raises(DownloadError, match="no answer from host.test"):  # the fake network connects nowhere else
        strict().fetch("http://host.test/a.pdf", tmp_path)
    assert [host for host, _port in network.connected] == [address]


def test_a_name_that_resolves_to_one_private_address_among_public_ones_is_refused(monkeypatch, tmp_path):
    FakeNetwork(monkeypatch, {"mixed.test": ["8.8.8.8"]})
    real = socket.getaddrinfo

    def both(host, *args, **kwargs):
        answers = real(host, *args, **kwargs)
        if host == "mixed.test":
            answers = answers + [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 80))]
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", both)
    with pytest.raises(DownloadError, match="10.0.0.1, which is not a public address"):
        strict().fetch("http://mixed.test/a.pdf", tmp_path)


@pytest.mark.parametrize("url", ["http://a..b/x.pdf", "http://" + "a" * 64 + ".example/x.pdf", "http://[::1/x.pdf",
                                 "http://h:99999/x.pdf", "http://[fe80::1%25lo]/x.pdf"])
def test_host_names_that_cannot_be_resolved_or_parsed_fail_cleanly(url, tmp_path, monkeypatch):
    FakeNetwork(monkeypatch)
    for private in (False, True):
        with pytest.raises(DownloadError):
            downloader(private=private).fetch(url, tmp_path)


def test_dns_failures_are_retried_within_the_budget_then_fail_cleanly(tmp_path, monkeypatch):
    network = FakeNetwork(monkeypatch)
    with pytest.raises(DownloadError, match="cannot resolve nowhere.test"):
        strict(attempts=3).fetch("http://nowhere.test/a.pdf", tmp_path)
    assert network.lookups == ["nowhere.test"] * 3


@pytest.mark.parametrize("url", ["https://h/..%21", "https://h/.%2e", "https://h/a/%2E%2E", "https://h/..",
                                 "https://h/a/.%00."])
def test_a_file_name_is_never_a_dot_or_dot_dot(url, tmp_path):
    assert file_name(url) not in (".", "..")
    assert slug("..") == slug(".") == slug("...") == ""
    with pytest.raises(DownloadError, match="Invalid fileUrl"):
        downloader().fetch(url, tmp_path / "work")
    assert list(tmp_path.iterdir()) == []


def test_a_body_that_drips_fails_at_the_minimum_rate(sandbox, tmp_path):
    url = sandbox.files.drip("slow.pdf", b"x" * 1000, every_s=0.05)
    with pytest.raises(DownloadError, match="too slow"):
        made(DownloadPolicy(allow_private_networks=True, read_timeout_s=2, min_rate_bytes_s=1000,
                            min_rate_grace_s=0.5), RetryPolicy(3, 10, 0.01)).fetch(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("headers", [False, True])
def test_a_drip_in_the_headers_or_the_body_fails_at_the_deadline(sandbox, tmp_path, headers):
    url = sandbox.files.drip("slow.pdf", b"x" * 1000, every_s=0.05, headers=headers)
    with pytest.raises(DownloadError, match="took longer than"):
        made(DownloadPolicy(allow_private_networks=True, read_timeout_s=2, deadline_s=1, min_rate_bytes_s=0),
             RetryPolicy(3, 10, 0.01)).fetch(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("encoding, compress", [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_compressed_body_cannot_inflate_past_the_cap(sandbox, tmp_path, encoding, compress):
    bomb = compress(b"\0" * 50_000_000)
    url = sandbox.files.add("bomb.pdf", bomb, headers={"Content-Encoding": encoding})
    tracemalloc.start()
    try:
        with pytest.raises(DownloadError, match="larger than allowed"):
            downloader().fetch(url, tmp_path, max_bytes=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000
    assert list(tmp_path.iterdir()) == []
    small = sandbox.files.add("small.pdf", compress(b"%PDF" * 100), headers={"Content-Encoding": encoding})
    assert downloader().fetch(small, tmp_path, max_bytes=400).read_bytes() == b"%PDF" * 100


def test_a_body_that_is_not_what_its_content_encoding_says_is_refused(sandbox, tmp_path):
    url = sandbox.files.add("a.pdf", b"%PDF not gzip at all" * 100, headers={"Content-Encoding": "gzip"})
    with pytest.raises(DownloadError, match=r"the body is not valid gzip \(Content-Encoding\)"):
        downloader(attempts=1).fetch(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_redirects_to_hostile_locations_are_refused(sandbox, tmp_path, monkeypatch):
    network = FakeNetwork(monkeypatch, {"public.test": ["8.8.8.8"]})
    for location, problem in [(f"http://127.0.0.1:{sandbox.port}\\@8.8.8.8/", "backslash"),
                              (f"http://u:p@127.0.0.1:{sandbox.port}/files/a.pdf", "user name"),
                              ("http://[::1/", "not a valid URL"), ("http://a..b/", "not a valid host name"),
                              ("ftp://public.test/a", "only http and https")]:
        url = sandbox.files.add("moved.pdf", b"", status=302, headers={"Location": location})
        with pytest.raises(DownloadError, match=problem):
            downloader().fetch(url, tmp_path)
    assert {address for address, _ in network.connected} == {"127.0.0.1"}


def test_connections_are_kept_for_the_next_download(sandbox, tmp_path, monkeypatch, transport):
    network = FakeNetwork(monkeypatch, {"files.test": ["127.0.0.1"]})
    sandbox.files.add("a.pdf", b"%PDF")
    shared = downloader()
    for n in range(3):
        assert shared.fetch(f"http://files.test:{sandbox.port}/files/a.pdf", tmp_path / str(n)).read_bytes() == b"%PDF"
    assert network.lookups == ["files.test"] * (3 if transport == "threads" else 1)
    assert network.connected == [("127.0.0.1", sandbox.port)]


PATH_PARTS = ["files", "files-evil", "admin", "..", ".", "%2e%2e", "%2E.", "..%2f", "..%5c", "%2f", "%2F..%2F", "a.pdf",
              "", "%66iles", "Files", ";x", "%00"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(host=st.sampled_from(["host", "HOST", "host.", "host.evil", "evil", "host@evil", "evil@host"]),
       port=st.sampled_from(["", ":443", ":8443"]), scheme=st.sampled_from(["https", "http"]),
       path=st.lists(st.sampled_from(PATH_PARTS), max_size=5).map("/".join))
def test_an_allowed_url_is_inside_its_entry_however_it_is_written(host, port, scheme, path):
    url = f"{scheme}://{host}{port}/{path}"
    if not allowed_source(url, ("https://host/files",)):
        return
    parts = urllib3.util.parse_url(url)
    assert (parts.scheme, parts.host, parts.port or 443, parts.auth) == ("https", "host", 443, None)
    for form in (parts.path, urllib.parse.unquote(parts.path).replace("\\", "/")):
        resolved = posixpath.normpath(form)
        assert resolved == "/files" or resolved.startswith("/files/"), (url, form)


def test_a_long_file_name_is_shortened_and_keeps_its_extension(sandbox, tmp_path):
    """A 300-character last segment made open() fail with OSError (File name too long): a handler error."""
    url = sandbox.files.add("a" * 300 + ".pdf", b"%PDF")
    path = downloader().fetch(url, tmp_path)
    assert path.read_bytes() == b"%PDF" and path.suffix == ".pdf" and len(path.name) <= 200
    assert len(slug("é" * 1000 + ".h5p")) <= 200 and slug("é" * 1000 + ".h5p").endswith(".h5p")
    assert slug("." + "x" * 300) not in ("", ".", "..")


@pytest.mark.timeout(60)
def test_a_compressed_body_that_never_decodes_is_cut_at_the_deadline(sandbox, tmp_path):
    """A gzip header whose file name never ends decodes to nothing, so each read waits for more; read
    until the connection closes, the deadline had no socket to shut, and the download never ended."""
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x08\0\0\0\0\0\xff"
    url = sandbox.files.drip("a.pdf", b"a" * 10_000, every_s=0.05, head=head)
    with pytest.raises(DownloadError, match="took longer than"):
        made(DownloadPolicy(allow_private_networks=True, read_timeout_s=2, deadline_s=1, min_rate_bytes_s=0),
             RetryPolicy(1, 10, 0.01)).fetch(url, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("length", ["9" * 5000, "\xb2"])  # past int()'s 4,300 digits; a digit int() refuses
def test_a_content_length_that_is_not_a_number_is_not_an_error_of_the_job(sandbox, tmp_path, length):
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n%PDF"
    sandbox.route("GET", "/odd.pdf", lambda call: Reply(200, Raw(lambda out: out.write(head.encode("latin-1")))))
    try:
        downloader(attempts=1).fetch(f"{sandbox.url}/odd.pdf", tmp_path, max_bytes=1000)
    except DownloadError:
        pass  # refused or cut short: either is an outcome, not a crash


def test_a_body_longer_than_its_content_length_is_refused(sandbox, tmp_path):
    """Sent chunked with a Content-Length as well, a body can run past the length it declared (and past the disk
    room reserved for that length)."""
    body = b"%PDF" + b"x" * 5000
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:2000], body[2000:])) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
    sandbox.route("GET", "/both.pdf", lambda call: Reply(200, Raw(lambda out: out.write(head + chunked))))
    with pytest.raises(DownloadError):
        downloader(attempts=1).fetch(f"{sandbox.url}/both.pdf", tmp_path, max_bytes=10_000)
    assert list(tmp_path.iterdir()) == []


def fetch_spooled(url, budget: DiskBudget, directory, max_bytes=None, **policy) -> bytes:
    """A download into a spool of 1 KiB in memory that keeps to ``budget`` on disk: its bytes."""
    async def fetch():
        with Spool(1024, directory, budget) as spool:
            settings = DownloadPolicy(**{"allow_private_networks": True, "read_timeout_s": 2, **policy})
            await LoopDownloader(Downloader(settings, RetryPolicy(1, 10, 0.01))).fetch_into(url, spool, max_bytes)
            spool.seek(0)
            return spool.read()
    return on_the_loop(fetch())


def test_downloads_to_disk_keep_within_the_disk_budget_and_wait_their_turn(sandbox, tmp_path, transport):
    if transport == "threads":
        pytest.skip("the event-loop downloader writes into spools")
    body = b"%PDF" + bytes(range(256)) * 4000  # about 1 MiB, its length declared
    url = sandbox.files.add("big.pdf", body, delay_s=0.2)
    budget = DiskBudget(len(body) + 100)  # one at a time fits
    in_use = []
    reserve = budget.reserve

    async def counted(size):
        held = await reserve(size)
        in_use.append(budget.total - budget.free)
        return held
    budget.reserve = counted
    with ThreadPoolExecutor(4) as threads:
        fetched = list(threads.map(lambda _: fetch_spooled(url, budget, tmp_path), range(4)))
    assert fetched == [body] * 4
    assert in_use == [len(body)] * 4 and budget.free == budget.total  # each reserved its declared length
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("encoding, compress", [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_a_compressed_download_reserves_its_cap_and_a_file_past_the_budget_fails(sandbox, tmp_path, transport,
                                                                                 encoding, compress):
    if transport == "threads":
        pytest.skip("the event-loop downloader writes into spools")
    small = sandbox.files.add("a.pdf", compress(b"%PDF" * 1000), headers={"Content-Encoding": encoding})
    budget = DiskBudget(50_000)
    assert fetch_spooled(small, budget, tmp_path, max_bytes=20_000) == b"%PDF" * 1000
    assert budget.free == budget.total
    big = sandbox.files.add("b.pdf", compress(b"%PDF" * 30_000), headers={"Content-Encoding": encoding})
    with pytest.raises(DownloadError, match=r"download.disk_budget_bytes"):
        fetch_spooled(big, budget, tmp_path, max_bytes=1_000_000)  # a cap above the budget
    assert budget.free == budget.total and list(tmp_path.iterdir()) == []


def held_for(budget: DiskBudget, seconds: float | None) -> int:
    """The whole budget taken by another download (on the event loop), given back after ``seconds`` (None:
    not in this test)."""
    held = on_the_loop(budget.reserve(budget.total))
    if seconds is not None:
        loop = event_loop()
        loop.call_soon_threadsafe(loop.call_later, seconds, budget.release, held)
    return held


def test_a_wait_for_disk_room_is_not_counted_against_the_download_rate(sandbox, tmp_path, transport):
    """A download waiting for the budget reads nothing meanwhile: counted as slow, it would fail whenever the
    budget is busy for longer than the grace period, which is when the budget is doing its work."""
    if transport == "threads":
        pytest.skip("the event-loop downloader writes into spools")
    body = b"%PDF" + bytes(range(256)) * 800  # 200 KiB, read in a few chunks on 127.0.0.1
    url = sandbox.files.add("waits.pdf", body)
    budget = DiskBudget(len(body))
    held_for(budget, 1.5)
    assert fetch_spooled(url, budget, tmp_path, min_rate_bytes_s=200_000, min_rate_grace_s=0.5) == body
    assert budget.free == budget.total


class WatchedBudget(DiskBudget):
    """A budget that checks, at every change, that the files in ``directory`` hold no more than is reserved."""

    def __init__(self, total: int, directory):
        super().__init__(total)
        self.directory = directory

    def release(self, size: int) -> None:
        on_disk = sum(f.stat().st_size for f in self.directory.iterdir())
        assert on_disk <= self.total - self.free - size, f"{size} bytes given back with {on_disk} on disk"
        super().release(size)


def test_room_is_never_given_back_while_its_bytes_are_on_disk(sandbox, tmp_path, transport):
    """A body without a length grows past the room its spool reserved (the whole budget): it fails there,
    holding its room until its file is gone, rather than giving the room back to wait for more while its
    bytes stay on disk (others would be let in on top of them)."""
    if transport == "threads":
        pytest.skip("the event-loop downloader writes into spools")

    def dripped(out):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10):
            out.write(b"%x\r\n%s\r\n" % (2000, b"%PDF" * 500))
            out.flush()
            time.sleep(0.01)  # the server's pace: each part read on its own
        out.write(b"0\r\n\r\n")
    sandbox.route("GET", "/unsized.pdf", lambda call: Reply(200, Raw(dripped)))
    budget = WatchedBudget(10_000, tmp_path)
    with pytest.raises(DownloadError, match=r"download.disk_budget_bytes"):
        fetch_spooled(f"{sandbox.url}/unsized.pdf", budget, tmp_path)
    assert budget.free == budget.total and list(tmp_path.iterdir()) == []


def test_a_file_declared_larger_than_the_budget_fails_without_waiting_for_it(sandbox, tmp_path, transport):
    """Its declared length can never fit: waiting for the whole budget would only hold up every download
    behind it."""
    if transport == "threads":
        pytest.skip("the event-loop downloader writes into spools")
    url = sandbox.files.add("huge.pdf", b"%PDF" + b"x" * 20_000)
    budget = DiskBudget(10_000)
    held = held_for(budget, None)  # never given back while the download runs
    try:
        with pytest.raises(DownloadError, match=r"download.disk_budget_bytes"):
            fetch_spooled(url, budget, tmp_path, deadline_s=5)
    finally:
        event_loop().call_soon_threadsafe(budget.release, held)


def test_a_retry_whose_answer_is_longer_reserves_room_for_it(sandbox, tmp_path, transport):
    """The first answer is cut short after going to disk; the second declares more than the first did."""
    if transport == "threads":
        pytest.skip("the event-loop downloader writes into spools")
    short, longer = b"%PDF" + b"a" * 3_000, b"%PDF" + b"b" * 6_000
    answers = iter([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(short), short[:2_000]),
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(longer), longer)])
    sandbox.route("GET", "/changed.pdf", lambda call: Reply(200, Raw(lambda out: out.write(next(answers)))))
    budget = DiskBudget(10_000)

    async def fetch():
        with Spool(1024, tmp_path, budget) as spool:
            await LoopDownloader(Downloader(DownloadPolicy(allow_private_networks=True, read_timeout_s=2),
                                            RetryPolicy(2, 10, 0.01))).fetch_into(f"{sandbox.url}/changed.pdf", spool)
            spool.seek(0)
            return spool.read()
    assert on_the_loop(fetch()) == longer
    assert budget.free == budget.total
