"""Re-hosting through fsspec: a local directory for real, and the cloud back ends' public URLs."""

import pytest

from connectors.storage import Storage


def test_local_storage_writes_under_the_container_and_answers_the_public_url(tmp_path):
    source = tmp_path / "a.pdf"
    source.write_bytes(b"%PDF")
    storage = Storage.from_settings("local", "", "", str(tmp_path / "bucket"), None, "http://files.test/store/")
    url = storage.put(source, "content/do_1/artifact/a.pdf")
    assert url == "http://files.test/store/content/do_1/artifact/a.pdf"
    assert (tmp_path / "bucket" / "content" / "do_1" / "artifact" / "a.pdf").read_bytes() == b"%PDF"


def test_local_storage_needs_a_public_base_url(tmp_path):
    with pytest.raises(ValueError, match="public_base_url"):
        Storage.from_settings("local", "", "", str(tmp_path), None, None)


@pytest.mark.parametrize("kind, secret, endpoint, expected", [
    ("aws", "c2VjcmV0", None, "https://bucket.s3.amazonaws.com"),
    ("oci", "c2VjcmV0", "https://ns.compat.objectstorage.example.com", "https://ns.compat.objectstorage.example.com/bucket"),
    ("azure", "c2VjcmV0", None, "https://account.blob.core.windows.net/bucket"),
    ("gcloud", "anon", None, "https://storage.googleapis.com/bucket"),  # a real one holds the key's JSON
])
def test_cloud_back_ends_and_their_public_urls(kind, secret, endpoint, expected):
    storage = Storage.from_settings(kind, "account", secret, "bucket", endpoint, None)
    assert storage.public_base_url == expected and storage.root == "bucket"


def test_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="unknown cloud_storage_type"):
        Storage.from_settings("ftp", "", "", "bucket", None, None)
