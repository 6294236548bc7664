"""Reading an ECAR without trusting it: hostile archives are refused with an EcarError, in bounded memory."""

import json
import stat
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


def test_an_archive_that_lies_about_its_sizes_is_refused(tmp_path):
    path = ecar(tmp_path, {"manifest.json": "{" + " " * 300_000 + "}"})
    data = bytearray(path.read_bytes())
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # rewrite the declared uncompressed size to 10 bytes
        at = data.find(header)
        offset = at + (22 if header == b"PK\x03\x04" else 24)
        data[offset:offset + 4] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(EcarError):
        read_ecar(path, LIMITS)


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.ecar"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(EcarError, match="not a zip"):
        read_ecar(path, LIMITS)
