"""JSON log lines on stderr, one per event outcome, with no personal data.

Each line carries time, level, job and message, plus whatever the caller passes in
``extra`` (``mid``, outcome, entity, duration, HTTP status, error). User ids only ever
appear as :func:`short_hash`; whole events are never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from datetime import datetime, timezone

import orjson

_CHATTY_LIBRARIES = ("urllib3", "requests", "google", "fsspec", "s3fs", "adlfs", "gcsfs", "azure", "botocore")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, job: str):
        super().__init__()
        self._job = job

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "job": self._job,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _STANDARD)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json_line(line).decode()


def json_line(fields: dict) -> bytes:
    """One JSON line, whatever the fields hold: text that is not Unicode (a lone surrogate) is
    written as a ``\\udc80`` escape, anything else not JSON as its ``str``."""
    try:
        return orjson.dumps(fields, default=str)
    except TypeError:
        return json.dumps(fields, default=str, separators=(",", ":")).encode()


def configure(job: str, level: str = "INFO") -> None:
    """Send every log record of the process to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(job))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for library in _CHATTY_LIBRARIES:  # their debug lines carry URLs, which carry user ids
        logging.getLogger(library).setLevel(max(logging.WARNING, root.level))


class OutcomeLines:
    """The one JSON line per event outcome, collected per batch and written at once.

    Written directly rather than through :mod:`logging`, whose record machinery costs more than the
    rest of the pipeline for an event; the lines have the same shape as :class:`JsonFormatter`'s.
    """

    def __init__(self, job: str, logger: str = "cokreat.outcome"):
        self._head = {"job": job, "logger": logger}
        self._lines: list[bytes] = []
        self._level = logging.getLogger(logger).getEffectiveLevel()
        self._millisecond, self._stamp = -1, ""

    def enabled(self, level: int) -> bool:
        return level >= self._level

    def add(self, level: int, message: str, fields: dict) -> None:
        if not self.enabled(level):
            return
        line = {"time": self._now(), "level": logging.getLevelName(level), **self._head, "message": message,
                **fields}
        self._lines.append(json_line(line))

    def _now(self) -> str:
        """The time in ISO 8601 to the millisecond, formatted once per millisecond."""
        millisecond = time.time_ns() // 1_000_000
        if millisecond != self._millisecond:
            self._millisecond = millisecond
            moment = datetime.fromtimestamp(millisecond // 1000, timezone.utc).replace(
                microsecond=millisecond % 1000 * 1000)
            self._stamp = moment.isoformat(timespec="milliseconds")
        return self._stamp

    def flush(self) -> None:
        if self._lines:
            stream = getattr(sys.stderr, "buffer", None)
            text = b"\n".join(self._lines) + b"\n"
            if stream is not None:
                sys.stderr.flush()
                stream.write(text)
                stream.flush()
            else:
                sys.stderr.write(text.decode())
            self._lines.clear()


def short_hash(value: str | None) -> str | None:
    """A stable 12-character stand-in for a personal identifier."""
    if value is None:
        return None
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
