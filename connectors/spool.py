"""Where a download is written when it is read or stored at once: memory while it is small, a file beyond.

Unlike :class:`tempfile.SpooledTemporaryFile`, the file a large download moves to has a name
(:attr:`Spool.path`), so the storage back ends can upload it from there. Given a
:class:`~connectors.disk_budget.DiskBudget`, a spool writes to disk only within the room it reserved there::

    with Spool(2**20, Path("/tmp/jobs")) as spool:
        spool.write(data)
        stored = storage.put(spool.path, key) if spool.path else storage.put_bytes(spool.getvalue(), key)
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from connectors.disk_budget import DiskBudget


class OverBudget(OSError):
    """A write past the disk room the spool reserved."""


class Spool:
    """A binary file in memory up to ``in_memory`` bytes, then in a file of its own in ``directory``, removed when
    the spool is closed (even when closing fails, as on a full disk). Reads, seeks and truncations go to
    whichever holds the bytes."""

    def __init__(self, in_memory: int, directory: Path, budget: DiskBudget | None = None):
        self._in_memory = in_memory
        self._directory = directory
        self._file: io.BufferedIOBase = io.BytesIO()
        self.path: Path | None = None  # the file's, once the bytes are on disk
        self._budget = budget
        self._held = 0  # bytes the spool may hold on disk, reserved in the budget

    @property
    def budget_total(self) -> int | None:
        """The whole disk budget the spool keeps to, if any."""
        return None if self._budget is None else self._budget.total

    def needs_room(self, size: int | None) -> bool:
        """Whether writing ``size`` more bytes (None: as much as the budget has) needs more disk room than
        reserved (:meth:`reserve`)."""
        if self._budget is None:
            return False
        size = self._budget.total if size is None else size
        return self._file.tell() + size > max(self._in_memory, self._held)

    async def reserve(self, size: int | None) -> None:
        """Disk room for ``size`` bytes in all (None: as much as the budget has), waited for in the budget. What
        the spool held is given back first (a retry writes from the start again), so it never waits while
        holding any."""
        self._give_back()
        size = self._budget.total if size is None else size
        self._held = await self._budget.reserve(size)  # at most the whole budget

    def write(self, data: bytes) -> int:
        size = memoryview(data).nbytes
        if self.needs_room(size):
            raise OverBudget(f"{self._file.tell() + size} bytes is more than the {self._held} reserved on disk")
        if self.path is None and self._file.tell() + size > self._in_memory:
            self._to_disk()
        return self._file.write(data)

    def getvalue(self) -> bytes:
        """The bytes, while they are in memory."""
        if self.path is not None:
            raise ValueError("the spool is on disk: read it from its path")
        return self._file.getvalue()

    def _to_disk(self) -> None:
        memory = self._file
        self._directory.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self._directory)
        self.path = Path(name)
        try:
            self._file = os.fdopen(descriptor, "w+b")
        except BaseException:
            os.close(descriptor)
            raise
        self._file.write(memory.getvalue())
        self._file.seek(memory.tell())

    # What zipfile and the downloaders use, from whichever holds the bytes.
    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def truncate(self, size: int | None = None) -> int:
        return self._file.truncate(size)

    def flush(self) -> None:
        self._file.flush()

    def seekable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self._file.closed

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            if self.path is not None:
                self.path.unlink(missing_ok=True)
            self._give_back()

    def _give_back(self) -> None:
        if self._held:
            self._budget.release(self._held)
        self._held = 0

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
