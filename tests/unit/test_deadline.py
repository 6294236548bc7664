"""Wall-clock deadlines: a host that drips its answer is cut off, in its headers or in its body."""

from __future__ import annotations

import pytest
import urllib3
from urllib3.exceptions import HTTPError

from connectors.deadline import connection_pool, deadline, pool_manager
from sandbox.drip import DripServer


def returned_or_raised(call) -> None:
    """Cut headers end early and may parse as a complete answer: only ``watch.expired`` tells."""
    try:
        call()
    except HTTPError:
        pass


@pytest.fixture(params=["headers", "body"])
def dripping(request):
    if request.param == "headers":
        server = DripServer(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")
    else:
        server = DripServer(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"{")
    yield server
    server.close()


@pytest.mark.timeout(30)
def test_a_dripping_answer_is_cut_at_the_deadline(dripping):
    pools = pool_manager(retries=False, timeout=urllib3.Timeout(connect=5, read=5))
    with deadline(0.5) as watch:
        returned_or_raised(lambda: pools.request("GET", f"http://127.0.0.1:{dripping.port}/x"))
    assert watch.expired


@pytest.mark.timeout(30)
def test_a_single_host_pool_obeys_the_deadline_too(dripping):
    pool = connection_pool("http", "127.0.0.1", dripping.port, retries=False, timeout=urllib3.Timeout(5, 5))
    with deadline(0.5) as watch:
        returned_or_raised(lambda: pool.urlopen("GET", "/x"))
    assert watch.expired


def test_an_answer_within_the_deadline_is_untouched():
    with DripServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", b"") as server, deadline(30) as watch:
        assert pool_manager(retries=False).request("GET", f"http://127.0.0.1:{server.port}/").data == b"{}"
    assert not watch.expired
