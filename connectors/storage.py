"""Where re-hosted artifacts and icons go: a bucket through fsspec, or a local directory.

Configured with the original keys (``cloud_storage_type``, ``cloud_storage_key``,
``cloud_storage_secret``, ``cloud_storage_container``, ``cloud_storage_endpoint``) plus
``cloud_storage.public_base_url``, the URL prefix under which stored objects are served
(required for ``local``, where the container is a directory)::

    storage = Storage.from_settings("local", "", "", "/srv/files", None, "http://files.example")
    storage.put(Path("/tmp/a.pdf"), "content/do_1/artifact/a.pdf")  # "http://files.example/content/do_1/artifact/a.pdf"

``aws`` (and S3-compatible ``oci``/``cephs3`` with an endpoint) needs ``s3fs``, ``azure``
needs ``adlfs``, ``gcloud`` needs ``gcsfs``: fsspec names the missing package when the
job starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import fsspec

_S3_LIKE = ("aws", "s3", "oci", "cephs3")


class StorageError(Exception):
    """A file could not be stored."""


@dataclass
class Storage:
    filesystem: fsspec.AbstractFileSystem
    root: str  # the container (bucket) or directory
    public_base_url: str

    @classmethod
    def from_settings(cls, kind: str, key: str, secret: str, container: str, endpoint: str | None,
                      public_base_url: str | None) -> "Storage":
        kind = kind.lower()
        if kind == "local":
            if not public_base_url:
                raise ValueError("cloud_storage.public_base_url is required when cloud_storage_type is local")
            Path(container).mkdir(parents=True, exist_ok=True)
            return cls(fsspec.filesystem("file", auto_mkdir=True), str(Path(container).resolve()),
                       public_base_url.rstrip("/"))
        if kind in _S3_LIKE:
            options = {"key": key or None, "secret": secret or None}
            if endpoint:
                options["client_kwargs"] = {"endpoint_url": endpoint}
            default = f"{endpoint.rstrip('/')}/{container}" if endpoint else f"https://{container}.s3.amazonaws.com"
            return cls(fsspec.filesystem("s3", **options), container, (public_base_url or default).rstrip("/"))
        if kind == "azure":
            default = f"https://{key}.blob.core.windows.net/{container}"
            return cls(fsspec.filesystem("abfs", account_name=key, account_key=secret), container,
                       (public_base_url or default).rstrip("/"))
        if kind in ("gcloud", "gcs"):
            token = json.loads(secret) if secret.strip().startswith("{") else (secret or None)
            default = f"https://storage.googleapis.com/{container}"
            return cls(fsspec.filesystem("gcs", token=token), container, (public_base_url or default).rstrip("/"))
        raise ValueError(f"unknown cloud_storage_type {kind!r} (local, aws, oci, cephs3, azure, gcloud)")

    def put(self, local_file: Path, key: str) -> str:
        """Store the file under ``key``; the public URL of the stored object."""
        try:
            self.filesystem.put_file(str(local_file), f"{self.root}/{key}")
        except Exception as err:  # every backend has its own error types
            raise StorageError(f"Error while uploading the File. ({err.__class__.__name__})") from None
        return f"{self.public_base_url}/{key}"
