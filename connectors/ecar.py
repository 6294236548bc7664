"""Reading a downloaded ECAR (a zip of a published object) without trusting it.

The end record is read first: more than ``max_entries`` entries declared, or a central directory
larger than ``max_entries`` KiB, refuses the archive before its listing is built. The listing is
then checked: an absolute path, a ``..`` step, a link, an encrypted entry, a compression other than
stored or deflated (bzip2 and LZMA inflate without an output bound), more than ``max_entries``
entries, or more than ``max_bytes`` uncompressed in all refuses the archive. Only ``manifest.json``
and ``hierarchy.json`` are then read, into memory, each at most ``max_json_bytes`` (declared and
really inflated: a zip bomb can lie in its headers). Nothing is written to disk. Every refusal, and
every error of a damaged archive, is one :class:`EcarError` line::

    manifest, hierarchy = read_ecar(Path("/tmp/x.ecar"), EcarLimits(1000, 200 * 2**20))
"""

from __future__ import annotations

import json
import lzma
import stat
import struct
import zipfile
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_CHUNK = 64 * 1024
_DIRECTORY_BYTES_PER_ENTRY = 1024
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What zipfile, zlib and the file system raise on a damaged archive (bz2 raises OSError).
_DAMAGED = (OSError, EOFError, RuntimeError, NotImplementedError, ValueError, zlib.error, lzma.LZMAError,
            struct.error)


class EcarError(Exception):
    """The ECAR is not a safe, readable archive of the object."""


@dataclass(frozen=True)
class EcarLimits:
    max_entries: int
    max_bytes: int
    max_json_bytes: int = 20 * 2**20


def read_ecar(ecar: Path | BinaryIO, limits: EcarLimits) -> tuple[dict, dict | None]:
    """``(manifest, hierarchy)``: the two JSON documents; ``hierarchy`` is None when absent. ``ecar``: the
    archive's path, or the archive as a file open for reading (a download kept in memory)."""
    try:
        with (open(ecar, "rb") if isinstance(ecar, Path) else nullcontext(ecar)) as file:
            _check_end_record(file, limits)
            with zipfile.ZipFile(file) as archive:
                entries = archive.infolist()
                _check_listing(entries, limits)
                names = {_normal(entry.filename): entry for entry in entries}
                if len(names) < len(entries):  # two readers could each take a different one
                    raise EcarError("the ECAR names an entry more than once")
                manifest = names.get("manifest.json")
                if manifest is None:
                    raise EcarError("the ECAR has no manifest.json")
                budget = [limits.max_bytes]
                hierarchy = names.get("hierarchy.json")
                return (_read_json(archive, manifest, limits, budget),
                        _read_json(archive, hierarchy, limits, budget) if hierarchy else None)
    except zipfile.BadZipFile as err:
        raise EcarError(f"the ECAR is not a zip archive: {_line(err)}") from None
    except _DAMAGED as err:
        raise EcarError(f"the ECAR cannot be read: {_line(err, err.__class__.__name__)}") from None


def _line(err: Exception, kind: str = "") -> str:
    """The error as one short line, after ``kind`` when given."""
    text = " ".join(str(err).split())[:300]
    return f"{kind}: {text}" if kind and text else kind or text


def _check_end_record(file: BinaryIO, limits: EcarLimits) -> None:
    """Refuse a central directory too large to list: ``zipfile.ZipFile()`` parses all of it before
    anything can be counted (looping on its size, not its declared count)."""
    # zipfile's own end record reader: private, but long stable, and it follows Zip64 end records.
    end = zipfile._EndRecData(file)
    if end is None:
        raise EcarError("the ECAR is not a zip archive: no end of central directory record")
    count, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]
    if count > limits.max_entries:
        raise EcarError(f"the ECAR declares {count} entries, more than {limits.max_entries}")
    if size > limits.max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        raise EcarError(f"the ECAR has a central directory of {size} bytes, more than "
                        f"{limits.max_entries * _DIRECTORY_BYTES_PER_ENTRY}")


def _normal(name: str) -> str:
    return name.replace("\\", "/").removeprefix("./")


def _check_listing(entries: list[zipfile.ZipInfo], limits: EcarLimits) -> None:
    if len(entries) > limits.max_entries:
        raise EcarError(f"the ECAR has {len(entries)} entries, more than {limits.max_entries}")
    declared = 0
    for entry in entries:
        name = entry.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise EcarError(f"the ECAR entry {name[:100]!r} points outside the archive")
        if stat.S_ISLNK(entry.external_attr >> 16):
            raise EcarError(f"the ECAR entry {name[:100]!r} is a link")
        if entry.flag_bits & 0x1:
            raise EcarError(f"the ECAR entry {name[:100]!r} is encrypted")
        if entry.compress_type not in _METHODS:
            raise EcarError(f"the ECAR entry {name[:100]!r} uses compression method {entry.compress_type}; "
                            "only stored and deflated entries are read")
        declared += entry.file_size
        if declared > limits.max_bytes:
            raise EcarError(f"the ECAR unpacks to more than {limits.max_bytes} bytes")


def _read_json(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: EcarLimits, budget: list[int]) -> dict:
    """The entry's JSON object, inflated at most ``max_json_bytes`` (``json.loads`` takes many times that)."""
    too_big = f"{entry.filename} in the ECAR has more than {limits.max_json_bytes} bytes"
    if entry.file_size > limits.max_json_bytes:
        raise EcarError(too_big)
    chunks, size = [], 0
    with archive.open(entry) as member:
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            budget[0] -= len(chunk)
            if size > limits.max_json_bytes:
                raise EcarError(too_big)
            if budget[0] < 0:
                raise EcarError("the ECAR unpacks to more bytes than allowed")
            chunks.append(chunk)
    try:
        document = json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise EcarError(f"{entry.filename} in the ECAR is not JSON") from None
    if not isinstance(document, dict):
        raise EcarError(f"{entry.filename} in the ECAR is not a JSON object")
    return document
