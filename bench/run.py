"""``make bench``: each job as operators run it, on the embedded broker and the sandbox, at a fixed
service latency (``--latency-ms``, 20 by default), and the same job in sequential mode
(``http.max_in_flight = 1``, the original's design) in the same run.

For every job it prints, and writes to ``bench/results/<job>.json``: events per second (first to
last outcome; events skipped by validation count from the summary lines that count them), end-to-end
latency p50/p99 (produced -> outcome line; the events are a backlog produced up front, so this includes
waiting in Kafka; none when no event has a line of its own), peak RSS, CPU seconds per 1,000 events
(the job's from the moment it reads its first partition, and the sandbox's), and the speed-up over the
sequential mode. ``peers`` runs the peers and floors of :mod:`bench.peers` beside the jobs.
``slow-calls`` is user-delete with one user in 100 taking 3 s to delete. ``overhead`` is the pipeline
alone (every event skipped, no HTTP) with a backlog of 100,000 events; ``scaling`` runs that in one
worker, with ``-w 2`` and in two processes. ``bench/results/user-delete-in-flight.png`` charts throughput
against ``http.max_in_flight`` for three service latencies.

    .venv/bin/python -m bench.run [--jobs user-delete,content-auto-creator,auto-creator-v2,slow-calls,overhead,scaling,
                                   peers] [--latency-ms 20] [--no-chart]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable

from confluent_kafka import Producer

from connectors.kafka import produce_waiting
from sandbox.broker import EmbeddedBroker
from sandbox.process import free_port
from sandbox.content_events import upload_event
from sandbox.job import (SKIP_SUMMARY, JobProcess, auto_creator_v2_config, content_auto_creator_config, skip_summaries,
                         user_delete_config)
from sandbox.questionsets import question_set
from sandbox.server import SunbirdSandbox
from sandbox.user_events import EXAMPLES as USER_EVENTS
from sandbox.user_events import delete_event

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    events: int
    events_per_s: float
    latency_p50_s: float | None  # None: every event skipped by validation, which has no line of its own
    latency_p99_s: float | None
    peak_rss_mb: float
    cpu_s_per_1000: float
    sandbox_cpu_s_per_1000: float  # the service stand-in's share of the same two cores


@dataclass
class Workload:
    """One job's events and config, for a given run."""

    module: str
    values: list[bytes]
    topic: str
    config: str


def produce_timed(bootstrap: str, topic: str, values: list[bytes]) -> dict[tuple[int, int], float]:
    """Produce the backlog; each record's (partition, offset) -> the time the broker took it (s)."""
    stamps: dict[tuple[int, int], float] = {}
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})

    def stamp(err, msg):
        if err is None:
            stamps[(msg.partition(), msg.offset())] = msg.timestamp()[1] / 1000
    for value in values:
        produce_waiting(producer, topic, value, on_delivery=stamp)
    producer.flush(60)
    return stamps


READING = b'"message":"reading partition"'  # a job's first partition: start-up is over
SUMMARY_LINE = f'"message":"{SKIP_SUMMARY}"'.encode()


class OutcomeCount:
    """Events with an outcome in a job's log so far (outcome lines, and the skips the summaries count),
    read incrementally: re-reading the whole log every poll would take a core away from the job."""

    def __init__(self, log_path: Path):
        self._path, self._offset, self._count, self._tail = log_path, 0, 0, b""

    def read(self) -> int:
        with open(self._path, "rb") as log:
            log.seek(self._offset)
            chunk = self._tail + log.read()
        self._offset += len(chunk) - len(self._tail)
        complete, _, self._tail = chunk.rpartition(b"\n")
        self._count += complete.count(b'"outcome"')
        if SUMMARY_LINE in complete:
            self._count += sum(json.loads(line)["skipped"] for line in complete.splitlines() if SUMMARY_LINE in line)
        return self._count


def measure(work: Workload, broker: EmbeddedBroker, sandbox: SunbirdSandbox, label: str, workdir: Path,
            processes: list[list[str]] | None = None) -> Run:
    """Run the job on the workload's backlog until every event has an outcome.

    ``processes``: the bytewax arguments of each process (one process, one worker by default);
    RSS is the largest process's peak, CPU the sum of all.
    """
    broker.create_topics([work.topic], partitions=2)
    stamps = produce_timed(broker.bootstrap, work.topic, work.values)
    calls_before, sandbox_cpu_before = len(sandbox.journal.all()), time.process_time()
    folder = workdir / f"{work.topic}-{label}".replace(" ", "-")
    jobs = [JobProcess(work.module, work.config, folder / str(n), args=args).start()
            for n, args in enumerate(processes or [[]])]
    total, shown, deadline = len(work.values), -1, time.monotonic() + 600
    progress = [OutcomeCount(job.log_path) for job in jobs]
    ready_cpu: list[float | None] = [None] * len(jobs)  # each process's CPU once it reads: start-up not counted
    ready_deadline = time.monotonic() + 60  # a process given no partition never reads: all its CPU counts
    while time.monotonic() < deadline and all(job.running() for job in jobs):
        for n, job in enumerate(jobs):
            if ready_cpu[n] is None and time.monotonic() < ready_deadline and READING in job.log_path.read_bytes():
                ready_cpu[n] = _cpu_s(job.process.pid)
        if None in ready_cpu and time.monotonic() < ready_deadline:
            time.sleep(0.01)
            continue
        done = sum(count.read() for count in progress)
        if done != shown:
            bar = "#" * int(30 * done / total)
            print(f"\r  {label:<34} [{bar:<30}] {done}/{total}", end="", flush=True)
            shown = done
        if done >= total:
            break
        time.sleep(0.25)
    print()
    sandbox_cpu = time.process_time() - sandbox_cpu_before
    rss = max(_peak_rss_mb(job.process.pid) for job in jobs)
    cpu = sum(_cpu_s(job.process.pid) - (ready or 0.0) for job, ready in zip(jobs, ready_cpu))
    for job in jobs:
        job.stop()
    lines = [line for job in jobs for line in job.log_lines()]
    outcomes = [line for line in lines if "outcome" in line]
    summaries = skip_summaries(lines)
    if len(outcomes) + sum(s["skipped"] for s in summaries) < total:
        raise RuntimeError(f"{label}: {len(outcomes)} of {total} outcomes; see {folder}")
    ends = [datetime.fromisoformat(o["time"]).timestamp() for o in outcomes]
    latencies = sorted(end - stamps[(o["partition"], o["offset"])] for end, o in zip(ends, outcomes)
                       if (o["partition"], o["offset"]) in stamps)
    starts = [datetime.fromisoformat(s["first_skipped_at"]).timestamp() for s in summaries]
    ends += [datetime.fromisoformat(s["last_skipped_at"]).timestamp() for s in summaries]
    # From the job's first call (or first outcome, when it makes none) to its last outcome: start-up is
    # not counted. Outcome lines are written per batch, so for a call-free run this needs many batches.
    calls = sandbox.journal.all()[calls_before:]
    start = min(call.at for call in calls) if calls else min(ends + starts)
    p50, p99 = ((round(statistics.median(latencies), 3), round(latencies[int(0.99 * (len(latencies) - 1))], 3))
                if latencies else (None, None))
    return Run(total, round(total / max(max(ends) - start, 1e-3), 1), p50, p99, rss, round(cpu / total * 1000, 3),
               round(sandbox_cpu / total * 1000, 3))


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def user_delete(sandbox, names, broker, count, extra="") -> Workload:
    topic = names("delete.user")
    users = [f"user-{topic}-{n}" for n in range(count)]
    for user in users:
        sandbox.contribution.add_user(user)
    return Workload("flows.user_delete", [delete_event(u) for u in users], topic,
                    user_delete_config(broker.bootstrap, sandbox.url, names("g"), topic, names("t"), names("f"),
                                       'http.headers {}\n' + extra))


def slow_calls(sandbox, names, broker, count, extra="") -> Workload:
    """user-delete where one user in 100 takes 3 s to delete (a slow shard, a retried call)."""
    topic = names("delete.user")
    users = [f"u{n:06d}-{topic}" for n in range(count)]
    for n, user in enumerate(users):
        sandbox.contribution.add_user(user)
        if n % 100 == 0:
            sandbox.faults.latency(3.0, "DELETE", f"/program/v1/user/{user}")
    return Workload("flows.user_delete", [delete_event(u) for u in users], topic,
                    user_delete_config(broker.bootstrap, sandbox.url, names("g"), topic, names("t"), names("f"),
                                       'http.headers {}\n' + extra))


def overhead(sandbox, names, broker, count, extra="") -> Workload:
    skipped = json.loads(USER_EVENTS[0])
    skipped["edata"]["action"] = "not-for-this-job"
    topic = names("delete.user")
    return Workload("flows.user_delete", [json.dumps(skipped).encode()] * count, topic,
                    user_delete_config(broker.bootstrap, sandbox.url, names("g"), topic, names("t"), names("f"), extra))


def content(sandbox, names, broker, count, extra="", workdir=Path("/tmp")) -> Workload:
    topic = names("auto.creation.job.request")
    artifact = b"%PDF-1.7 " + os.urandom(256 * 1024 - 9)
    values = []
    for n in range(count):
        identifier = f"do_{topic}_{n}".replace(".", "_")
        values.append(upload_event(identifier, sandbox.files.add(f"{identifier}.pdf", artifact, "application/pdf")))
    storage = workdir / f"storage-{topic}"
    return Workload("flows.content_auto_creator", values, topic,
                    content_auto_creator_config(broker.bootstrap, sandbox.url, names("g"), topic, names("f"), storage,
                                                sandbox.files.serve_directory(storage), workdir / "tmp", extra))


def question_sets(sandbox, names, broker, count, extra="", workdir=Path("/tmp")) -> Workload:
    topic = names("object.import.request")
    values = []
    for n in range(count):
        prefix = f"do_{topic}_{n}_".replace(".", "_")
        event, _ = question_set(sandbox, identifier=f"{prefix}set", prefix=prefix, accepted=[])
        tree = sandbox.source.sets[f"{prefix}set"]
        extra_questions = [dict(tree["children"][1], identifier=f"{prefix}x{k}") for k in range(5)]
        for node in extra_questions:
            sandbox.source.questions[node["identifier"]] = {**sandbox.source.questions[tree["children"][1]
                                                                                          ["identifier"]],
                                                            "identifier": node["identifier"]}
        tree["children"] = [child for child in tree["children"] if child.get("visibility") != "Default"] \
            + extra_questions  # 10 questions: 4 in sections, 6 directly under the root
        values.append(json.dumps(event).encode())
    storage = workdir / f"storage-{topic}"
    return Workload("flows.auto_creator_v2", values, topic,
                    auto_creator_v2_config(broker.bootstrap, sandbox.url, names("g"), topic, names("f"), storage,
                                           sandbox.files.serve_directory(storage), workdir / "tmp", extra))


JOBS: dict[str, tuple[Callable, int, int, str]] = {
    # name: (workload, events, events in sequential mode, unit)
    "user-delete": (user_delete, 10_000, 400, "events"),
    "content-auto-creator": (content, 1_000, 30, "events"),
    "auto-creator-v2": (question_sets, 400, 10, "sets of 10 questions"),
    "slow-calls": (slow_calls, 5_000, 0, "events (1 in 100 takes 3 s)"),
    "overhead": (overhead, 100_000, 0, "events (all skipped)"),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default=",".join([*JOBS, "scaling", "peers"]))
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--no-chart", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    counter = iter(range(10**6))
    names = lambda base: f"{base}.b{next(counter)}"  # noqa: E731 - a fresh name per use
    with EmbeddedBroker() as broker, SunbirdSandbox() as sandbox, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sandbox.faults.latency(args.latency_ms / 1000)
        for name in args.jobs.split(","):
            if name == "scaling":
                scaling(broker, sandbox, names, workdir)
                continue
            if name == "peers":
                peers(broker, sandbox, names, workdir, args.latency_ms)
                continue
            build, count, sequential_count, unit = JOBS[name]
            kwargs = {"workdir": workdir} if build in (content, question_sets) else {}
            print(f"{name}: {count} {unit}, {args.latency_ms:.0f} ms per call")
            result = {"job": name, "unit": unit, "latency_ms": args.latency_ms,
                      "default": asdict(measure(build(sandbox, names, broker, count, **kwargs), broker, sandbox,
                                                "default", workdir))}
            if sequential_count:
                sequential = measure(build(sandbox, names, broker, sequential_count, "http.max_in_flight = 1",
                                           **kwargs), broker, sandbox, "sequential (max_in_flight = 1)", workdir)
                result["sequential"] = asdict(sequential)
                result["speed_up"] = round(result["default"]["events_per_s"] / sequential.events_per_s, 1)
            _write(name, result)
        if not args.no_chart and "user-delete" in args.jobs:
            chart(broker, sandbox, names, workdir)
    return 0


def _write(name: str, result: dict) -> None:
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"  => {json.dumps(result)}\n")


def scaling(broker, sandbox, names, workdir: Path) -> None:
    """The pipeline alone (every event skipped, so no service to wait for) in one worker, in two
    workers of one process (``-w 2``), and in two processes (``-i``/``-a``), side by side."""
    addresses = f"127.0.0.1:{free_port()};127.0.0.1:{free_port()}"
    layouts = {"1 worker": [[]], "-w 2": [["-w", "2"]],
               "2 processes": [["-i", "0", "-a", addresses], ["-i", "1", "-a", addresses]]}
    print(f"scaling: {JOBS['overhead'][1]} events, all skipped")
    _write("scaling", {"job": "overhead", "unit": JOBS["overhead"][3],
                       **{label: asdict(measure(overhead(sandbox, names, broker, JOBS["overhead"][1]), broker,
                                                sandbox, label, workdir, processes))
                          for label, processes in layouts.items()}})


def run_peer(command: list[str]) -> dict:
    """One peer or floor in its own process (:mod:`bench.peers`): its JSON line."""
    answer = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if answer.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])}: exit {answer.returncode}: {answer.stderr[-2000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def quix_python() -> Path:
    """``bench/.venv-quix``'s interpreter, made on first use from bench/requirements-quix.txt."""
    venv = Path(__file__).parent / ".venv-quix"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r",
                        str(Path(__file__).parent / "requirements-quix.txt")], check=True)
    return python


def per_second(peer: dict) -> float:
    return round(peer["done"] / max(peer["seconds"], 1e-3), 1)


def cpu_per_1000(peer: dict) -> float:
    return round(peer["cpu_s"] / max(peer["done"], 1) * 1000, 3)


def peers(broker, sandbox, names, workdir: Path, latency_ms: float) -> None:
    """The jobs beside the peers and floors of the same work, in one run: the skipped path against
    Quix Streams and a bare confluent-kafka loop; user-delete's calls against bare HTTP clients
    (urllib3 on threads, aiohttp on asyncio) at the same service latency; the auto-creators against their
    calls and transfers made again by the bare asyncio client. Each comparison that gives a ratio runs in
    :data:`ROUNDS` rounds (:func:`in_rounds`)."""
    count, calls = JOBS["overhead"][1], JOBS["user-delete"][1]
    skipped = in_rounds(f"the skipped path, {count} events",
                        lambda number: skipped_round(broker, sandbox, names, workdir, count, number))
    floors = {}
    for kind, concurrency in (("http-threads", 32), ("http-asyncio", 32)):
        floors[f"{kind}, {concurrency} at once"] = http_floor(sandbox, names, kind, calls, concurrency)
    user_calls = in_rounds(f"{calls} DELETE calls at {latency_ms:.0f} ms",
                           lambda number: calls_round(broker, sandbox, names, workdir, calls, number))
    transfers = {name: in_rounds(f"{name}'s calls and transfers, {JOBS[name][1]} {JOBS[name][3]}",
                                 partial(replay_round, broker, sandbox, names, workdir, name))
                 for name in ("content-auto-creator", "auto-creator-v2")}
    _write("peers", {"skipped_path": skipped,
                     "calls": {"user-delete against the asyncio floor, 128 at once": user_calls, **floors},
                     "calls_and_transfers": transfers, "latency_ms": latency_ms})


ROUNDS = 3  # of each comparison: the machine's speed drifts by up to a third between minutes here


def in_rounds(what: str, one_round: Callable[[int], dict]) -> dict:
    """``one_round(number)`` :data:`ROUNDS` times: the job and its peers one after the other in each, so that
    a round's ratios (``"ratios"``) compare runs made at the same speed. The result is each figure's median
    over the rounds, each taken on its own (so a median ratio is not the quotient of two median figures),
    with every round under ``"rounds"``."""
    rounds = []
    for number in range(ROUNDS):
        print(f"peers: {what}, round {number + 1} of {ROUNDS}")
        rounds.append(one_round(number))
    return {**median_of(rounds), "rounds": rounds}


def median_of(results: list) -> object:
    """The median of each number across ``results`` (dicts of the same shape, nested)."""
    first = results[0]
    if isinstance(first, dict):
        return {key: median_of([result[key] for result in results]) for key in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        middle = statistics.median(results)
        return round(middle, 3) if isinstance(middle, float) else middle
    return first


def skipped_round(broker, sandbox, names, workdir: Path, count: int, number: int) -> dict:
    """user-delete on ``count`` events that are not for it, and the bare loop and Quix Streams on a topic of
    the same events: the job first in even rounds, last in odd ones, so that a drift within rounds does not
    always favour the same side."""
    topic = names("peer.skip")
    broker.create_topics([topic], partitions=2)
    produce_timed(broker.bootstrap, topic, overhead(sandbox, names, broker, count).values)

    def job() -> Run:
        return measure(overhead(sandbox, names, broker, count), broker, sandbox, "user-delete, all skipped", workdir)

    ours = job() if number % 2 == 0 else None
    bare = run_peer([sys.executable, "-m", "bench.peers", "consumer", broker.bootstrap, topic, str(count)])
    quix = run_peer([str(quix_python()), str(Path(__file__).parent / "quix_peer.py"), broker.bootstrap, topic,
                     str(count), str(workdir / names("quix-state"))])
    quix = {"done": quix["events"], "seconds": quix["seconds"], "cpu_s": quix["cpu_s"]}
    ours = ours or job()
    results = {"bare confluent-kafka loop": bare, "quix streams": quix}
    return {"user-delete": {"events_per_s": ours.events_per_s, "cpu_s_per_1000": ours.cpu_s_per_1000},
            **{name: {"events_per_s": per_second(peer), "cpu_s_per_1000": cpu_per_1000(peer)}
               for name, peer in results.items()},
            "ratios": {"vs quix streams": round(ours.events_per_s / per_second(quix), 2),
                       "vs bare loop": round(ours.events_per_s / per_second(bare), 2)}}


def calls_round(broker, sandbox, names, workdir: Path, calls: int, number: int) -> dict:
    """user-delete on ``calls`` events and the bare asyncio client making as many DELETE calls, 128 at once
    (user-delete's default in flight): the job first in even rounds, last in odd ones."""
    if number % 2:
        floor = http_floor(sandbox, names, "http-asyncio", calls, 128)
    job = measure(user_delete(sandbox, names, broker, calls), broker, sandbox, "user-delete", workdir)
    if number % 2 == 0:
        floor = http_floor(sandbox, names, "http-asyncio", calls, 128)
    return {"user-delete (default settings)": asdict(job), "http-asyncio, 128 at once": floor,
            "ratios": {"user-delete events/s vs asyncio floor": round(job.events_per_s / floor["calls_per_s"], 2),
                       "user-delete CPU per event vs asyncio floor's per call":
                           round(job.cpu_s_per_1000 / max(floor["cpu_s_per_1000"], 1e-6), 2)}}


def replay_round(broker, sandbox, names, workdir: Path, name: str, _number: int) -> dict:
    """The auto-creator ``name`` on its workload, then its calls made again (:func:`replayed`)."""
    build, count = JOBS[name][0], JOBS[name][1]
    return replayed(build(sandbox, names, broker, count, workdir=workdir), broker, sandbox, name, workdir)


def http_floor(sandbox, names, kind: str, calls: int, concurrency: int) -> dict:
    """A bare HTTP client (:mod:`bench.peers`) deleting ``calls`` users the sandbox knows."""
    prefix = names("floor")
    for n in range(calls):
        sandbox.contribution.add_user(f"{prefix}-{n}")
    floor = run_peer([sys.executable, "-m", "bench.peers", kind, sandbox.url, prefix, str(calls), str(concurrency)])
    return {"calls_per_s": per_second(floor), "cpu_s_per_1000": cpu_per_1000(floor)}


REPLAY_IN_FLIGHT = 128  # calls at once in the replay: content-auto-creator's default events in flight, a call each
_NOT_REPLAYED = {"host", "content-length", "user-agent", "accept-encoding", "connection", "transfer-encoding"}


def replayed(work: Workload, broker, sandbox, label: str, workdir: Path) -> dict:
    """A job's run, then the same calls made again by the bare asyncio client (:func:`bench.peers.http_replay`):
    the job's CPU per event against the bare cost of its calls and transfers. The sandbox's own fetches of
    an uploaded file's URL (which the content service makes, not the job) are left out."""
    before = len(sandbox.journal.all())
    run = measure(work, broker, sandbox, label, workdir)
    made = [call for call in sandbox.journal.all()[before:]
            if not call.headers.get("User-Agent", "").startswith("Python-urllib")]
    path = workdir / f"{label}-calls.jsonl"
    with path.open("w") as lines:
        for call in made:
            body = call.body if call.body is None or isinstance(call.body, str) else json.dumps(call.body)
            headers = {k: v for k, v in call.headers.items() if k.lower() not in _NOT_REPLAYED}
            lines.write(json.dumps({"method": call.method, "path": call.path, "body": body, "headers": headers,
                                    "status": call.status}) + "\n")
    floor = run_peer([sys.executable, "-m", "bench.peers", "http-replay", sandbox.url, str(path),
                      str(REPLAY_IN_FLIGHT)])
    floor_per_1000 = round(floor["cpu_s"] / run.events * 1000, 3)
    return {"job": asdict(run), "calls_per_unit": round(len(made) / run.events, 1),
            "bare asyncio replay": {"calls_per_s": per_second(floor), "cpu_s_per_1000_units": floor_per_1000,
                                    "answers with another status than the job's": floor["unlike"]},
            "job CPU vs bare": round(run.cpu_s_per_1000 / max(floor_per_1000, 1e-6), 2)}


def chart(broker, sandbox, names, workdir: Path) -> None:
    """Throughput of user-delete against http.max_in_flight, at three service latencies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes, lines = (1, 4, 16, 32, 64, 128, 256), {}
    for latency_ms in (10, 20, 50):
        sandbox.faults.clear()
        sandbox.faults.latency(latency_ms / 1000)
        lines[latency_ms] = [measure(user_delete(sandbox, names, broker, 150 * size if size < 16 else 2000,
                                                 f"http.max_in_flight = {size}"), broker, sandbox,
                                     f"{latency_ms} ms, max_in_flight {size}", workdir).events_per_s for size in sizes]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for latency_ms, rates in lines.items():
        axis.plot(sizes, rates, marker="o", label=f"{latency_ms} ms per call")
    axis.set(xscale="log", xlabel="http.max_in_flight", ylabel="events per second",
             title="user-delete throughput (one process, 2 cores)")
    axis.set_xticks(sizes, [str(s) for s in sizes])
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(RESULTS / "user-delete-in-flight.png", dpi=110)
    (RESULTS / "user-delete-in-flight.json").write_text(json.dumps({"max_in_flight": sizes, "events_per_s": lines},
                                                                   indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
