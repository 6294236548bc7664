"""Real storage back ends on 127.0.0.1, for the storage tests, the durable broker and
``python -m sandbox --storage azure|aws``: Azurite (Microsoft's Azure Blob Storage emulator, from
``sandbox/azurite/node_modules``) and moto's S3 server (from ``.venv``), both installed by
``make install``. Each is a process on a free port, stopped with the context::

    with MotoS3() as s3:
        s3.create_container("contents")
        s3.settings("contents")  # {"cloud_storage_type": "aws", "cloud_storage_key": ..., ...}

Their data lives in memory (moto) or in a temporary folder (Azurite) and goes with the process.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

from sandbox.broker import EmbeddedBroker
from sandbox.process import ServerProcess

AZURITE = Path(__file__).resolve().parent / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's one account and its key: published in Azurite's documentation, valid only against an emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# moto accepts any credentials; these make the settings look like an operator's.
S3_KEY, S3_SECRET, S3_REGION = "sandbox-key", "sandbox-secret", "ap-south-1"


def missing(kind: str) -> str | None:
    """Why the ``azure`` or ``aws`` back end cannot start here (one line naming the fix), or None."""
    if kind == "azure":
        if shutil.which("node") is None:
            return "Azurite needs Node.js, which is not installed"
        if not AZURITE.exists():
            return f"Azurite is not installed ({AZURITE} is missing): run make install"
        return None
    if kind == "aws":
        if importlib.util.find_spec("moto") is None:
            return "moto's S3 server is not installed: run make install (moto[server] in requirements-dev.txt)"
        return None
    raise ValueError(f"unknown storage back end {kind!r} (azure, aws)")


class Azurite(ServerProcess):
    """Azurite's blob service. Containers made with :meth:`create_container` can be read without a key,
    as content containers are served to Sunbird's users."""

    def __init__(self, log_path: Path | None = None):
        super().__init__(log_path=log_path)
        self._data = tempfile.TemporaryDirectory(prefix="azurite-")
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def command(self) -> list[str]:
        return [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
                self._data.name, "--silent", "--skipApiVersionCheck", "--loose"]

    def stop(self) -> None:
        super().stop()
        self._data.cleanup()

    def create_container(self, name: str) -> None:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(self.endpoint, credential={"account_name": AZURITE_ACCOUNT,
                                                               "account_key": AZURITE_KEY})
        service.create_container(name, public_access="blob")

    def settings(self, container: str) -> dict[str, str]:
        """The original keys that point a job at ``container``."""
        return {"cloud_storage_type": "azure", "cloud_storage_key": AZURITE_ACCOUNT,
                "cloud_storage_secret": AZURITE_KEY, "cloud_storage_container": container,
                "cloud_storage_endpoint": self.endpoint}


class MotoS3(ServerProcess):
    """moto's S3 server: any key and secret sign; the buckets (containers) of :meth:`create_container` can be
    read without signing, as content buckets are served to Sunbird's users."""

    def __init__(self, log_path: Path | None = None):
        super().__init__(log_path=log_path)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def create_container(self, name: str) -> None:
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=S3_KEY,
                              aws_secret_access_key=S3_SECRET, region_name=S3_REGION)
        client.create_bucket(Bucket=name, ACL="public-read",
                             CreateBucketConfiguration={"LocationConstraint": S3_REGION})
        client.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}))

    def settings(self, bucket: str) -> dict[str, str]:
        """The original keys that point a job at ``bucket``, as an S3-compatible store is configured."""
        return {"cloud_storage_type": "aws", "cloud_storage_key": S3_KEY, "cloud_storage_secret": S3_SECRET,
                "cloud_storage_container": bucket, "cloud_storage_endpoint": self.endpoint,
                "cloud_storage_region": S3_REGION}

    def broker_environment(self) -> dict[str, str]:
        """What Tansu's S3 storage engine reads to keep its data here."""
        return {"AWS_ENDPOINT": self.endpoint, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
                "AWS_DEFAULT_REGION": S3_REGION, "AWS_ALLOW_HTTP": "true"}


def durable_broker(s3: MotoS3, bucket: str = "tansu", log_path: Path | None = None,
                   port: int | None = None) -> EmbeddedBroker:
    """The embedded broker keeping its topics and committed offsets in ``bucket`` on ``s3``: stopped and started
    again, it has them all (the broker is not started yet)."""
    s3.create_container(bucket)
    return EmbeddedBroker(port, log_path, storage=f"s3://{bucket}/", environment=s3.broker_environment())
