"""Wall-clock deadlines: a host that drips its answer is cut off, in its headers or in its body."""

from __future__ import annotations

import pytest
import urllib3
from urllib3.exceptions import HTTPError

from connectors.deadline import connection_pool, deadline, pool_manager


def returned_or_raised(call) -> None:
    """Cut headers end early and may parse as a complete answer: only ``watch.expired`` tells."""
    try:
        call()
    except HTTPError:
        pass


@pytest.fixture(params=["headers", "body"])
def dripping(request, sandbox):
    """The sandbox, and the path of an answer dripping one byte every 50 ms (for minutes)."""
    if request.param == "headers":
        sandbox.files.drip("slow", b"a" * 10_000, every_s=0.05, head=b"HTTP/1.1 200 OK\r\nX-Slow: ")
    else:
        sandbox.files.drip("slow", b"{" * 10_000, every_s=0.05)
    return sandbox, "/drip/slow"


@pytest.mark.timeout(30)
def test_a_dripping_answer_is_cut_at_the_deadline(dripping):
    sandbox, path = dripping
    pools = pool_manager(retries=False, timeout=urllib3.Timeout(connect=5, read=5))
    with deadline(0.5) as watch:
        returned_or_raised(lambda: pools.request("GET", sandbox.url + path))
    assert watch.expired


@pytest.mark.timeout(30)
def test_a_single_host_pool_obeys_the_deadline_too(dripping):
    sandbox, path = dripping
    pool = connection_pool("http", "127.0.0.1", sandbox.port, retries=False, timeout=urllib3.Timeout(5, 5))
    with deadline(0.5) as watch:
        returned_or_raised(lambda: pool.urlopen("GET", path))
    assert watch.expired


def test_an_answer_within_the_deadline_is_untouched(sandbox):
    url = sandbox.files.add("a.json", b"{}")
    with deadline(30) as watch:
        assert pool_manager(retries=False).request("GET", url).data == b"{}"
    assert not watch.expired
