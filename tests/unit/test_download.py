"""Downloads: schemes, allow-list, private addresses, redirects, size cap, retries, file names."""

import pytest

from connectors.download import Downloader, DownloadError, DownloadPolicy, allowed_source, file_name, slug
from flows.settings import RetrySettings


def downloader(private=True, attempts=3):
    return Downloader(DownloadPolicy(allow_private_networks=private, read_timeout_s=2), RetrySettings(attempts, 10, 0.01))


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
