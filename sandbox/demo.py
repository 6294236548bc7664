"""``make demo``: the jobs end to end on the embedded broker and the sandbox.

For each job: write its config file in the original keys, produce the original job's sample events
plus generated ones and one malformed value, run ``python -m bytewax.run flows.<job>``, show
progress, then print the outcome counts, what the sandbox services received and the failed
topic, and stop the job with SIGTERM. Exits 0 when every event had an outcome and every job
stopped cleanly, 1 otherwise.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

from sandbox.broker import EmbeddedBroker
from sandbox.job import (CONFIG_FILE_ENV, ROOT, JobProcess, auto_creator_v2_config, content_auto_creator_config,
                         user_delete_config)
from sandbox.kafka_tools import committed, produce, read_all
from sandbox.questionsets import EXAMPLES, question_set
from sandbox.server import SunbirdSandbox

WORKDIR = ROOT / "build" / "demo"
EVENTS = Path(__file__).parent / "events"
KINDS = ("success", "skipped", "failed", "bad_input")
MALFORMED = b'{"eid": "BE_JOB_REQUEST", "edata": {'


def main() -> int:
    WORKDIR.mkdir(parents=True, exist_ok=True)
    print("starting the embedded Kafka broker and the Sunbird sandbox ...", flush=True)
    with EmbeddedBroker(log_path=WORKDIR / "broker.log") as broker, SunbirdSandbox() as sandbox:
        print(f"broker {broker.bootstrap}, sandbox {sandbox.url}\n")
        ok = (user_delete_demo(broker, sandbox) & content_auto_creator_demo(broker, sandbox)
              & auto_creator_v2_demo(broker, sandbox))
    print("\ndemo finished" if ok else "\ndemo FAILED: see the job logs in build/demo/", flush=True)
    return 0 if ok else 1


def user_delete_demo(broker: EmbeddedBroker, sandbox: SunbirdSandbox) -> bool:
    """Deletes for 200 contributors, 20 strangers and one org admin (some answered 503 first), a transfer."""
    delete_topic, transfer_topic = "sunbirddev.delete.user", "sunbirddev.user.ownership.transfer"
    failed_topic, group = "sunbirddev.delete.user.failed", "sunbirddev_cokreat_user_delete_group"
    broker.create_topics([delete_topic, transfer_topic], partitions=2)
    broker.create_topics([failed_topic])
    examples = (EVENTS / "user-delete.events.jsonl").read_bytes().splitlines()
    for user in ("5deed393-6e04-449a-b98d-7f0fbf88f22e", "02c4e0dc-3e25-4f7d-b811-242c73e24a01"):
        sandbox.contribution.add_user(user)
    template = json.loads(examples[0])
    generated = []
    for n in range(221):
        user = f"demo-user-{n:03d}"
        if n < 200:
            sandbox.contribution.add_user(user)
        elif n == 220:
            sandbox.contribution.add_user(user, role="admin")
        event = {**template, "mid": f"LP.demo.{n}", "object": {"id": user, "type": "user"},
                 "edata": {**template["edata"], "userId": user, "userName": f"name-{n}"}}
        generated.append(json.dumps(event).encode())
    for n in range(0, 200, 40):
        sandbox.faults.script("DELETE", f"/program/v1/user/demo-user-{n:03d}", [503, 503])
    deletes = examples[:2] + generated + [MALFORMED]
    produce(broker.bootstrap, delete_topic, deletes)
    produce(broker.bootstrap, transfer_topic, examples[2:])
    config = user_delete_config(broker.bootstrap, sandbox.url, group, delete_topic, transfer_topic, failed_topic,
                                "retry { max_attempts = 3, initial_backoff_s = 0.2 }")
    print("== user-delete: the original's samples, 221 generated deletes, one malformed value")
    ok = _run("flows.user_delete", config, WORKDIR / "user-delete", len(deletes) + len(examples[2:]), broker,
              failed_topic)
    _print_calls(sandbox, ("/program/",))
    print(f"  users deleted: {len(set(sandbox.contribution.deleted))}, "
          f"transfers relayed: {len(sandbox.contribution.transfers)}")
    print(f"  committed offsets of {group}: "
          f"{ {t: committed(broker.bootstrap, group, t, 2) for t in (delete_topic, transfer_topic)} }\n")
    return ok


def content_auto_creator_demo(broker: EmbeddedBroker, sandbox: SunbirdSandbox) -> bool:
    """The three spec examples, 30 generated bulk uploads (one with a missing file), one malformed value."""
    topic, failed_topic = "sunbirddev.auto.creation.job.request", "sunbirddev.auto.creation.job.request.failed"
    group = "sunbirddev-content-auto-creator-group"
    broker.create_topics([topic], partitions=2)
    broker.create_topics([failed_topic])
    workdir = WORKDIR / "content-auto-creator"
    public = sandbox.files.serve_directory(workdir / "storage")
    examples = [_hosted(json.loads(line), sandbox)
                for line in (EVENTS / "content-auto-creator.events.jsonl").read_bytes().splitlines()]
    bulk = [_bulk_upload(n, examples[1], sandbox) for n in range(30)]
    values = [json.dumps(e).encode() for e in examples + bulk] + [MALFORMED]
    produce(broker.bootstrap, topic, values)
    config = content_auto_creator_config(broker.bootstrap, sandbox.url, group, topic, failed_topic,
                                         workdir / "storage", public, workdir / "tmp",
                                         "retry { max_attempts = 3, initial_backoff_s = 0.2 }")
    print("== content-auto-creator: the original's 3 examples, 30 generated bulk uploads, one malformed value")
    ok = _run("flows.content_auto_creator", config, workdir, len(values), broker, failed_topic)
    _print_calls(sandbox, ("/content/", "/v3/search"))
    statuses = Counter(sandbox.content.statuses().values())
    print(f"  contents by status: {dict(statuses)}; files re-hosted under {workdir / 'storage'}")
    return ok


def auto_creator_v2_demo(broker: EmbeddedBroker, sandbox: SunbirdSandbox) -> bool:
    """The spec's examples for a question set with sections and a rejected question, 10 more sets, one
    whose ECAR tries a path traversal, and one malformed value."""
    topic, failed_topic = "sunbirddev.object.import.request", "sunbirddev.object.import.request.failed"
    group = "sunbirddev-auto-creator-v2-group"
    broker.create_topics([topic, failed_topic])
    workdir = WORKDIR / "auto-creator-v2"
    public = sandbox.files.serve_directory(workdir / "storage")
    example, _ = question_set(sandbox)
    minimal = copy.deepcopy(EXAMPLES[1])
    minimal["edata"]["repository"] = example["edata"]["repository"]
    minimal["edata"]["metadata"]["downloadUrl"] = example["edata"]["metadata"]["downloadUrl"]
    more = [question_set(sandbox, identifier=f"do_demo_set_{n}", prefix=f"do_demo_{n}_")[0] for n in range(10)]
    hostile = copy.deepcopy(more[-1])
    hostile["edata"]["metadata"].update(identifier="do_demo_hostile",
                                        downloadUrl=sandbox.files.add("hostile.ecar", _traversal_zip()))
    values = [json.dumps(e).encode() for e in [example, minimal, EXAMPLES[2], *more, hostile]] + [MALFORMED]
    produce(broker.bootstrap, topic, values)
    config = auto_creator_v2_config(broker.bootstrap, sandbox.url, group, topic, failed_topic, workdir / "storage",
                                    public, workdir / "tmp", "retry { max_attempts = 3, initial_backoff_s = 0.2 }")
    print("== auto-creator-v2: the original's 3 examples, 10 more question sets, a hostile ECAR, one malformed value")
    ok = _run("flows.auto_creator_v2", config, workdir, len(values), broker, failed_topic)
    _print_calls(sandbox, ("/question", "/api/"))
    statuses = Counter(found["status"] for found in sandbox.questions.objects.values())
    print(f"  questions and sets at the target by status: {dict(statuses)}")
    return ok


def _traversal_zip() -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("manifest.json", "{}")
        archive.writestr("../../../tmp/planted.sh", "echo owned")
    return data.getvalue()


def _hosted(event: dict, sandbox: SunbirdSandbox) -> dict:
    """A spec example with its files on the sandbox (Drive links stay Drive links) and its collection there."""
    metadata = event["edata"]["metadata"]
    if "drive.google.com" in metadata["artifactUrl"]:
        metadata["artifactUrl"] = sandbox.files.add_drive("drive-pdf", "About Water.pdf", b"%PDF-1.7 demo",
                                                          "application/pdf")
        metadata["appIcon"] = sandbox.files.add_drive("drive-icon", "water.png", b"\x89PNG demo", "image/png")
    else:
        metadata["artifactUrl"] = sandbox.files.add("mp4_219.mp4", b"\x00\x00\x00\x18ftypmp42" * 1000, "video/mp4")
        metadata["appIcon"] = sandbox.files.add("rhinocerous.thumb.jpg", b"\xff\xd8\xff demo", "image/jpeg")
    for entry in event["edata"]["collection"]:
        sandbox.content.add_collection(entry["identifier"], [entry["unitId"]])
    return event


def _bulk_upload(n: int, template: dict, sandbox: SunbirdSandbox) -> dict:
    event = copy.deepcopy(template)
    identifier = f"do_demo_{n:03d}"
    event["object"]["id"] = event["edata"]["identifier"] = identifier
    event["mid"] = f"LP.demo.{n}"
    metadata = event["edata"]["metadata"]
    metadata.update(name=f"Demo lesson {n}", code=f"demo-{n}", appIcon="",
                    artifactUrl=sandbox.files.add(f"lesson-{n}.pdf", b"%PDF-1.7 " + bytes(20_000), "application/pdf"))
    if n == 13:
        metadata["artifactUrl"] = f"{sandbox.url}/files/missing-{n}.pdf"
    return event


def _run(module: str, config: str, workdir: Path, total: int, broker: EmbeddedBroker, failed_topic: str) -> bool:
    (workdir / "job.log").unlink(missing_ok=True)
    job = JobProcess(module, config, workdir).start()
    print(f"  running: python -m bytewax.run {module}   (config {job.config_path})")
    counts, skip_reasons = _wait_for_outcomes(job, total, timeout_s=180)
    exit_code = job.stop()
    print(f"  stopped with SIGTERM, exit code {exit_code}")
    print("  outcomes: " + ", ".join(f"{kind} {counts[kind]}" for kind in KINDS))
    for reason, count in skip_reasons.most_common():
        print(f"    skipped {count:3d} x {reason}")
    print(f"  failed topic {failed_topic}:")
    for record in read_all(broker.bootstrap, failed_topic):
        headers = {k: v.decode() for k, v in record.headers() or []}
        print(f"    stage={headers['stage']} from {headers['source.topic']}[{headers['source.partition']}]"
              f"@{headers['source.offset']}: {headers['error'][:100]}")
    checked = _preflight(module, job.config_path)
    return exit_code == 0 and counts.total() == total and checked


def _preflight(module: str, config_path: Path) -> bool:
    """The operator's pre-flight check of the same config file, as before a cutover: its check lines."""
    print(f"  pre-flight: JOB_CONFIG_FILE={config_path} python -m tools.preflight {module}")
    done = subprocess.run([sys.executable, "-m", "tools.preflight", module], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, CONFIG_FILE_ENV: str(config_path)}, timeout=180)
    for line in done.stdout.splitlines():
        if not line.startswith(" "):  # the settings it lists are in the job's own log too
            print(f"    {line}")
    if done.returncode != 0:
        print(done.stderr[-2000:])
    return done.returncode == 0


def _wait_for_outcomes(job: JobProcess, total: int, timeout_s: float) -> tuple[Counter, Counter]:
    """The events' outcomes by kind, and the skips by reason: from the outcome lines and, for the events
    skipped by validation, the summary lines counting them."""
    deadline = time.monotonic() + timeout_s
    counts, reasons = Counter(), Counter()
    shown = None
    tty = sys.stdout.isatty()
    while time.monotonic() < deadline and job.running():
        outcomes, not_for_job = job.outcomes(), job.validation_skips()
        counts = Counter(o["outcome"] for o in outcomes) + Counter(skipped=not_for_job.total())
        reasons = Counter(o.get("reason") for o in outcomes if o["outcome"] == "skipped") + not_for_job
        line = f"  progress: {counts.total()}/{total} events  " + "  ".join(f"{k} {counts[k]}" for k in KINDS)
        if line != shown:  # on a terminal the line is redrawn in place
            print(f"\r{line}" if tty else line, end="" if tty else "\n", flush=True)
            shown = line
        if counts.total() >= total:
            break
        time.sleep(0.5)
    if tty:
        print()
    return counts, reasons


def _print_calls(sandbox: SunbirdSandbox, prefixes: tuple[str, ...]) -> None:
    """The services' journal, grouped by route (ids left out) and status."""
    calls = Counter((r.method, _route(r.path), r.status) for r in sandbox.journal.all() if r.path.startswith(prefixes))
    print("  the services received:")
    for (method, path, status), count in sorted(calls.items()):
        print(f"    {count:4d} x {method} {path} -> {status}")


def _route(path: str) -> str:
    path = path.split("?")[0]
    head, _, last = path.rpartition("/")
    return f"{head}/..." if last.startswith(("do_", "demo-", "5deed", "02c4e", "72d8c")) or ".ecar" in last else path


if __name__ == "__main__":
    sys.exit(main())
