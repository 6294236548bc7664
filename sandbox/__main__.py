"""``python -m sandbox``: the embedded broker and the Sunbird sandbox, until Ctrl-C (or SIGTERM).

For trying a job by hand: point ``kafka.broker-servers`` and the services' base URLs at the
printed addresses (``--kafka-port`` and ``--http-port`` fix them; free ports by default). Users the
contribution service knows are given with ``--user ID`` (repeatable); faults are set with
``POST /__sandbox/faults``. ``--storage azure|aws`` starts Azurite or moto's S3 server too, with a
container ``contents``, and prints the ``cloud_storage_*`` keys that point an auto-creator at it;
``--durable-broker`` keeps the broker's topics and committed offsets on S3 (moto's), so that a
stopped broker can come back with them.

Two commands talk to a running broker (the embedded one, which ``kcat`` cannot read, or any other)::

    python -m sandbox produce --brokers 127.0.0.1:29092 TOPIC events.jsonl   # one event per line; - for stdin
    python -m sandbox produce --brokers 127.0.0.1:29092 TOPIC --samples user-delete
    python -m sandbox read --brokers 127.0.0.1:29092 TOPIC                   # one JSON line per record
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from confluent_kafka.admin import AdminClient

from sandbox.broker import EmbeddedBroker
from sandbox.kafka_tools import produce, read_all
from sandbox.server import SunbirdSandbox
from sandbox.storage import Azurite, MotoS3, durable_broker, missing

CONTAINER = "contents"
SAMPLES = Path(__file__).parent / "events"  # the spec's sample events of each job, one per line
JOBS = ("user-delete", "content-auto-creator", "auto-creator-v2")


def main(argv: list[str]) -> int:
    if argv[:1] == ["produce"]:
        return produce_command(argv[1:])
    if argv[:1] == ["read"]:
        return read_command(argv[1:])
    return serve(argv)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0],
                                     epilog="python -m sandbox produce|read --help: put events on a topic, read one")
    parser.add_argument("--topic", action="append", default=[], help="topic to create (repeatable)")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--user", action="append", default=[], help="a user coKreat knows (repeatable)")
    parser.add_argument("--kafka-port", type=int, help="the broker's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--http-port", type=int, help="the sandbox services' port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--storage", choices=["azure", "aws"], help="start this storage back end too")
    parser.add_argument("--durable-broker", action="store_true",
                        help="keep the broker's topics and committed offsets on S3 (moto's S3 server)")
    args = parser.parse_args(argv)
    for needed in {args.storage, "aws" if args.durable_broker else None} - {None}:
        if reason := missing(needed):
            parser.error(reason)
    stopped = threading.Event()  # SIGINT or SIGTERM: everything started here is stopped, in reverse order
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(MotoS3()) if args.durable_broker or args.storage == "aws" else None
        broker = stack.enter_context(durable_broker(s3, port=args.kafka_port) if args.durable_broker
                                     else EmbeddedBroker(port=args.kafka_port))
        sandbox = stack.enter_context(SunbirdSandbox(port=args.http_port))
        broker.create_topics(args.topic, partitions=args.partitions)
        for user in args.user:
            sandbox.contribution.add_user(user)
        print(f"kafka.broker-servers = \"{broker.bootstrap}\"\nprogram-service-baseUrl = \"{sandbox.url}\"")
        if args.storage:
            store = s3 if args.storage == "aws" else stack.enter_context(Azurite())
            store.create_container(CONTAINER)
            for key, value in store.settings(CONTAINER).items():
                print(f"{key} = \"{value}\"")
        if args.durable_broker:
            print(f"# the broker keeps its data in {broker.storage} on {s3.endpoint}")
        print(f"journal: {sandbox.url}/__sandbox/journal   (Ctrl-C stops everything)", flush=True)
        stopped.wait()
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
    return 0


def produce_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox produce",
                                     description="Put events on a topic, one per line, in order; each is sent as "
                                                 "it is (a line that is not JSON too, to try bad input).")
    parser.add_argument("--brokers", required=True, help="host:port, as printed by python -m sandbox")
    parser.add_argument("topic")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="a file of events, one per line; - for standard input")
    source.add_argument("--samples", choices=JOBS, help="the spec's sample events of this job")
    args = parser.parse_args(argv)
    if args.samples:
        text = (SAMPLES / f"{args.samples}.events.jsonl").read_bytes()
    elif args.file == "-":
        text = sys.stdin.buffer.read()
    else:
        text = Path(args.file).read_bytes()
    values = [line for line in text.splitlines() if line.strip()]
    produce(args.brokers, args.topic, values)
    print(f"{len(values)} events produced to {args.topic}", file=sys.stderr)
    return 0


def read_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox read",
                                     description="Print every record of a topic, one JSON line each: partition, "
                                                 "offset, key, headers (a failed record's error, stage, source) "
                                                 "and value.")
    parser.add_argument("--brokers", required=True, help="host:port, as printed by python -m sandbox")
    parser.add_argument("topic")
    args = parser.parse_args(argv)
    topics = AdminClient({"bootstrap.servers": args.brokers}).list_topics(timeout=10).topics  # asking for one
    if args.topic not in topics:                                                          # by name may create it
        print(f"no topic {args.topic} on {args.brokers} (there are: {', '.join(sorted(topics)) or 'none'})",
              file=sys.stderr)
        return 1
    for record in read_all(args.brokers, args.topic):
        print(json.dumps({"partition": record.partition(), "offset": record.offset(),
                          "key": _text(record.key()),
                          "headers": {name: _text(value) for name, value in record.headers() or []},
                          "value": _text(record.value())}, ensure_ascii=False))
    return 0


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
