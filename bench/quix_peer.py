"""The Quix Streams peer of the skipped path: a JSON topic, the same rule as a filter, Quix's own
checkpoint commits. Runs in ``bench/.venv-quix`` (Quix Streams pins an older confluent-kafka than the
jobs do) and prints one JSON line: events, seconds from the first event to the last, CPU seconds.

    bench/.venv-quix/bin/python bench/quix_peer.py BOOTSTRAP TOPIC COUNT STATE_DIR
"""

from __future__ import annotations

import json
import sys
import time
import uuid

from quixstreams import Application

from skip_rule import wanted


def main() -> None:
    bootstrap, topic, count, state_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    app = Application(broker_address=bootstrap, consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
                      auto_offset_reset="earliest", auto_create_topics=False, use_changelog_topics=False,
                      state_dir=state_dir, loglevel="WARNING")
    seen = {"events": 0, "started": 0.0, "cpu": 0.0}

    def rule(value: object) -> bool:
        if not seen["events"]:
            seen["started"], seen["cpu"] = time.monotonic(), time.process_time()
        seen["events"] += 1
        if seen["events"] >= count:
            app.stop()
        return wanted(value)

    app.dataframe(app.topic(topic, value_deserializer="json")).filter(rule)
    app.run()
    print(json.dumps({"events": seen["events"], "seconds": time.monotonic() - seen["started"],
                      "cpu_s": time.process_time() - seen["cpu"]}))


if __name__ == "__main__":
    main()
