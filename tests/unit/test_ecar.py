"""Reading an ECAR without trusting it: hostile archives are refused with an EcarError, in bounded memory."""

import contextlib
import json
import stat
import tracemalloc
import zipfile

import pytest

from connectors.ecar import EcarError, EcarLimits, read_ecar


def ecar(tmp_path, entries: dict, links: tuple = ()) -> str:
    path = tmp_path / "x.ecar"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


MANIFEST = json.dumps({"archive": {"items": [{"identifier": "do_1"}]}})
LIMITS = EcarLimits(max_entries=10, max_bytes=100_000)


def test_a_good_ecar(tmp_path):
    manifest, hierarchy = read_ecar(ecar(tmp_path, {"manifest.json": MANIFEST,
                                                    "hierarchy.json": '{"questionset": {}}',
                                                    "do_1/assets/a.png": b"png"}), LIMITS)
    assert manifest["archive"]["items"][0]["identifier"] == "do_1" and hierarchy == {"questionset": {}}
    assert read_ecar(ecar(tmp_path, {"manifest.json": MANIFEST}), LIMITS)[1] is None


@pytest.mark.parametrize("entries, links, problem", [
    ({"manifest.json": MANIFEST, "../evil.sh": "x"}, (), "outside the archive"),
    ({"manifest.json": MANIFEST, "a/../../evil.sh": "x"}, (), "outside the archive"),
    ({"manifest.json": MANIFEST, "/etc/cron.d/x": "x"}, (), "outside the archive"),
    ({"manifest.json": MANIFEST}, ("link",), "is a link"),
    ({"manifest.json": MANIFEST, **{f"f{n}": "x" for n in range(11)}}, (), "entries"),
    ({"manifest.json": MANIFEST, "bomb.bin": b"\0" * 200_000}, (), "more than 100000 bytes"),
    ({"hierarchy.json": "{}"}, (), "no manifest.json"),
    ({"manifest.json": "[1]"}, (), "not a JSON object"),
])
def test_hostile_or_broken_ecars_are_refused(tmp_path, entries, links, problem):
    with pytest.raises(EcarError, match=problem):
        read_ecar(ecar(tmp_path, entries, links), LIMITS)


@pytest.mark.parametrize("other", ["manifest.json", "./manifest.json", ".\\hierarchy.json"])
def test_an_ecar_naming_one_document_twice_is_refused(tmp_path, other):
    """Two readers of the archive could each take a different one: neither is taken."""
    path = tmp_path / "x.ecar"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", MANIFEST)
        archive.writestr("hierarchy.json", "{}")
        with pytest.warns(UserWarning) if other == "manifest.json" else contextlib.nullcontext():
            archive.writestr(other, json.dumps({"archive": {"items": [{"identifier": "do_other"}]}}))
    with pytest.raises(EcarError, match="more than once"):
        read_ecar(path, LIMITS)


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.ecar"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(EcarError, match="not a zip"):
        read_ecar(path, LIMITS)


# Hostile archives built byte by byte: each is refused with one EcarError, holding little memory.

MiB = 2**20
DEFAULTS = EcarLimits(max_entries=1000, max_bytes=200 * MiB, max_json_bytes=20 * MiB)
HEADERS = {"local": (b"PK\x03\x04", 30), "central": (b"PK\x01\x02", 46)}  # signature, where the name starts


def refused(path, limits: EcarLimits, problem: str) -> None:
    """``read_ecar`` refuses the file with an EcarError matching ``problem``, allocating under 16 MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(EcarError, match=problem) as refusal:
            read_ecar(path, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "\n" not in str(refusal.value)
    assert peak < 16 * MiB, f"{peak} bytes allocated"


def spaces_zip(path, size: int, method: int = zipfile.ZIP_DEFLATED, name: str = "manifest.json"):
    """``name`` holding ``size`` spaces then ``{}``, written a MiB at a time."""
    with zipfile.ZipFile(path, "w", method) as archive, archive.open(name, "w") as entry:
        for _ in range(size // MiB):
            entry.write(b" " * MiB)
        entry.write(b"{}")
    return path


def many_entries(path, count: int):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", "{}")
        for n in range(count - 1):
            archive.writestr(str(n), b"")
    return path


def patch(path, name: str, header: str, offset: int, size: int, value: int):
    """Overwrite a little-endian field of ``name``'s ``local`` or ``central`` header."""
    data = bytearray(path.read_bytes())
    signature, name_at = HEADERS[header]
    at = data.find(signature)
    while data[at + name_at:at + name_at + len(name.encode())] != name.encode():
        at = data.find(signature, at + 1)
    data[at + offset:at + offset + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(data))
    return path


def declared(path, name: str, size: int):
    """``name``'s local and central headers declare ``size`` bytes once inflated."""
    return patch(patch(path, name, "central", 24, 4, size), name, "local", 22, 4, size)


def patch_end(path, entries: int | None = None, directory_size: int | None = None):
    """Overwrite the end-of-central-directory record's entry counts or directory size."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    if entries is not None:
        data[at + 8:at + 12] = entries.to_bytes(2, "little") * 2
    if directory_size is not None:
        data[at + 12:at + 16] = directory_size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_only_stored_and_deflated_entries_are_read(tmp_path, method):
    bomb = spaces_zip(tmp_path / "bomb.ecar", 40 * MiB, method)  # a few hundred bytes that inflate in one go
    refused(declared(bomb, "manifest.json", 2), DEFAULTS, "compression method")
    innocent = tmp_path / "innocent.ecar"
    with zipfile.ZipFile(innocent, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", MANIFEST)
        archive.writestr("do_1/a.png", b"png", compress_type=method)
    refused(innocent, DEFAULTS, "compression method")


def test_a_deflate_bomb_is_refused(tmp_path):
    honest = spaces_zip(tmp_path / "honest.ecar", 300 * MiB)
    refused(honest, DEFAULTS, "more than 209715200 bytes")
    lying = declared(spaces_zip(tmp_path / "lying.ecar", 64 * MiB), "manifest.json", 10)  # inflating stops there
    refused(lying, DEFAULTS, "Bad CRC-32")


def test_json_documents_are_capped_by_their_declared_size(tmp_path):
    refused(spaces_zip(tmp_path / "x.ecar", 199 * MiB), DEFAULTS, r"manifest.json .* more than 20971520 bytes")
    hierarchy = tmp_path / "h.ecar"
    with zipfile.ZipFile(hierarchy, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", MANIFEST)
        archive.writestr("hierarchy.json", "{" + " " * 200 + "}")
    refused(hierarchy, EcarLimits(10, 100_000, max_json_bytes=100), r"hierarchy.json .* more than 100 bytes")


def test_the_entries_are_counted_before_the_central_directory_is_parsed(tmp_path):
    refused(many_entries(tmp_path / "x.ecar", 30_000), DEFAULTS, "declares 30000 entries, more than 1000")


@pytest.mark.parametrize("entries, count, directory_size, problem", [
    (30_000, 1, None, "central directory of 1[0-9]{6} bytes, more than 1024000"),  # a million ZipInfo otherwise
    (1_001, 1, None, "has 1001 entries"),  # a small directory holding more than it declares
    (1_001, 1, 46, "central directory"),  # a directory smaller than it is
])
def test_lying_counts_are_refused(tmp_path, entries, count, directory_size, problem):
    refused(patch_end(many_entries(tmp_path / "x.ecar", entries), count, directory_size), DEFAULTS, problem)


def test_encrypted_entries_are_refused(tmp_path):
    path = patch(ecar(tmp_path, {"manifest.json": MANIFEST}), "manifest.json", "central", 8, 2, 1)
    refused(path, LIMITS, "encrypted")


def test_a_corrupt_deflate_stream_is_refused(tmp_path):
    path = ecar(tmp_path, {"manifest.json": MANIFEST * 10})
    data = bytearray(path.read_bytes())
    data[30 + len("manifest.json"):40 + len("manifest.json")] = b"\xff" * 10  # the stream's first bytes
    path.write_bytes(bytes(data))
    refused(path, LIMITS, "cannot be read")


@pytest.mark.parametrize("damage, problem", [
    (lambda p: patch(p, "manifest.json", "central", 6, 2, 0xFF), "zip file version"),  # NotImplementedError
    (lambda p: patch(p, "manifest.json", "central", 8, 2, 0x20), "compressed patched data"),  # NotImplementedError
    (lambda p: patch(p, "é", "central", 46, 1, 0xFF), "cannot be read"),  # a name that is not UTF-8
    (lambda p: declared(patch(p, "manifest.json", "central", 20, 4, 5000), "manifest.json", 5000),
     "cannot be read: EOFError$"),  # stored bytes that run past the end of the file
])
def test_unreadable_archives_fail_with_one_line(tmp_path, damage, problem):
    path = tmp_path / "x.ecar"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", MANIFEST)
        archive.writestr("é", b"x")
    refused(damage(path), LIMITS, problem)


def test_an_unreadable_file_is_refused(tmp_path):
    refused(tmp_path, LIMITS, "cannot be read")  # a directory: OSError
