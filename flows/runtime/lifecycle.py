"""Stopping a job cleanly on SIGTERM or SIGINT.

The signal only sets a flag: the source then ends its input, the dataflow drains (the
events in flight reach an outcome and their offsets are committed) and ``bytewax.run``
returns, so the process exits 0. If draining takes longer than ``shutdown.grace_s`` the
process exits 0 at once: whatever has not reached an outcome is not committed and is
read again by the next run.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)


def exit_at_start(problem: str) -> None:
    """Stop the job before it runs with one line saying why, and exit code 2."""
    print(" ".join(problem.split()), file=sys.stderr, flush=True)
    raise SystemExit(2)


class StopSignal:
    def __init__(self) -> None:
        self._stop = threading.Event()

    def requested(self) -> bool:
        return self._stop.is_set()

    def request(self, grace_s: float) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        log.info("stop requested; finishing the events in flight", extra={"grace_s": grace_s})
        timer = threading.Timer(grace_s, self._give_up, args=(grace_s,))
        timer.daemon = True
        timer.start()

    @staticmethod
    def _give_up(grace_s: float) -> None:
        log.warning("events still in flight after the grace period; exiting without them "
                    "(their offsets are not committed, so they are read again)", extra={"grace_s": grace_s})
        logging.shutdown()
        os._exit(0)

    def install(self, grace_s: float) -> None:
        """Handle SIGTERM and SIGINT (must run in the main thread)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda _signum, _frame: self.request(grace_s))
