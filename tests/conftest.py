"""Fixtures: the embedded broker (one per session), a fresh sandbox per test, job processes."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from pathlib import Path
from typing import Awaitable, Callable, TypeVar

import pytest
from bytewax.testing import TestingSink, TestingSource, run_main
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.kafka import SourceMessage
from flows.runtime.in_flight import event_loop
from flows.runtime.pipeline import build_flow
from flows.runtime.settings import CommonSettings, Reader, load_config
from sandbox.broker import EmbeddedBroker
from sandbox.job import JobProcess
from sandbox.server import SunbirdSandbox
from sandbox.storage import Azurite, MotoS3, missing

EVENTS_DIR = Path(__file__).resolve().parents[1] / "sandbox" / "events"


def changed(event: dict, path: str, value: object) -> dict:
    """A deep copy of ``event`` with the value at the dotted ``path`` replaced (``KeyError``: removed)."""
    event = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = event
    for step in parents:
        node = node[step]
    if value is KeyError:
        node.pop(last, None)
    else:
        node[last] = value
    return event


T = TypeVar("T")


def on_the_loop(coroutine: Awaitable[T]) -> T:
    """A coroutine run to its end on the process's event loop, where the jobs' clients keep their sessions."""
    return asyncio.run_coroutine_threadsafe(coroutine, event_loop()).result()


def run_flow(defaults: str, make_job, env: dict[str, str], messages: list[tuple[str, bytes]]) -> list:
    """Run a job's rules and handler (settings from ``defaults`` and ``env``) over the messages with
    bytewax's ``TestingSource``; the outcomes in the messages' order (each topic reports in its own
    order; the messages are numbered across topics)."""
    reader = Reader(load_config(defaults, env))
    settings = CommonSettings.read(reader)
    job = make_job(reader, settings)
    outcomes: list = []
    source = TestingSource([SourceMessage(key=None, value=value, topic=topic, partition=0, offset=i)
                            for i, (topic, value) in enumerate(messages)])
    run_main(build_flow(job, source, TestingSink(outcomes), settings.http.max_in_flight))
    return sorted(outcomes, key=lambda outcome: outcome.message.offset)


def service_account(token_uri: str, key_id: str = "k1") -> str:
    """A Google service-account key (JSON) with a fresh RSA key, signing in at ``token_uri``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "p", "private_key_id": key_id, "private_key": pem,
                       "client_email": "job@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri})


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> object:
    """Poll until ``condition()`` is truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture
def user(sandbox):
    """The sandbox, knowing the user ``u1``."""
    sandbox.contribution.add_user("u1")
    return sandbox


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    with EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log") as running:
        yield running


def _started(kind: str, server_class):
    reason = missing(kind)
    if reason:
        pytest.skip(f"{kind} back end not available: {reason}")
    with server_class() as server:
        yield server


@pytest.fixture(scope="session")
def azurite():
    """Azurite's blob service, for the tests that store through the Azure protocol."""
    yield from _started("azure", Azurite)


@pytest.fixture(scope="session")
def s3():
    """moto's S3 server, for the tests that store through S3 and the durable broker."""
    yield from _started("aws", MotoS3)


@pytest.fixture
def sandbox():
    with SunbirdSandbox() as running:
        yield running


@pytest.fixture
def names():
    """Topic and group names no other test uses."""
    suffix = uuid.uuid4().hex[:8]
    return lambda name: f"{name}.{suffix}"


@pytest.fixture
def jobs(tmp_path):
    """Start job processes; any still running at the end of the test are killed."""
    started: list[JobProcess] = []

    def start(module: str, config: str | None, **kwargs) -> JobProcess:
        job = JobProcess(module, config, tmp_path / f"job{len(started)}", **kwargs).start()
        started.append(job)
        return job

    yield start
    for job in started:
        job.kill()
