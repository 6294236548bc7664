"""Where re-hosted artifacts and icons go: a bucket through fsspec, or a local directory.

Configured with the original keys (``cloud_storage_type``, ``cloud_storage_key``,
``cloud_storage_secret``, ``cloud_storage_container``, ``cloud_storage_endpoint``,
``cloud_storage_region``, ``cloud_storage_auth_type``) plus
``cloud_storage.public_base_url``, the URL prefix under which stored objects are served
(required for ``local``, where the container is a directory)::

    storage = Storage.from_settings("local", "", "", "/srv/files", None, "http://files.example")
    storage.put(Path("/tmp/a.pdf"), f"content/{key_segment('do_1')}/artifact/a.pdf")
    # "http://files.example/content/do_1/artifact/a.pdf"

Ids from events become key segments (and temporary folder names) only through :func:`key_segment`;
:meth:`Storage.put` refuses any key that could leave the container.

``aws`` (and S3-compatible ``oci``/``cephs3`` with an endpoint) needs ``s3fs``, ``azure``
needs ``adlfs``, ``gcloud`` needs ``gcsfs``: fsspec names the missing package when the
job starts.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import fsspec
from fsspec.implementations.local import LocalFileSystem

_S3_LIKE = ("aws", "s3", "oci", "cephs3")
_S3_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")
ACCESS_KEY = "access_key"
AUTH_TYPES = (ACCESS_KEY, "iam", "oidc")
_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
_MAX_SEGMENT = 200  # file systems allow 255 bytes per name
_TYPES = mimetypes.MimeTypes()  # Python's own table only: the same answer on every machine
_ACTIVE = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                     "text/xsl", "application/xslt+xml", "text/javascript", "application/javascript",
                     "application/x-javascript", "application/ecmascript", "application/x-shockwave-flash"})


def key_segment(value: str) -> str:
    """``value`` as one URL-safe storage key segment or folder name, different for different values.

    ``[A-Za-z0-9_-]`` and ``.`` (except a leading one) are kept, so Sunbird ids (``do_1134...``) are
    unchanged; every other UTF-8 byte, ``~`` included, becomes ``~XX``. So ``..``, ``/``, ``\\`` and
    NUL cannot act, and ``DO_1``, ``do_1`` and ``..!`` stay apart. A segment over 200 characters is cut
    to 134 and ends with ``~~`` and the SHA-256 of the value (``~~`` appears in no other segment).
    """
    data = value.encode("utf-8", "surrogatepass")
    segment = "".join(chr(byte) if byte in _KEPT and (i or byte != ord(".")) else f"~{byte:02X}"
                      for i, byte in enumerate(data))
    if len(segment) > _MAX_SEGMENT:
        segment = f"{segment[:_MAX_SEGMENT - 66]}~~{hashlib.sha256(data).hexdigest()}"
    return segment


class StorageError(Exception):
    """A file could not be stored."""


def content_type(name: str) -> str:
    """The MIME type of a file, from its name: ``application/octet-stream`` when unknown, compressed
    (``a.pdf.gz``), or a type a browser would run or render with scripts in the storage's origin (HTML,
    SVG and other XML, script): the name comes from an event's URL, and the container is public."""
    kind, encoding = _TYPES.guess_type(name, strict=False)
    if kind is None or encoding is not None or kind in _ACTIVE or kind.endswith(("+xml", "/xml", "script")):
        return "application/octet-stream"
    return kind


@dataclass
class Storage:
    filesystem: fsspec.AbstractFileSystem
    root: str  # the container (bucket) or directory
    public_base_url: str
    type_option: str | None = None  # how the back end's put_file and pipe_file take the content type

    @classmethod
    def from_settings(cls, storage_type: str, key: str, secret: str, container: str, endpoint: str | None,
                      public_base_url: str | None, *, region: str | None = None,
                      auth_type: str = ACCESS_KEY) -> "Storage":
        """``region``: the S3 (or OCI) region, for the others unused. ``auth_type``: ``access_key`` signs
        with the key and secret; ``iam`` (or ``oidc``) uses the back end's own identity chain (an IAM
        role, an Azure managed identity, Google application default credentials) instead of a secret."""
        storage_type, auth_type = storage_type.lower(), auth_type.strip().lower()
        if auth_type not in AUTH_TYPES:
            raise ValueError(f"unknown cloud_storage_auth_type {auth_type!r} ({', '.join(AUTH_TYPES)})")
        ambient = auth_type != ACCESS_KEY
        if storage_type == "local":
            if not public_base_url:
                raise ValueError("cloud_storage.public_base_url is required when cloud_storage_type is local")
            Path(container).mkdir(parents=True, exist_ok=True)
            return cls(fsspec.filesystem("file", auto_mkdir=True), str(Path(container).resolve()),
                       public_base_url.rstrip("/"))
        if storage_type in _S3_LIKE:
            for variable in _S3_ENDPOINT_VARIABLES:  # botocore would send the files there, the URLs would not say so
                if os.environ.get(variable) and not endpoint:
                    raise ValueError(f"cloud_storage_endpoint: {variable} is set in the environment and would take "
                                     "the place of the S3 endpoint: set cloud_storage_endpoint, or unset it")
            options: dict = {} if ambient else {"key": key or None, "secret": secret or None}
            client = {"endpoint_url": endpoint, "region_name": region}
            options["client_kwargs"] = {name: value for name, value in client.items() if value}
            default = f"{endpoint.rstrip('/')}/{container}" if endpoint else f"https://{container}.s3.amazonaws.com"
            return cls(fsspec.filesystem("s3", **options), container, (public_base_url or default).rstrip("/"),
                       "ContentType")
        if storage_type == "azure":
            account_url = (endpoint or _azure_blob_service(key)).rstrip("/")
            return cls(fsspec.filesystem("abfs", **_azure_options(key, secret, endpoint, ambient)), container,
                       (public_base_url or f"{account_url}/{container}").rstrip("/"), "content_settings")
        if storage_type in ("gcloud", "gcs"):
            if ambient:
                token = "google_default"
            else:
                token = json.loads(secret) if secret.strip().startswith("{") else (secret or None)
            default = f"https://storage.googleapis.com/{container}"
            try:
                filesystem = fsspec.filesystem("gcs", token=token)
            except Exception as err:  # google-auth's errors; never the secret itself
                raise ValueError(f"no usable Google credentials ({err.__class__.__name__})") from None
            return cls(filesystem, container, (public_base_url or default).rstrip("/"), "content_type")
        raise ValueError(f"unknown cloud_storage_type {storage_type!r} (local, aws, oci, cephs3, azure, gcloud)")

    def put(self, local_file: Path, key: str) -> str:
        """Store the file under ``key``, with the content type of the key's name; the public URL of the stored
        object."""
        return self._store(key, lambda target, options: self.filesystem.put_file(str(local_file), target, **options))

    def put_bytes(self, data: bytes, key: str) -> str:
        """:meth:`put` for a file held in memory."""
        return self._store(key, lambda target, options: self.filesystem.pipe_file(target, data, **options))

    def _store(self, key: str, write: Callable[[str, dict], object]) -> str:
        """``write(target, options)`` once the key is checked: the back end's path and its content-type option."""
        _check_key(key)
        target = f"{self.root}/{key}"
        if isinstance(self.filesystem, LocalFileSystem) and Path(self.root) not in Path(target).resolve().parents:
            raise StorageError(f"the storage key {key[:200]!r} leads outside the container (a link)")
        kind = content_type(key.rpartition("/")[2])
        options = {} if self.type_option is None else \
            {self.type_option: {"content_type": kind} if self.type_option == "content_settings" else kind}
        try:
            write(target, options)
        except Exception as err:  # every backend has its own error types
            raise StorageError(f"Error while uploading the File. ({self._why(err)})") from None
        return f"{self.public_base_url}/{quote(key)}"

    def _why(self, err: Exception) -> str:
        """What a refused upload means, naming the setting to fix where the error says which (never the
        back end's own message, which may quote a request)."""
        status = next((value for value in (getattr(err, name, None) for name in ("status_code", "status", "code"))
                       if isinstance(value, int)), None)  # Azure's, aiohttp's and gcsfs' names for it
        if isinstance(err, FileNotFoundError) or status == 404:
            return f"no container {self.root[:100]!r} (cloud_storage_container)"
        if isinstance(self.filesystem, LocalFileSystem) and isinstance(err, PermissionError):
            return f"cannot write under {self.root[:100]!r} (cloud_storage_container)"
        if isinstance(err, PermissionError) or status in (401, 403):
            return "the back end refused the credentials (cloud_storage_key, cloud_storage_secret)"
        return err.__class__.__name__ + (f", HTTP {status}" if isinstance(status, int) else "")


def _azure_options(account: str, secret: str, endpoint: str | None, ambient: bool) -> dict:
    """adlfs' arguments for an account at ``endpoint`` (its blob service URL: an emulator, a sovereign cloud,
    a private endpoint) or, without one, at ``https://<account>.blob.core.windows.net``."""
    if ambient and os.environ.get("AZURE_STORAGE_CONNECTION_STRING"):  # adlfs would take it over the identity
        raise ValueError("cloud_storage_auth_type: AZURE_STORAGE_CONNECTION_STRING is set in the environment and "
                         "would take the place of the pod's identity: unset it")
    if not endpoint and ambient:
        return {"account_name": account, "anon": False}
    if ambient:  # adlfs takes another host only as https://<account_host>
        if not endpoint.lower().startswith("https://"):
            raise ValueError("cloud_storage_endpoint: with cloud_storage_auth_type iam or oidc, an Azure "
                             "endpoint must be https://")
        return {"account_name": account, "account_host": endpoint[len("https://"):].rstrip("/"), "anon": False}
    # Always a connection string with a key: without one, adlfs takes AZURE_STORAGE_CONNECTION_STRING's.
    endpoint = endpoint or _azure_blob_service(account)
    parts = {"AccountName": account, "AccountKey": secret, "BlobEndpoint": endpoint.rstrip("/")}
    for name, value in parts.items():
        if ";" in (value or "") or not value:  # a connection string holds name=value pairs split at ";"
            raise ValueError(f"{_AZURE_KEYS[name]}: must be set, without ';' (with cloud_storage_auth_type access_key)")
    return {"connection_string": ";".join(f"{name}={value}" for name, value in parts.items())}


def _azure_blob_service(account: str) -> str:
    """The account's blob service URL in Azure's public cloud."""
    return f"https://{account}.blob.core.windows.net"


_AZURE_KEYS = {"AccountName": "cloud_storage_key", "AccountKey": "cloud_storage_secret",
               "BlobEndpoint": "cloud_storage_endpoint"}


def _check_key(key: str) -> None:
    """Refuse a key that a file system or an object store would read as another place."""
    segments = key.split("/")
    if any(s in ("", ".", "..") for s in segments) or "\\" in key \
            or any(unicodedata.category(c) == "Cc" for c in key):
        raise StorageError(f"the storage key {key[:200]!r} is refused: it has an empty, '.' or '..' segment, "
                           "a leading '/', a backslash or a control character")
