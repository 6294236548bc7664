"""``make demo``: the user-delete job end to end on the embedded broker and the sandbox.

Starts both, writes a job config file in the original keys, produces the spec's sample
events plus generated ones (some for users coKreat does not know, one it may not delete,
some that need retries) and one malformed value, runs ``python -m bytewax.run
flows.user_delete``, shows progress, then prints the outcome counts, what the sandbox
received and the failed topic, stops everything and exits 0 (1 if anything went wrong).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from sandbox.broker import EmbeddedBroker
from sandbox.job import ROOT, JobProcess, user_delete_config
from sandbox.kafka_tools import committed, produce, read_all
from sandbox.server import SunbirdSandbox

WORKDIR = ROOT / "build" / "demo"
EXAMPLES = (Path(__file__).parent / "events" / "user-delete.events.jsonl").read_bytes().splitlines()
DELETE_TOPIC, TRANSFER_TOPIC = "sunbirddev.delete.user", "sunbirddev.user.ownership.transfer"
FAILED_TOPIC, GROUP = "sunbirddev.delete.user.failed", "sunbirddev_cokreat_user_delete_group"


def generated_events(sandbox: SunbirdSandbox) -> list[bytes]:
    """Deletes for 200 contributors, 20 strangers and one org admin; a few get 503 first."""
    template = json.loads(EXAMPLES[0])
    values = []
    for n in range(221):
        user = f"demo-user-{n:03d}"
        if n < 200:
            sandbox.contribution.add_user(user)
        elif n == 220:
            sandbox.contribution.add_user(user, role="admin")
        event = {**template, "mid": f"LP.demo.{n}", "object": {"id": user, "type": "user"},
                 "edata": {**template["edata"], "userId": user, "userName": f"name-{n}"}}
        values.append(json.dumps(event).encode())
    for n in range(0, 200, 40):
        sandbox.faults.script("DELETE", f"/program/v1/user/demo-user-{n:03d}", [503, 503])
    return values


def main() -> int:
    WORKDIR.mkdir(parents=True, exist_ok=True)
    (WORKDIR / "job.log").unlink(missing_ok=True)
    print("starting the embedded Kafka broker and the Sunbird sandbox ...", flush=True)
    with EmbeddedBroker(log_path=WORKDIR / "broker.log") as broker, SunbirdSandbox() as sandbox:
        broker.create_topics([DELETE_TOPIC, TRANSFER_TOPIC], partitions=2)
        broker.create_topics([FAILED_TOPIC])
        for user in ("5deed393-6e04-449a-b98d-7f0fbf88f22e", "02c4e0dc-3e25-4f7d-b811-242c73e24a01"):
            sandbox.contribution.add_user(user)
        deletes = EXAMPLES[:2] + generated_events(sandbox) + [b'{"eid": "BE_JOB_REQUEST", "edata": {']
        produce(broker.bootstrap, DELETE_TOPIC, deletes)
        produce(broker.bootstrap, TRANSFER_TOPIC, EXAMPLES[2:])
        total = len(deletes) + len(EXAMPLES[2:])
        print(f"produced {total} events (the spec's samples, generated deletes, one malformed value)")
        print(f"broker {broker.bootstrap}, sandbox {sandbox.url}, config {WORKDIR / 'job.conf'}\n")

        config = user_delete_config(broker.bootstrap, sandbox.url, GROUP, DELETE_TOPIC, TRANSFER_TOPIC,
                                    FAILED_TOPIC, "retry { max_attempts = 3, initial_backoff_s = 0.2 }")
        job = JobProcess("flows.user_delete", config, WORKDIR).start()
        print(f"running: python -m bytewax.run flows.user_delete   (log: {job.log_path})")
        outcomes = _wait_for_outcomes(job, total, timeout_s=120)
        exit_code = job.stop()
        print(f"\njob stopped with SIGTERM, exit code {exit_code}\n")
        _report(outcomes, sandbox, broker)
        ok = exit_code == 0 and len(outcomes) == total
    print("\ndemo finished" if ok else "\ndemo FAILED: see the job log", flush=True)
    return 0 if ok else 1


def _wait_for_outcomes(job: JobProcess, total: int, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    outcomes: list[dict] = []
    shown = None
    while time.monotonic() < deadline and job.running():
        outcomes = job.outcomes()
        counts = Counter(o["outcome"] for o in outcomes)
        line = f"  progress: {len(outcomes)}/{total} events  " + "  ".join(
            f"{kind} {counts[kind]}" for kind in ("success", "skipped", "failed", "bad_input"))
        if line != shown:  # on a terminal the line is redrawn in place
            print(f"\r{line}" if sys.stdout.isatty() else line, end="" if sys.stdout.isatty() else "\n", flush=True)
            shown = line
        if len(outcomes) >= total:
            break
        time.sleep(0.5)
    print(flush=True)
    return outcomes


def _report(outcomes: list[dict], sandbox: SunbirdSandbox, broker: EmbeddedBroker) -> None:
    counts = Counter(o["outcome"] for o in outcomes)
    print("outcomes:  " + ", ".join(f"{kind} {counts[kind]}" for kind in ("success", "skipped", "failed", "bad_input")))
    reasons = Counter(o.get("reason") for o in outcomes if o["outcome"] == "skipped")
    for reason, count in reasons.most_common():
        print(f"  skipped {count:3d} x {reason}")
    calls = Counter((r.method, r.path.rsplit("/", 1)[0] + "/...", r.status) for r in sandbox.journal.all())
    print("\nthe contribution service received:")
    for (method, path, status), count in sorted(calls.items()):
        print(f"  {count:4d} x {method} {path} -> {status}")
    print(f"  users deleted: {len(set(sandbox.contribution.deleted))}, "
          f"transfers relayed: {len(sandbox.contribution.transfers)}")
    print(f"\nfailed topic {FAILED_TOPIC}:")
    for record in read_all(broker.bootstrap, FAILED_TOPIC):
        headers = {k: v.decode() for k, v in record.headers() or []}
        print(f"  stage={headers['stage']} source={headers['source.topic']}[{headers['source.partition']}]"
              f"@{headers['source.offset']} error={headers['error'][:90]}")
    offsets = {topic: committed(broker.bootstrap, GROUP, topic, partitions=2) for topic in (DELETE_TOPIC, TRANSFER_TOPIC)}
    print(f"\ncommitted offsets of group {GROUP}: {offsets}")


if __name__ == "__main__":
    sys.exit(main())
