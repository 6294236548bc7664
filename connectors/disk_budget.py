"""How many bytes a process's downloads may keep on disk at once (``download.disk_budget_bytes``).

A download that outgrows memory (:class:`~connectors.spool.Spool`) reserves the most its file can hold, the
declared length or the size cap, in one step before its first byte goes to disk, and gives it back when the
file is removed. When the budget is spent it waits, first come first served, so many events in flight can
never fill the pod's ``/tmp`` (past its ``sizeLimit`` the pod is evicted). A download holds at most one
reservation and waits for none while holding one, so the waits cannot form a cycle::

    budget = DiskBudget(3 * 2**30)
    held = await budget.reserve(50 * 2**20)   # on the event loop
    ...
    budget.release(held)

Every call is made on the process's event loop. The bytes reserved and the waits are exported per job
(``cokreat_download_disk_reserved_bytes``, ``cokreat_download_disk_waits_total``).
"""

from __future__ import annotations

import asyncio
from collections import deque

from connectors.metrics import DISK_RESERVED, DISK_WAITS


class DiskBudget:
    """``total`` bytes to share; :meth:`reserve` waits for its share, :meth:`release` gives it back."""

    def __init__(self, total: int, job: str = "unnamed"):
        if total < 1:
            raise ValueError("a disk budget of less than one byte")
        self.total = total
        self.free = total
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()  # (bytes, woken when reserved), oldest first
        self._reserved, self._waits = DISK_RESERVED.labels(job), DISK_WAITS.labels(job)

    async def reserve(self, size: int) -> int:
        """Waits until ``size`` bytes (at most :attr:`total`) are free and takes them: the bytes taken."""
        size = min(max(size, 0), self.total)
        if not self._waiting and size <= self.free:
            self.free -= size
            self._reserved.set(self.total - self.free)
            return size
        granted = asyncio.get_running_loop().create_future()
        self._waiting.append((size, granted))
        self._waits.inc()
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # reserved just as it was cancelled
                self.release(size)
            else:
                if (size, granted) in self._waiting:  # not dropped by _grant in the meantime
                    self._waiting.remove((size, granted))
                self._grant()  # those behind it may fit now
            raise
        return size

    def release(self, size: int) -> None:
        self.free += size
        self._grant()

    def _grant(self) -> None:
        """The waits at the front that fit, in turn; one cancelled while it waited takes nothing."""
        while self._waiting:
            size, granted = self._waiting[0]
            if granted.done():
                self._waiting.popleft()
            elif size <= self.free:
                self._waiting.popleft()
                self.free -= size
                granted.set_result(None)
            else:
                break
        self._reserved.set(self.total - self.free)
