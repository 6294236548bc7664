"""The spool a download is written to: memory while small, a named temporary file beyond, removed at close."""

import array
import asyncio
import errno
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from connectors.disk_budget import DiskBudget
from connectors.spool import OverBudget, Spool


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


def test_a_full_disk_leaves_no_file_behind(tmp_path):
    """Closing writes out the last buffered bytes; when that fails (here, the file size limit stands in for a
    full disk), the file is still removed, not left to fill the disk further."""
    script = f"""
import resource, signal, sys
from pathlib import Path
from connectors.spool import Spool
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    with Spool(10_000, Path({str(tmp_path)!r})) as spool:
        while True:
            spool.write(b"x" * 1000)
except OSError as err:
    print("failed:", err.errno)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parents[2])
    assert done.stdout.strip() == f"failed: {errno.EFBIG}", done.stderr
    assert list(tmp_path.iterdir()) == []


def test_sizes_are_counted_in_bytes_whatever_the_buffer(tmp_path):
    with Spool(10, tmp_path) as spool:
        spool.write(memoryview(array.array("i", [1, 2, 3])))  # 12 bytes, 3 items
        assert spool.path is not None


def test_with_a_disk_budget_nothing_goes_to_disk_past_the_room_reserved(tmp_path):
    async def scenario():
        budget = DiskBudget(100)
        with Spool(10, tmp_path, budget) as spool:
            spool.write(b"x" * 10)  # memory: no room needed
            assert spool.needs_room(1)
            with pytest.raises(OverBudget):
                spool.write(b"y")
            await spool.reserve(40)
            assert budget.free == 60 and not spool.needs_room(30) and spool.needs_room(31)
            spool.write(b"y" * 30)
            with pytest.raises(OverBudget):
                spool.write(b"z")
            spool.seek(0)
            spool.truncate()  # a retry, with a longer body
            await spool.reserve(70)  # what it held is given back first
            assert budget.free == 30
            spool.write(b"w" * 70)
        assert budget.free == 100 and list(tmp_path.iterdir()) == []

    asyncio.run(scenario())
