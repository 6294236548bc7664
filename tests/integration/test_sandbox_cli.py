"""``python -m sandbox`` as a newcomer runs it: it prints the settings to use, and SIGTERM or SIGINT (Ctrl-C)
stops every process it started (the broker, and Azurite or moto's S3 server when asked for)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from confluent_kafka.admin import AdminClient

from sandbox.storage import missing
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """The processes below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its status has stopped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start(*args: str) -> tuple[subprocess.Popen, list[str]]:
    """The sandbox, once it has printed its settings; the lines it printed."""
    process = subprocess.Popen([sys.executable, "-m", "sandbox", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    while not (lines and lines[-1].startswith("journal: ")):
        line = process.stdout.readline()
        assert line, f"the sandbox exited before it was ready (code {process.wait()})"
        lines.append(line.rstrip("\n"))
    return process, lines


@pytest.mark.timeout(180)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("args", [[], ["--storage", "azure", "--durable-broker"]], ids=["plain", "storage"])
def test_a_signal_stops_everything_the_sandbox_started(signum, args):
    for needed in {"azure", "aws"} if args else set():
        if reason := missing(needed):
            pytest.skip(f"sandbox storage test skipped: {reason}")
    process, printed = start("--topic", "sunbirddev.delete.user", *args)
    started = descendants(process.pid)
    assert len(started) >= (3 if args else 1)  # the broker; and moto's server and Azurite
    assert printed[0].startswith('kafka.broker-servers = "127.0.0.1:')
    if args:
        assert any(line.startswith('cloud_storage_endpoint = "http://127.0.0.1:') for line in printed)
    try:
        process.send_signal(signum)
        assert process.wait(60) == 0
        wait_for(lambda: not [pid for pid in started if alive(pid)], 30, "every process the sandbox started gone")
    finally:  # leave nothing behind, even when the test fails
        for pid in started:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(120)
def test_produce_and_read_against_the_running_sandbox_and_a_missing_topic_is_not_created(tmp_path):
    process, printed = start("--topic", "try.in")
    brokers = printed[0].split('"')[1]
    try:
        events = tmp_path / "events.jsonl"
        events.write_text('{"a": 1}\n\n{"b": 2}\n')
        cli = [sys.executable, "-m", "sandbox"]
        done = subprocess.run([*cli, "produce", "--brokers", brokers, "try.in", str(events)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "2 events produced to try.in" in done.stderr
        done = subprocess.run([*cli, "read", "--brokers", brokers, "try.in"], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        assert sorted(json.loads(line)["value"] for line in done.stdout.splitlines()) == ['{"a": 1}', '{"b": 2}']
        done = subprocess.run([*cli, "read", "--brokers", brokers, "no.such.topic"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1 and "no topic no.such.topic" in done.stderr
        assert "no.such.topic" not in AdminClient({"bootstrap.servers": brokers}).list_topics(timeout=10).topics
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
