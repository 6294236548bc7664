"""Copying a file from where the source keeps it to our storage: download, store, clean up.

Downloads go through the safe downloader on the event loop (or the Drive downloader, on a thread, for
Drive links) into a fresh temporary directory that is always removed; the file is stored under
``<folder>/<file name>`` and its public URL returned. A download that is only read (an ECAR) goes to a
spooled temporary file instead, kept in memory while small.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import Executor
from functools import partial
from pathlib import Path

from connectors.download import DownloadError, Downloader, DownloadPolicy
from connectors.gdrive import ICON, DriveDownloader
from connectors.loop_download import LoopDownloader
from connectors.storage import Storage, StorageError
from flows.runtime.in_flight import in_thread
from flows.runtime.settings import CommonSettings, ConfigError, Reader

IN_MEMORY_BYTES = 2**20  # of a spooled download: a question's or a set's ECAR is a few KiB


class Rehoster:
    """Copies files on the event loop: downloads there (:class:`~connectors.loop_download.LoopDownloader`),
    what blocks (a stored file, a Drive download) on ``threads``, awaited."""

    def __init__(self, downloader: Downloader, drive: DriveDownloader | None, storage: Storage, temp_dir: Path,
                 threads: Executor):
        self.downloads = LoopDownloader(downloader)
        self._drive = drive
        self._storage = storage
        self._temp_dir = temp_dir
        self._threads = threads

    def workdir(self, owner: str) -> "Workdir":
        """A fresh directory ``temp_dir/<owner>_<random>``, removed afterwards whatever happens, so
        that nothing is left behind, not even an empty folder per id."""
        return Workdir(self._temp_dir, owner)

    def spooled(self) -> tempfile.SpooledTemporaryFile:
        """A temporary file for a download that is read at once (an ECAR): in memory up to
        :data:`IN_MEMORY_BYTES`, in the temporary location beyond; gone once closed."""
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.SpooledTemporaryFile(IN_MEMORY_BYTES, dir=self._temp_dir)

    async def download(self, url: str, directory: Path, mime_type: str, limit: int | None,
                       allowed: tuple[str, ...] = ()) -> Path:
        """The file at ``url``, in ``directory``; Drive links checked against ``mime_type``."""
        what = "appIcon" if mime_type == ICON else "sourceUrl"
        try:
            if self._drive is not None and self._drive.is_link(url):
                return await in_thread(self._threads, partial(self._drive.fetch, url, directory, mime_type, limit,
                                                              allowed))
            return await self.downloads.fetch(url, directory, limit, allowed, mime_type)
        except DownloadError as err:
            raise DownloadError(f"Error Occurred while downloading {what} file: {err}") from None

    async def store(self, local_file: Path, folder: str) -> str:
        """Store the file as ``<folder>/<its name>``; its public URL."""
        url = await in_thread(self._threads, partial(self._storage.put, local_file, f"{folder}/{local_file.name}"))
        if not url:
            raise StorageError(f"file upload to cloud storage failed for {folder}")
        return url

    async def copy(self, url: str, owner: str, folder: str, mime_type: str = ICON, limit: int | None = None,
                   allowed: tuple[str, ...] = ()) -> str:
        """Download ``url`` and store it under ``folder``; the new public URL."""
        with self.workdir(owner) as directory:
            return await self.store(await self.download(url, directory, mime_type, limit, allowed), folder)


def downloader_from(reader: Reader, common: CommonSettings) -> Downloader:
    """The downloader the ``download.*`` keys describe, with the jobs' HTTP timeouts and retry budget."""
    return Downloader(DownloadPolicy(
        allow_private_networks=reader.boolean("download.allow_private_networks", False),
        connect_timeout_s=common.http.connect_timeout_s,
        read_timeout_s=common.http.read_timeout_s,
        deadline_s=reader.number("download.deadline_s", 3600.0, minimum=0.001),
        min_rate_bytes_s=reader.number("download.min_rate_bytes_s", 10240.0),
        min_rate_grace_s=reader.number("download.min_rate_grace_s", 30.0),
        max_connections=max(common.http.max_in_flight, 4),
    ), common.retry)


def storage_from(reader: Reader) -> Storage:
    """The storage the original ``cloud_storage_*`` keys (and ``cloud_storage.public_base_url``) describe."""
    storage_type = reader.text("cloud_storage_type")
    try:
        return Storage.from_settings(storage_type, reader.optional_text("cloud_storage_key"),
                                     reader.optional_text("cloud_storage_secret"),
                                     reader.text("cloud_storage_container"),
                                     reader.optional_text("cloud_storage_endpoint") or None,
                                     reader.optional_text("cloud_storage.public_base_url") or None,
                                     region=reader.optional_text("cloud_storage_region") or None,
                                     auth_type=reader.optional_text("cloud_storage_auth_type") or "access_key")
    except (ValueError, ImportError) as err:
        named, _, why = str(err).partition(": ")
        if named.startswith("cloud_storage_") and why:  # the message names the key at fault
            raise ConfigError(named, why) from None
        key = "cloud_storage_auth_type" if "cloud_storage_auth_type" in str(err) else "cloud_storage_type"
        raise ConfigError(key, f"{storage_type}: {err}") from None


class Workdir:
    def __init__(self, parent: Path, owner: str):
        self._parent = parent
        self._owner = owner
        self._directory: tempfile.TemporaryDirectory | None = None

    def __enter__(self) -> Path:
        self._parent.mkdir(parents=True, exist_ok=True)
        self._directory = tempfile.TemporaryDirectory(prefix=f"{self._owner}_", dir=self._parent)
        return Path(self._directory.name)

    def __exit__(self, *exc) -> None:
        self._directory.cleanup()
