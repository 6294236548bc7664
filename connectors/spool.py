"""Where a download is written when it is read or stored at once: memory while it is small, a file beyond.

Unlike :class:`tempfile.SpooledTemporaryFile`, the file a large download moves to has a name
(:attr:`Spool.path`), so the storage back ends can upload it from there::

    with Spool(2**20, Path("/tmp/jobs")) as spool:
        spool.write(data)
        stored = storage.put(spool.path, key) if spool.path else storage.put_bytes(spool.getvalue(), key)
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path


class Spool:
    """A binary file in memory up to ``in_memory`` bytes, then in a file of its own in ``directory``, removed when
    the spool is closed. Reads, seeks and truncations go to whichever holds the bytes."""

    def __init__(self, in_memory: int, directory: Path):
        self._in_memory = in_memory
        self._directory = directory
        self._file: io.BufferedIOBase = io.BytesIO()
        self.path: Path | None = None  # the file's, once the bytes are on disk

    def write(self, data: bytes) -> int:
        if self.path is None and self._file.tell() + len(data) > self._in_memory:
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
        self._file = os.fdopen(descriptor, "w+b")
        self._file.write(memory.getvalue())
        self._file.seek(memory.tell())

    def __getattr__(self, name: str):  # read, seek, tell, truncate, flush, seekable: what zipfile and writers use
        return getattr(self._file, name)

    def close(self) -> None:
        self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Spool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
