"""The spool a download is written to: memory while small, a named temporary file beyond, removed at close."""

import zipfile

import pytest

from connectors.spool import Spool


def test_a_small_download_stays_in_memory_and_touches_no_disk(tmp_path):
    with Spool(10, tmp_path / "tmp") as spool:
        spool.write(b"12345")
        spool.write(b"67890")
        assert spool.path is None and spool.getvalue() == b"1234567890"
    assert not (tmp_path / "tmp").exists()


def test_past_the_limit_the_bytes_move_to_a_named_file_that_close_removes(tmp_path):
    spool = Spool(10, tmp_path)
    spool.write(b"123456")
    spool.write(b"7890!")
    spool.flush()
    assert spool.path is not None and spool.path.parent == tmp_path and spool.path.read_bytes() == b"1234567890!"
    spool.write(b"?")
    spool.seek(0)
    assert spool.read() == b"1234567890!?"
    with pytest.raises(ValueError, match="on disk"):
        spool.getvalue()
    spool.close()
    assert list(tmp_path.iterdir()) == []


def test_a_retry_starts_again_from_an_empty_spool_in_memory_or_on_disk(tmp_path):
    """The downloader seeks to the start and truncates before each attempt."""
    for first in (b"abc", b"a" * 20):
        with Spool(10, tmp_path) as spool:
            spool.write(first)
            spool.seek(0)
            spool.truncate()
            spool.write(b"xy")
            spool.seek(0)
            assert spool.read() == b"xy"
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_removed_when_the_work_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with Spool(1, tmp_path) as spool:
            spool.write(b"abc")
            raise RuntimeError("the store failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("in_memory", [10**6, 10])
def test_an_archive_is_read_from_either(tmp_path, in_memory):
    with Spool(in_memory, tmp_path) as spool:
        with zipfile.ZipFile(spool, "w") as archive:
            archive.writestr("manifest.json", "{}")
        with zipfile.ZipFile(spool) as archive:
            assert archive.read("manifest.json") == b"{}"
        assert (spool.path is None) == (in_memory > 1000)
