"""Reading a downloaded ECAR (a zip of a published object) without trusting it.

The whole listing is checked first: an absolute path, a ``..`` step, a link, more than
``max_entries`` entries, or more than ``max_bytes`` uncompressed in all refuses the archive. Only
``manifest.json`` and ``hierarchy.json`` are then read, into memory, counting the bytes really
inflated (a zip bomb can lie in its headers). Nothing is written to disk::

    manifest, hierarchy = read_ecar(Path("/tmp/x.ecar"), EcarLimits(1000, 200 * 2**20))
"""

from __future__ import annotations

import json
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_CHUNK = 64 * 1024


class EcarError(Exception):
    """The ECAR is not a safe, readable archive of the object."""


@dataclass(frozen=True)
class EcarLimits:
    max_entries: int
    max_bytes: int


def read_ecar(path: Path, limits: EcarLimits) -> tuple[dict, dict | None]:
    """``(manifest, hierarchy)``: the two JSON documents; ``hierarchy`` is None when absent."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            _check_listing(entries, limits)
            names = {_normal(entry.filename): entry for entry in entries}
            manifest = names.get("manifest.json")
            if manifest is None:
                raise EcarError("the ECAR has no manifest.json")
            budget = [limits.max_bytes]
            hierarchy = names.get("hierarchy.json")
            return (_read_json(archive, manifest, budget),
                    _read_json(archive, hierarchy, budget) if hierarchy else None)
    except zipfile.BadZipFile as err:
        raise EcarError(f"the ECAR is not a zip archive: {err}") from None


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
        declared += entry.file_size
        if declared > limits.max_bytes:
            raise EcarError(f"the ECAR unpacks to more than {limits.max_bytes} bytes")


def _read_json(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, budget: list[int]) -> dict:
    chunks = []
    with archive.open(entry) as member:
        while chunk := member.read(_CHUNK):
            budget[0] -= len(chunk)
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
