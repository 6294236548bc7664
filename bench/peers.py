"""The peers and floors of ``make bench``, each in a process of its own, on the same events and service
as the jobs: what the work costs done by the library a Python team would pick instead (Quix Streams,
:mod:`bench.quix_peer`) and by bare clients. Each prints one JSON line: how many, seconds from the first
to the last, CPU seconds of the process meanwhile.

    python -m bench.peers consumer BOOTSTRAP TOPIC COUNT                  # consume 500, json.loads, rule, commit
    python -m bench.peers http-threads BASE_URL PREFIX COUNT CONCURRENCY  # urllib3 on threads: DELETE PREFIX-0 ...
    python -m bench.peers http-asyncio BASE_URL PREFIX COUNT CONCURRENCY  # aiohttp on one event loop: the same
    python -m bench.peers http-replay BASE_URL CALLS_FILE CONCURRENCY     # aiohttp: the calls a job made, again
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from bench.skip_rule import wanted


class Clock:
    """Wall and CPU time from the first unit of work on."""

    def __init__(self) -> None:
        self.started = self.cpu = None

    def start(self) -> None:
        if self.started is None:
            self.started, self.cpu = time.monotonic(), time.process_time()

    def result(self, done: int) -> dict:
        return {"done": done, "seconds": time.monotonic() - self.started, "cpu_s": time.process_time() - self.cpu}


def consumer(bootstrap: str, topic: str, count: int) -> dict:
    """A bare confluent-kafka loop: the floor of the skipped path."""
    from confluent_kafka import Consumer

    clock, done, kept = Clock(), 0, 0
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-bare-{uuid.uuid4().hex[:8]}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    reader.subscribe([topic])
    try:
        while done < count:
            batch = reader.consume(500, 1.0)
            if not batch:
                continue
            clock.start()
            for message in batch:
                if message.error() is None:
                    kept += wanted(json.loads(message.value()))
                    done += 1
            reader.commit(asynchronous=False)
    finally:
        reader.close()
    return clock.result(done)


def user_urls(base_url: str, prefix: str, count: int) -> list[str]:
    return [f"{base_url}/program/v1/user/{quote(f'{prefix}-{n}', safe='')}" for n in range(count)]


def http_threads(urls: list[str], concurrency: int) -> dict:
    """The same DELETE calls as user-delete, on ``concurrency`` threads sharing one urllib3 pool."""
    import urllib3

    pool, clock = urllib3.PoolManager(maxsize=concurrency), Clock()

    def call(url: str) -> int:
        answer = pool.request("DELETE", url, headers={"Content-Type": "application/json"})
        json.loads(answer.data)
        return answer.status

    clock.start()
    with ThreadPoolExecutor(concurrency) as threads:
        statuses = list(threads.map(call, urls))
    return clock.result(sum(status == 200 for status in statuses))


def http_asyncio(urls: list[str], concurrency: int) -> dict:
    """The same calls on one asyncio loop with aiohttp, at most ``concurrency`` at once."""
    import aiohttp

    async def run() -> int:
        limit = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            async def call(url: str) -> int:
                async with limit, session.delete(url, headers={"Content-Type": "application/json"}) as answer:
                    json.loads(await answer.read())
                    return answer.status
            return sum(status == 200 for status in await asyncio.gather(*(call(url) for url in urls)))

    clock = Clock()
    clock.start()
    done = asyncio.run(run())
    return clock.result(done)


FILE_SIZE = 64 * 1024  # an answer this large is a file the job stores: the replay stores it too


def http_replay(base_url: str, calls: list[dict], concurrency: int) -> dict:
    """The calls a job made (method, path, headers and body, as the sandbox's journal holds them), made again
    on one asyncio loop with aiohttp, at most ``concurrency`` at once: each answer read whole, a JSON one
    parsed, a file stored as the jobs' local storage keeps it (in a folder of its own, kept to the end). The
    floor of a job's own calls and transfers; ``unlike`` counts the answers whose status is not the one the
    job got (a create made again may meet the object already there), which may cost less than the job's."""
    import aiohttp

    async def run(container: Path) -> list[bool]:
        limit = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            async def call(number: int, made: dict) -> bool:
                body = made["body"].encode() if isinstance(made["body"], str) else made["body"]
                async with limit, session.request(made["method"], base_url + made["path"], data=body,
                                                  headers=made["headers"]) as answer:
                    data = await answer.read()
                    if answer.content_type == "application/json":
                        json.loads(data)
                    elif len(data) >= FILE_SIZE:
                        folder = container / str(number)
                        folder.mkdir()
                        (folder / "file").write_bytes(data)
                    return answer.status == made["status"]
            return await asyncio.gather(*(call(number, made) for number, made in enumerate(calls)))

    clock = Clock()
    with tempfile.TemporaryDirectory() as container:
        clock.start()
        alike = asyncio.run(run(Path(container)))
        return {**clock.result(len(alike)), "unlike": alike.count(False)}


def main(argv: list[str]) -> None:
    kind, target, *rest = argv
    if kind == "consumer":
        result = consumer(target, rest[0], int(rest[1]))
    elif kind == "http-replay":
        with open(rest[0]) as lines:
            result = http_replay(target, [json.loads(line) for line in lines], int(rest[1]))
    else:
        prefix, count, concurrency = rest[0], int(rest[1]), int(rest[2])
        calls = {"http-threads": http_threads, "http-asyncio": http_asyncio}[kind]
        result = calls(user_urls(target, prefix, count), concurrency)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
