"""Google Drive links: the MIME mapping, direct downloads, the Drive API with a service account, the back-off bound."""

import pytest

from connectors.download import Downloader, DownloadError, DownloadPolicy
from connectors.gdrive import ICON, Backoff, DriveDownloader, drive_file_id, mime_fits
from flows.settings import RetrySettings
from tests.conftest import service_account

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


def test_only_uc_download_links_are_drive_links():
    assert drive_file_id("https://drive.google.com/uc?export=download&id=1ZAW5") == "1ZAW5"
    assert drive_file_id("https://drive.google.com/file/d/1ZAW5/view") is None
    assert drive_file_id("https://host/uc?id=1ZAW5") is None


def test_the_backoff_is_bounded():
    assert Backoff(120, 1200, 2).waits() == [120, 240, 480, 960]
    assert Backoff(1, 0.5, 2).waits() == []
    assert len(Backoff(1, 10**9, 1).waits()) == 32  # a factor of 1 still ends


def drive(sandbox, credential="", backoff=Backoff(0.01, 0.04, 2), sleeps=None):
    downloader = Downloader(DownloadPolicy(allow_private_networks=True), RetrySettings(2, 5, 0.01))
    return DriveDownloader(downloader, credential, sandbox.url, backoff,
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
