"""Events per second of the user-delete job against the sandbox, one process, default settings.

    .venv/bin/python -m bench.user_delete_throughput [EVENTS] [LATENCY_S]

A first measurement, not yet the full ``make bench`` of the speed issue: it produces a
backlog of deletes for known users, starts ``python -m bytewax.run flows.user_delete``,
and times from the first call the sandbox sees to the last delete. It also prints the
job's CPU seconds, which tell whether the job or the service is the bound.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sandbox.broker import EmbeddedBroker
from sandbox.job import JobProcess, user_delete_config
from sandbox.kafka_tools import produce
from sandbox.server import SunbirdSandbox

TEMPLATE = json.loads((Path(__file__).parents[1] / "sandbox" / "events" / "user-delete.events.jsonl")
                      .read_bytes().splitlines()[0])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(events: int, latency_s: float) -> None:
    with EmbeddedBroker() as broker, SunbirdSandbox() as sandbox, tempfile.TemporaryDirectory() as workdir:
        broker.create_topics(["delete", "transfer"], partitions=2)
        broker.create_topics(["failed"])
        values = []
        for n in range(events):
            user = f"user-{n}"
            sandbox.contribution.add_user(user)
            values.append(json.dumps({**TEMPLATE, "edata": {**TEMPLATE["edata"], "userId": user}}).encode())
        produce(broker.bootstrap, "delete", values)
        sandbox.faults.latency(latency_s)
        config = user_delete_config(broker.bootstrap, sandbox.url, "bench", "delete", "transfer", "failed")
        job = JobProcess("flows.user_delete", config, Path(workdir), env={"LOG_LEVEL": "WARNING"}).start()
        while not sandbox.journal.arrived:
            time.sleep(0.01)
        started, cpu_before = time.monotonic(), cpu_seconds(job.process.pid)
        deadline = started + 600
        while len(sandbox.contribution.deleted) < events and time.monotonic() < deadline:
            time.sleep(0.05)
        seconds = time.monotonic() - started
        cpu = cpu_seconds(job.process.pid) - cpu_before
        job.stop()
        done = len(sandbox.contribution.deleted)
        print(f"user-delete: {done} events, {latency_s * 1000:.0f} ms per call: {seconds:.1f} s, "
              f"{done / seconds:.0f} events/s; job CPU {cpu:.1f} s ({cpu / max(done, 1) * 1000:.2f} ms per event)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000, float(sys.argv[2]) if len(sys.argv) > 2 else 0.02)
