"""``python -m sandbox``: the embedded broker and the Sunbird sandbox, until Ctrl-C (or SIGTERM).

For trying a job by hand: point ``kafka.broker-servers`` and the services' base URLs at the
printed addresses. Users the contribution service knows are given with ``--user ID``
(repeatable); faults are set with ``POST /__sandbox/faults``. ``--storage azure|aws`` starts
Azurite or moto's S3 server too, with a container ``contents``, and prints the ``cloud_storage_*``
keys that point an auto-creator at it; ``--durable-broker`` keeps the broker's topics and
committed offsets on S3 (moto's), so that a stopped broker can come back with them.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from sandbox.broker import EmbeddedBroker
from sandbox.server import SunbirdSandbox
from sandbox.storage import Azurite, MotoS3, durable_broker, missing

CONTAINER = "contents"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--topic", action="append", default=[], help="topic to create (repeatable)")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--user", action="append", default=[], help="a user coKreat knows (repeatable)")
    parser.add_argument("--storage", choices=["azure", "aws"], help="start this storage back end too")
    parser.add_argument("--durable-broker", action="store_true",
                        help="keep the broker's topics and committed offsets on S3 (moto's S3 server)")
    args = parser.parse_args()
    for needed in {args.storage, "aws" if args.durable_broker else None} - {None}:
        if reason := missing(needed):
            parser.error(reason)
    stopped = threading.Event()  # SIGINT or SIGTERM: everything started here is stopped, in reverse order
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(MotoS3()) if args.durable_broker or args.storage == "aws" else None
        broker = stack.enter_context(durable_broker(s3) if args.durable_broker else EmbeddedBroker())
        sandbox = stack.enter_context(SunbirdSandbox())
        broker.create_topics(args.topic, partitions=args.partitions)
        for user in args.user:
            sandbox.contribution.add_user(user)
        print(f"kafka.broker-servers = \"{broker.bootstrap}\"\nprogram-service-baseUrl = \"{sandbox.url}\"")
        if args.storage:
            store = s3 if args.storage == "aws" else stack.enter_context(Azurite())
            (store.create_bucket if args.storage == "aws" else store.create_container)(CONTAINER)
            for key, value in store.settings(CONTAINER).items():
                print(f"{key} = \"{value}\"")
        if args.durable_broker:
            print(f"# the broker keeps its data in {broker.storage} on {s3.endpoint}")
        print(f"journal: {sandbox.url}/__sandbox/journal   (Ctrl-C stops everything)", flush=True)
        stopped.wait()
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
