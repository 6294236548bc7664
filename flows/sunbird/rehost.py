"""Copying a file from where the source keeps it to our storage: download, store, clean up.

A download goes through the safe downloader on the event loop into a :class:`~connectors.spool.Spool`: a
file that fits in memory (:data:`IN_MEMORY_BYTES`) is stored from there, a larger one from a temporary file,
removed once stored or failed. Drive links go through the Drive downloader, on a thread, into a temporary
folder. What all of them keep on disk at once stays within ``download.disk_budget_bytes``
(:class:`~connectors.disk_budget.DiskBudget`). The file is stored under ``<folder>/<file name>`` and its public
URL returned. A download that is only read (an ECAR) is spooled the same way.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from connectors.disk_budget import DiskBudget
from connectors.download import DownloadError, Downloader, DownloadPolicy, TooLarge, past_disk_budget
from connectors.gdrive import ICON, DriveDownloader
from connectors.loop_download import LoopDownloader
from connectors.spool import Spool
from connectors.storage import Storage
from flows.runtime.in_flight import in_thread
from flows.runtime.settings import CommonSettings, ConfigError, Reader

IN_MEMORY_BYTES = 2**20  # of a download: an icon, a question's ECAR, many artifacts (README: Temporary files)


@dataclass(frozen=True)
class Stored:
    url: str  # the public URL of the stored copy
    name: str  # its file name: the URL's last segment, or the name Drive gives


class Rehoster:
    """Copies files on the event loop: downloads there (:class:`~connectors.loop_download.LoopDownloader`),
    what blocks (storing a file, a Drive download) on ``threads``, awaited."""

    def __init__(self, downloader: Downloader, drive: DriveDownloader | None, storage: Storage, temp_dir: Path,
                 threads: Executor, disk: DiskBudget):
        self.downloads = LoopDownloader(downloader)
        self._drive = drive
        self._storage = storage
        self._temp_dir = temp_dir
        self._threads = threads
        self._disk = disk

    def spooled(self) -> Spool:
        """Where a download goes: memory up to :data:`IN_MEMORY_BYTES`, a temporary file beyond, within the disk
        budget; gone once closed."""
        return Spool(IN_MEMORY_BYTES, self._temp_dir, self._disk)

    async def copy(self, url: str, owner: str, folder: str, mime_type: str = ICON, limit: int | None = None,
                   allowed: tuple[str, ...] = ()) -> Stored:
        """Download ``url`` (a Drive link checked against ``mime_type``) and store it under ``folder``."""
        what = "appIcon" if mime_type == ICON else "sourceUrl"
        try:
            if self._drive is not None and self._drive.is_link(url):
                return await self._copy_from_drive(url, owner, folder, mime_type, limit, allowed)
            name = self.downloads.name_for(url, allowed)
            with self.spooled() as spool:
                await self.downloads.fetch_into(url, spool, limit, allowed, mime_type)
                return Stored(await self._store(spool, f"{folder}/{name}"), name)
        except DownloadError as err:
            raise DownloadError(f"Error Occurred while downloading {what} file: {err}") from None

    async def _copy_from_drive(self, url: str, owner: str, folder: str, mime_type: str, limit: int | None,
                               allowed: tuple[str, ...]) -> Stored:
        """The whole file goes to disk: its cap is reserved first, and is at most the disk budget."""
        budget = self._disk.total
        capped_by_budget = limit is None or limit > budget
        limit = budget if capped_by_budget else limit
        held = await self._disk.reserve(limit)
        try:
            self._temp_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f"{owner}_", dir=self._temp_dir) as directory:
                local_file = await in_thread(self._threads, partial(self._drive.fetch, url, Path(directory),
                                                                    mime_type, limit, allowed))
                stored = partial(self._storage.put, local_file, f"{folder}/{local_file.name}")
                return Stored(await in_thread(self._threads, stored), local_file.name)
        except TooLarge as err:
            if not capped_by_budget:
                raise
            raise past_disk_budget(f"more than its {budget} bytes ({err})") from None
        finally:
            self._disk.release(held)

    async def _store(self, spool: Spool, key: str) -> str:
        """The spool's bytes stored under ``key``: from memory, or from its file."""
        if spool.path is None:
            stored = partial(self._storage.put_bytes, spool.getvalue(), key)
        else:
            spool.flush()
            stored = partial(self._storage.put, spool.path, key)
        return await in_thread(self._threads, stored)


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


def disk_budget_from(reader: Reader, job: str) -> DiskBudget:
    """The bytes the process's downloads may keep on disk at once (``download.disk_budget_bytes``)."""
    return DiskBudget(reader.integer("download.disk_budget_bytes", 3 * 2**30, minimum=IN_MEMORY_BYTES), job)


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
