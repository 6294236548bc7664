"""Google Drive links: the MIME mapping, direct downloads, the Drive API with a service account, the back-off bound,
and hostile links and answers."""

import json

import pytest

from connectors.download import Downloader, DownloadError, DownloadPolicy
from connectors.gdrive import DRIVE_HOSTS, ICON, Backoff, DriveDownloader, drive_file_id, mime_fits
from sandbox.files import DRIVE_HOST, TOKEN
from sandbox.server import SunbirdSandbox
from connectors.retry import RetryPolicy
from tests.conftest import service_account
from tests.fake_network import FakeNetwork

H5P, PDF = "application/vnd.ekstep.h5p-archive", "application/pdf"


@pytest.mark.parametrize("content, drive, fits", [
    (H5P, "application/zip", True), (H5P, "application/x-zip", True),
    ("application/epub", "application/epub+zip", True), ("audio/mp3", "audio/mpeg", True),
    ("application/vnd.ekstep.html-archive", "application/x-zip-compressed", True),
    (PDF, "application/PDF", True), (PDF, "application/pdf; charset=binary", True),
    (PDF, "text/html", False), (H5P, "application/x-zip-compressed", False), ("video/mp4", "video/webm", False),
])
def test_the_mime_mapping(content, drive, fits):
    assert mime_fits(content, drive) is fits


def test_the_drive_file_link_forms():
    for link in ("https://drive.google.com/uc?export=download&id=1ZAW5", "https://drive.google.com/uc?id=1ZAW5",
                 "https://drive.google.com/open?id=1ZAW5", "https://drive.google.com/file/d/1ZAW5/view",
                 "https://drive.google.com/file/d/1ZAW5/view?usp=sharing", "https://drive.google.com/file/d/1ZAW5",
                 "https://drive.google.com/u/0/file/d/1ZAW5/edit", "https://docs.google.com/uc?export=download&id=1ZAW5"):
        assert drive_file_id(link) == "1ZAW5", link
    for page in ("https://drive.google.com/drive/folders/1ZAW5", "https://docs.google.com/document/d/1ZAW5/edit",
                 "https://drive.google.com/uc?export=view&id=1ZAW5", "https://drive.google.com/",
                 "https://drive.google.com/file/d/1ZAW5/copy"):
        assert drive_file_id(page) == "", page  # on a Drive host, but not a file: refused, never downloaded
    assert drive_file_id("https://host/uc?id=1ZAW5") is None  # not a Drive host: a plain download


@pytest.mark.parametrize("form", ["{url}/file/d/f11/view?usp=sharing", "{url}/open?id=f11"])
def test_the_other_link_forms_download_the_file_not_googles_page(sandbox, tmp_path, form):
    sandbox.files.add_drive("f11", "Lesson.pdf", b"%PDF-1.7 lesson", PDF)
    path = drive(sandbox).fetch(form.format(url=sandbox.files.drive_url), tmp_path, PDF, None)
    assert path.read_bytes() == b"%PDF-1.7 lesson"
    assert [r.path for r in sandbox.journal.all()] == ["/uc?export=download&id=f11"]


def test_a_drive_link_that_is_not_a_file_fails_before_any_call(sandbox, tmp_path):
    with pytest.raises(DownloadError, match="ERR_INVALID_UPLOAD_FILE_URL: Invalid fileUrl received"):
        drive(sandbox).fetch(f"{sandbox.files.drive_url}/document/d/f11/edit", tmp_path, PDF, None)
    assert sandbox.journal.count() == 0


def google_error(reason, message="The user does not have sufficient permissions for file f12."):
    return json.dumps({"error": {"code": 403, "message": message,
                                 "errors": [{"domain": "global", "reason": reason, "message": message}]}}).encode()


@pytest.mark.parametrize("body, final", [
    (google_error("insufficientFilePermissions"), True),
    (google_error("notFound", "File not found: f12."), True),
    (google_error("userRateLimitExceeded", "User Rate Limit Exceeded"), False),
    (google_error("rateLimitExceeded", "Rate Limit Exceeded"), False),
    (b"<html>Sorry, you can't view or download this file at this time.</html>" + b" " * 100_000, False),
    (b'{"error": "not the Google form"}', False),
    (json.dumps({"error": {"code": 403, "message": "The caller does not have permission (f12)",
                           "status": "PERMISSION_DENIED"}}).encode(), True),
    (json.dumps({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}).encode(), False),
    (google_error("insufficientFilePermissions", "x" * 100_000), True),  # a long message
    (google_error("insufficientFilePermissions", "x" * 2_000_000), False),  # past 1 MiB: not read as JSON
    (google_error("notFound", "File not found: f12 \u00e9").decode().encode("utf-16"), True),  # JSON in UTF-16
])
def test_a_google_403_is_final_unless_a_wait_can_cure_it(sandbox, tmp_path, body, final):
    denied = sandbox.files.add("denied", body, "application/json", status=403)
    link = sandbox.files.add_drive("f12", "a.pdf", b"%PDF", PDF, location=denied)
    sleeps = []
    with pytest.raises(DownloadError) as raised:
        drive(sandbox, sleeps=sleeps).fetch(link, tmp_path, PDF, None)
    if final:
        assert sleeps == [] and "Invalid Response Received From Google API for file Id : f12" in str(raised.value)
        assert any(word in str(raised.value) for word in ("insufficientFilePermissions", "notFound", "PERMISSION"))
    else:
        assert sleeps == [0.01, 0.02, 0.04] and "kept answering 403" in str(raised.value)


def test_the_backoff_is_bounded():
    assert Backoff(120, 1200, 2).waits() == [120, 240, 480, 960]
    assert Backoff(1, 0.5, 2).waits() == []
    assert len(Backoff(1, 10**9, 1).waits()) == 32  # a factor of 1 still ends


def drive(sandbox, credential="", backoff=Backoff(0.01, 0.04, 2), sleeps=None, hosts=(DRIVE_HOST,), api=None):
    downloader = Downloader(DownloadPolicy(allow_private_networks=True), RetryPolicy(2, 5, 0.01))
    return DriveDownloader(downloader, credential, api or sandbox.url, backoff, hosts=hosts,
                           sleep=sleeps.append if sleeps is not None else (lambda s: None))


def test_direct_download_checks_the_mime_type(sandbox, tmp_path):
    link = sandbox.files.add_drive("f1", "My Game.zip", b"PK-data", "application/zip")
    path = drive(sandbox).fetch(link, tmp_path, H5P, None)
    assert path == tmp_path / "my-game.zip" and path.read_bytes() == b"PK-data"
    with pytest.raises(DownloadError, match="MimeType Is Not Same"):
        drive(sandbox).fetch(link, tmp_path, PDF, None)
    assert drive(sandbox).fetch(link, tmp_path / "icon", ICON, None).exists()  # icons are not checked


def test_403_is_retried_with_growing_waits_and_then_fails(sandbox, tmp_path):
    link = sandbox.files.add_drive("f2", "a.pdf", b"%PDF", PDF)
    sandbox.faults.script("GET", "/uc", [403] * 10)
    sleeps = []
    with pytest.raises(DownloadError, match="kept answering 403"):
        drive(sandbox, sleeps=sleeps).fetch(link, tmp_path, PDF, None)
    assert sleeps == [0.01, 0.02, 0.04]
    assert sandbox.journal.count("GET") == 4
    sandbox.faults.clear()
    sandbox.faults.script("GET", "/uc", [403])
    assert drive(sandbox).fetch(link, tmp_path, PDF, None).read_bytes() == b"%PDF"


def test_the_drive_api_with_a_service_account(sandbox, tmp_path):
    link = sandbox.files.add_drive("f3", "Chapter 1.pdf", b"%PDF-1.7", PDF)
    downloader = drive(sandbox, credential=service_account(f"{sandbox.url}/token"))
    path = downloader.fetch(link, tmp_path, PDF, None)
    assert path.name == "chapter-1.pdf" and path.read_bytes() == b"%PDF-1.7"
    calls = [(r.method, r.path.split("?")[0], r.status) for r in sandbox.journal.all()]
    assert calls == [("POST", "/token", 200), ("GET", "/drive/v3/files/f3", 200), ("GET", "/drive/v3/files/f3", 200)]
    with pytest.raises(DownloadError, match="MimeType Is Not Same"):
        downloader.fetch(link, tmp_path, "video/mp4", None)


def test_the_size_cap_applies_to_drive_files(sandbox, tmp_path):
    link = sandbox.files.add_drive("f4", "big.pdf", b"%" * 5000, PDF)
    with pytest.raises(DownloadError, match="larger than allowed"):
        drive(sandbox).fetch(link, tmp_path, PDF, 1000)
    assert list(tmp_path.iterdir()) == []


def test_only_links_on_a_drive_host_are_drive_links():
    assert drive_file_id("https://evil.example/uc?export=download&id=1ZAW5") is None
    assert drive_file_id("https://drive.google.com.evil.example/uc?export=download&id=1ZAW5") is None
    assert drive_file_id("https://docs.google.com/uc?export=download&id=1ZAW5") == "1ZAW5"
    assert drive_file_id("http://127.0.0.1:8/uc?export=download&id=1ZAW5", ("127.0.0.1",)) == "1ZAW5"
    assert drive_file_id("https://drive.google.com\\@evil.example/uc?export=download&id=1ZAW5") is None


def test_a_link_elsewhere_is_a_plain_download(sandbox, tmp_path):
    link = sandbox.files.add_drive("f9", "a.pdf", b"%PDF", PDF)
    downloader = drive(sandbox, hosts=DRIVE_HOSTS)
    assert not downloader.is_link(link)
    with pytest.raises(DownloadError, match="Invalid fileUrl"):
        downloader.fetch(link, tmp_path, PDF, None)
    assert sandbox.journal.count() == 0


@pytest.mark.parametrize("file_id", ["..%2F..%2Ftoken", "..", "a/b", "a%3Fx=1", "f3%23", "a%20b", "", "f3&id=f4"])
def test_an_id_that_is_not_a_drive_file_id_is_refused_before_any_call(sandbox, tmp_path, file_id):
    sandbox.files.add_drive("f3", "a.pdf", b"%PDF", PDF)
    link = f"{sandbox.url}/uc?export=download&id={file_id}"
    for credential in ("", service_account(f"{sandbox.url}/token")):
        with pytest.raises(DownloadError, match="not a Google Drive file id|Invalid fileUrl"):
            drive(sandbox, credential=credential).fetch(link, tmp_path, PDF, None)
    assert sandbox.journal.count() == 0


def test_a_403_from_a_host_that_is_not_google_is_a_plain_failure(sandbox, tmp_path, monkeypatch):
    FakeNetwork(monkeypatch, {"drive.test": ["127.0.0.1"], "files.test": ["127.0.0.1"],
                              "doc-0.drive.googleusercontent.com": ["127.0.0.1"]})
    sandbox.files.add("quota", b"", status=403)
    port, sleeps = sandbox.port, []
    link = sandbox.files.add_drive("f6", "a.pdf", b"%PDF", PDF, location=f"http://files.test:{port}/files/quota")
    link = link.replace(DRIVE_HOST, "drive.test")
    with pytest.raises(DownloadError, match="HTTP 403"):
        drive(sandbox, hosts=("drive.test",), sleeps=sleeps).fetch(link, tmp_path, PDF, None)
    assert sleeps == []
    for google in ("drive.test", "doc-0.drive.googleusercontent.com"):
        sandbox.files.add_drive("f6", "a.pdf", b"%PDF", PDF, location=f"http://{google}:{port}/files/quota")
        with pytest.raises(DownloadError, match="kept answering 403"):
            drive(sandbox, hosts=("drive.test",), sleeps=sleeps).fetch(link, tmp_path, PDF, None)
    assert sleeps == [0.01, 0.02, 0.04] * 2


def test_a_drive_host_that_does_not_resolve_fails_cleanly_after_retries(tmp_path, monkeypatch):
    network = FakeNetwork(monkeypatch)
    downloader = DriveDownloader(Downloader(DownloadPolicy(), RetryPolicy(3, 5, 0.01)), "", "https://api.test",
                                 Backoff(0.01, 0.04, 2), sleep=lambda s: None)
    with pytest.raises(DownloadError, match="cannot resolve drive.google.com"):
        downloader.fetch("https://drive.google.com/uc?export=download&id=f1", tmp_path, PDF, None)
    assert network.lookups == ["drive.google.com"] * 3


def test_drive_file_names_stay_inside_their_directory(sandbox, tmp_path):
    for credential in ("", service_account(f"{sandbox.url}/token")):
        for file_id, name in (("dots", ".."), ("dot", "."), ("slash", "../../x"), ("empty", "")):
            link = sandbox.files.add_drive(file_id, name, b"%PDF", PDF)
            path = drive(sandbox, credential=credential).fetch(link, tmp_path / "work", PDF, None)
            assert path.parent == tmp_path / "work" and path.read_bytes() == b"%PDF", (name, path)
            path.unlink()


def test_the_metadata_read_is_capped(sandbox, tmp_path):
    link = sandbox.files.add_drive("f7", "n" * 2_000_000 + ".pdf", b"%PDF", PDF)
    with pytest.raises(DownloadError, match="larger than"):
        drive(sandbox, credential=service_account(f"{sandbox.url}/token")).fetch(link, tmp_path, PDF, None)
    assert list(tmp_path.iterdir()) == []


def test_no_netrc_credentials_and_no_proxy_from_the_environment(sandbox, tmp_path, monkeypatch):
    """requests reads ~/.netrc and *_PROXY: a planted .netrc sent its credentials to the file host."""
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login planted password planted-secret\n"
                                     "default login planted password planted-secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    with SunbirdSandbox() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy", "NETRC"):
            monkeypatch.delenv(name, raising=False)
        plain = sandbox.files.add("a.pdf", b"%PDF")
        downloader = Downloader(DownloadPolicy(allow_private_networks=True), RetryPolicy(1, 5, 0.01))
        assert downloader.fetch(plain, tmp_path / "plain").read_bytes() == b"%PDF"
        link = sandbox.files.add_drive("f8", "b.pdf", b"%PDF-b", PDF)
        assert drive(sandbox).fetch(link, tmp_path / "direct", PDF, None).read_bytes() == b"%PDF-b"
        api = drive(sandbox, credential=service_account(f"{sandbox.url}/token"))
        assert api.fetch(link, tmp_path / "api", PDF, None).read_bytes() == b"%PDF-b"
        assert proxy.journal.arrived == 0
    sent = [(r.path, r.headers.get("Authorization")) for r in sandbox.journal.all()]
    assert len(sent) == 5 and all(auth in (None, f"Bearer {TOKEN}") for _, auth in sent), sent


def test_a_long_drive_file_name_or_id_is_shortened(sandbox, tmp_path):
    """A long Content-Disposition or metadata name, or a long id, made open() fail with OSError."""
    for credential in ("", service_account(f"{sandbox.url}/token")):
        for file_id, name in (("long-name", "n" * 400 + ".pdf"), ("i" * 400, "")):
            link = sandbox.files.add_drive(file_id, name, b"%PDF", PDF)
            path = drive(sandbox, credential=credential).fetch(link, tmp_path / "work", PDF, None)
            assert path.read_bytes() == b"%PDF" and len(path.name) <= 200, (file_id[:10], name[:10])
            path.unlink()


@pytest.mark.timeout(60)
def test_the_service_account_sign_in_keeps_the_http_timeouts(sandbox, tmp_path):
    """google-auth waits 120 s per read by default; a token endpoint that stalls must fail within
    ``http.read_timeout_s`` like every other call (the test's own limit is far below 120 s per byte)."""
    stalled = sandbox.files.drip("token", b"HTTP/1.1 200 OK\r\n" * 10, every_s=30, headers=True)
    downloader = Downloader(DownloadPolicy(allow_private_networks=True, read_timeout_s=0.5), RetryPolicy(1, 5, 0.01))
    api = DriveDownloader(downloader, service_account(stalled), sandbox.url, Backoff(0.01, 0.04, 2),
                          hosts=(DRIVE_HOST,))
    with pytest.raises(DownloadError, match="sign-in failed"):
        api.fetch(sandbox.files.add_drive("f9", "a.pdf", b"%PDF", PDF), tmp_path, PDF, None)
