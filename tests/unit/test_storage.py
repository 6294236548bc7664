"""Re-hosting through fsspec: a local directory for real, and the cloud back ends' public URLs."""

import re
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.storage import Storage, StorageError, content_type, key_segment
from tests.conftest import service_account


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


@pytest.mark.parametrize("storage_type, secret, endpoint, expected", [
    ("aws", "c2VjcmV0", None, "https://bucket.s3.amazonaws.com"),
    ("oci", "c2VjcmV0", "https://ns.compat.objectstorage.example.com",
     "https://ns.compat.objectstorage.example.com/bucket"),
    ("azure", "c2VjcmV0", None, "https://account.blob.core.windows.net/bucket"),
    ("azure", "c2VjcmV0", "http://127.0.0.1:10000/account/", "http://127.0.0.1:10000/account/bucket"),  # Azurite
    ("azure", "c2VjcmV0", "https://account.blob.core.chinacloudapi.cn",
     "https://account.blob.core.chinacloudapi.cn/bucket"),
    ("gcloud", "anon", None, "https://storage.googleapis.com/bucket"),  # a real one holds the key's JSON
])
def test_cloud_back_ends_and_their_public_urls(storage_type, secret, endpoint, expected):
    storage = Storage.from_settings(storage_type, "account", secret, "bucket", endpoint, None)
    assert storage.public_base_url == expected and storage.root == "bucket"


def test_the_region_and_the_auth_type_reach_the_back_ends(monkeypatch, tmp_path):
    s3 = Storage.from_settings("oci", "k", "s", "bucket", "https://ns.compat.example.com", None, region="ap-mumbai-1")
    assert s3.filesystem.client_kwargs == {"endpoint_url": "https://ns.compat.example.com", "region_name": "ap-mumbai-1"}
    assert (s3.filesystem.key, s3.filesystem.secret) == ("k", "s")
    role = Storage.from_settings("aws", "k", "s", "bucket", None, None, region="eu-west-1", auth_type="IAM")
    assert role.filesystem.key is None and role.filesystem.secret is None  # the instance's role signs
    azure = Storage.from_settings("azure", "account", "s", "bucket", None, None, auth_type="iam")
    assert azure.filesystem.account_key is None and azure.filesystem.anon is False
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="no usable Google credentials"):  # at start, not at the first upload
        Storage.from_settings("gcloud", "", "", "bucket", None, None, auth_type="oidc")
    (tmp_path / "adc.json").write_text(service_account("http://127.0.0.1:1/token"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "adc.json"))
    gcs = Storage.from_settings("gcloud", "", "", "bucket", None, None, auth_type="oidc")
    assert gcs.filesystem.credentials.method == "google_default"  # the pod's own identity, no secret
    with pytest.raises(ValueError, match="unknown cloud_storage_auth_type 'token'"):
        Storage.from_settings("aws", "k", "s", "bucket", None, None, auth_type="token")


def test_an_azure_endpoint_is_the_account_the_files_go_to():
    keyed = Storage.from_settings("azure", "account", "c2VjcmV0", "bucket", "http://127.0.0.1:10000/account", None)
    assert keyed.filesystem.connection_string == \
        "AccountName=account;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:10000/account"
    assert keyed.filesystem.service_client.url.startswith("http://127.0.0.1:10000/account")
    private = Storage.from_settings("azure", "account", "", "bucket", "https://account.privatelink.example.net/", None,
                                    auth_type="iam")
    assert private.filesystem.service_client.url.startswith("https://account.privatelink.example.net")
    with pytest.raises(ValueError, match="^cloud_storage_endpoint: with cloud_storage_auth_type iam or oidc"):
        Storage.from_settings("azure", "account", "", "bucket", "http://127.0.0.1:10000/account", None,
                              auth_type="iam")


def test_the_environment_cannot_send_the_files_elsewhere_than_the_urls_say(monkeypatch):
    """adlfs reads AZURE_STORAGE_CONNECTION_STRING and botocore AWS_ENDPOINT_URL when they are not given their
    own: uploads then went to another account or endpoint while the URLs sent to the services named the
    configured one."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                       "AccountName=other;AccountKey=b3RoZXI=;BlobEndpoint=http://127.0.0.1:9/other")
    azure = Storage.from_settings("azure", "account", "c2VjcmV0", "bucket", None, None)
    assert azure.filesystem.service_client.url.startswith("https://account.blob.core.windows.net")
    with pytest.raises(ValueError, match="^cloud_storage_auth_type: AZURE_STORAGE_CONNECTION_STRING is set"):
        Storage.from_settings("azure", "account", "", "bucket", None, None, auth_type="iam")
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
        with pytest.raises(ValueError, match=f"^cloud_storage_endpoint: {variable} is set"):
            Storage.from_settings("aws", "k", "s", "bucket", None, None)
        named = Storage.from_settings("aws", "k", "s", "bucket", "https://s3.example.org", None)
        assert named.filesystem.client_kwargs["endpoint_url"] == "https://s3.example.org"  # the setting wins
        monkeypatch.delenv(variable)


def test_a_semicolon_cannot_add_a_field_to_the_azure_connection_string():
    with pytest.raises(ValueError, match="^cloud_storage_secret: must be set, without ';'") as refused:
        Storage.from_settings("azure", "account", "c2Vj;BlobEndpoint=http://evil", "bucket", "http://127.0.0.1:1/a",
                              None)
    assert "c2Vj" not in str(refused.value)


def test_the_content_type_comes_from_the_file_name():
    assert [content_type(name) for name in ("a.pdf", "B.PNG", "lesson.mp4", "x.ecar", "noext")] == [
        "application/pdf", "image/png", "video/mp4", "application/octet-stream", "application/octet-stream"]


@pytest.mark.parametrize("name", ["a.html", "a.HTM", "a.xhtml", "icon.svg", "x.xml", "x.xsl", "a.js", "a.mjs",
                                  "a.pdf.gz", "a.tar.bz2", "feed.rss"])
def test_a_name_that_would_make_the_stored_object_active_gets_no_active_type(name):
    """The name comes from an event's URL: served from the public container as HTML, SVG, XML or script, a
    stored file could run in the storage's origin; a compressed file is not what its inner extension says."""
    assert content_type(name) == "application/octet-stream"


def test_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="unknown cloud_storage_type"):
        Storage.from_settings("ftp", "", "", "bucket", None, None)


@pytest.fixture(params=["from a file", "from memory"])
def local(tmp_path, sandbox, request):
    """A local storage whose container the sandbox serves under ``/storage``, and how to store ``%PDF`` under a
    key with it: :meth:`Storage.put` of a file, or :meth:`Storage.put_bytes`."""
    source = tmp_path / "a.pdf"
    source.write_bytes(b"%PDF")
    container = tmp_path / "bucket"
    storage = Storage.from_settings("local", "", "", str(container), None, sandbox.files.serve_directory(container))
    if request.param == "from a file":
        return lambda key: storage.put(source, key)
    return lambda key: storage.put_bytes(b"%PDF", key)


@pytest.mark.parametrize("key", ["../x.pdf", "content/../../x.pdf", "content/./x.pdf", "content//x.pdf", "/tmp/x.pdf",
                                 "content/a\\..\\..\\x.pdf", "content/a\0b/x.pdf", "content/a\nb/x.pdf",
                                 "content/a\x7fb/x.pdf", "content/", "", ".", "..", "content/.."])
def test_keys_that_could_leave_the_container_are_refused(local, tmp_path, key):
    with pytest.raises(StorageError, match="storage key"):
        local(key)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.pdf", "bucket"]


def test_a_link_in_the_container_is_not_followed_out_of_it(local, tmp_path):
    (tmp_path / "outside").mkdir()
    (tmp_path / "bucket" / "content").symlink_to(tmp_path / "outside")
    with pytest.raises(StorageError, match="outside"):
        local("content/x.pdf")
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.parametrize("identifier", ["do_1", "DO_1", "..", "../../x", "/abs", "a\\b", "a b%20~é", "\ud800"])
def test_the_public_url_addresses_the_stored_object(local, identifier):
    url = local(f"content/{key_segment(identifier)}/artifact/a.pdf")
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"%PDF"


def test_a_key_that_is_not_url_safe_is_still_addressed(local):
    url = local("content folder/do_1/a.pdf")  # a folder from the configuration
    assert url.endswith("/content%20folder/do_1/a.pdf")
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert answer.read() == b"%PDF"


def decoded(segment: str) -> str:
    """The inverse of key_segment (for segments it did not shorten)."""
    return re.sub(rb"~([0-9A-F]{2})", lambda m: bytes.fromhex(m[1].decode()), segment.encode()).decode(
        "utf-8", "surrogatepass")


@pytest.mark.parametrize("value, segment", [
    ("do_113244425048121344131", "do_113244425048121344131"), ("do_1.v2-A", "do_1.v2-A"),
    ("DO_1", "DO_1"), (".", "~2E"), ("..", "~2E."), ("../../x", "~2E.~2F..~2Fx"), ("/abs", "~2Fabs"),
    ("a\\b", "a~5Cb"), ("a\0b", "a~00b"), ("%2F", "~252F"), ("~7E", "~7E7E"), ("é", "~C3~A9"),
    ("..!", "~2E.~21"), ("\ud800", "~ED~A0~80"), ("", ""),
])
def test_key_segment_keeps_sunbird_ids_and_escapes_the_rest(value, segment):
    assert key_segment(value) == segment


@given(st.text(max_size=80))
def test_key_segment_is_injective_and_safe(value):
    segment = key_segment(value)
    assert re.fullmatch(r"[A-Za-z0-9_.~-]*", segment) and not segment.startswith(".") and len(segment) <= 200
    if "~~" not in segment:  # not shortened
        assert decoded(segment) == value


def test_long_ids_are_shortened_with_their_hash():
    first, second = key_segment("é" * 300 + "a"), key_segment("é" * 300 + "b")
    assert first != second and len(first) <= 200 and "~~" in first
    assert len(key_segment("x" * 200)) == 200 and "~~" not in key_segment("x" * 200)


def test_a_refused_upload_names_the_setting_to_fix_for_each_back_ends_error(tmp_path):
    class Refusing:
        def __init__(self, err):
            self.err = err

        def put_file(self, *_args, **_kwargs):
            raise self.err

        pipe_file = put_file

    class HttpError(Exception):  # gcsfs' error: the status is in .code
        def __init__(self, code):
            super().__init__("refused")
            self.code = code

    source = tmp_path / "a.pdf"
    source.write_bytes(b"%PDF")
    for err, expected in ((HttpError(401), "(cloud_storage_key, cloud_storage_secret)"),
                          (HttpError(404), "no container 'bucket' (cloud_storage_container)"),
                          (PermissionError(13, "denied"), "(cloud_storage_key, cloud_storage_secret)"),
                          (HttpError(500), "HttpError, HTTP 500")):
        for store in (lambda storage: storage.put(source, "content/a.pdf"),
                      lambda storage: storage.put_bytes(b"%PDF", "content/a.pdf")):
            with pytest.raises(StorageError, match=re.escape(expected)):
                store(Storage(Refusing(err), "bucket", "https://x"))


def test_the_content_type_is_the_keys_not_the_local_files(tmp_path):
    """A large download is stored from a temporary file with a random name: the type comes from the key."""
    class Recording:
        def put_file(self, _local, target, **options):
            self.stored = (target, options)

        def pipe_file(self, target, _data, **options):
            self.stored = (target, options)

    source = tmp_path / "tmpk3x9q"
    source.write_bytes(b"%PDF")
    filesystem = Recording()
    for store in (lambda storage: storage.put(source, "content/a.pdf"),
                  lambda storage: storage.put_bytes(b"%PDF", "content/a.pdf")):
        store(Storage(filesystem, "bucket", "https://x", "ContentType"))
        assert filesystem.stored == ("bucket/content/a.pdf", {"ContentType": "application/pdf"})
