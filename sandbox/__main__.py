"""``python -m sandbox``: the embedded broker and the Sunbird sandbox, until Ctrl-C.

For trying a job by hand: point ``kafka.broker-servers`` and ``program-service-baseUrl``
at the printed addresses. Users the contribution service knows are given with
``--user ID`` (repeatable); faults are set with ``POST /__sandbox/faults``.
"""

from __future__ import annotations

import argparse
import threading

from sandbox.broker import EmbeddedBroker
from sandbox.server import SunbirdSandbox


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--topic", action="append", default=[], help="topic to create (repeatable)")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--user", action="append", default=[], help="a user coKreat knows (repeatable)")
    args = parser.parse_args()
    with EmbeddedBroker() as broker, SunbirdSandbox() as sandbox:
        broker.create_topics(args.topic, partitions=args.partitions)
        for user in args.user:
            sandbox.contribution.add_user(user)
        print(f"kafka.broker-servers = \"{broker.bootstrap}\"\nprogram-service-baseUrl = \"{sandbox.url}\"\n"
              f"journal: {sandbox.url}/__sandbox/journal   (Ctrl-C stops both)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
