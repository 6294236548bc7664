"""The HTTP caller against the sandbox server over 127.0.0.1."""

import gzip
import socket
import threading
import time
import tracemalloc

import pytest

from connectors.address import PublicConnections
from connectors.http import HttpClient, RefusedCall, RetriesExhausted, backoff_seconds, retry_after_seconds
from flows.settings import HttpSettings, RetrySettings
from sandbox.drip import DripServer
from sandbox.server import Reply
from tests.fake_network import FakeNetwork

PATH = "/program/v1/user/u1"


def client(sleeps=None, attempts=4, elapsed=60.0, read_timeout=5.0, headers=None, deadline=120.0, max_answer=1 << 25):
    return HttpClient("test", HttpSettings(2.0, read_timeout, 4, headers or {}, deadline, max_answer),
                      RetrySettings(attempts, elapsed, 0.01),
                      sleep=(sleeps.append if sleeps is not None else lambda s: None))


@pytest.fixture
def user(sandbox):
    sandbox.contribution.add_user("u1")
    return sandbox


def test_retryable_answers_are_retried_until_success(user):
    user.faults.script("DELETE", PATH, [503, 502, 429])
    answer = client().call("svc", "DELETE", user.url + PATH)
    assert answer.status == 200 and answer.body["responseCode"] == "OK"
    assert [r.status for r in user.journal.all()] == [503, 502, 429, 200]


def test_a_final_answer_is_not_retried(user):
    answer = client().call("svc", "DELETE", user.url + "/program/v1/user/unknown")
    assert answer.status == 404
    assert user.journal.count() == 1


def test_retries_stop_at_max_attempts(user):
    user.faults.script("DELETE", PATH, [500] * 10)
    with pytest.raises(RetriesExhausted) as raised:
        client(attempts=3).call("svc", "DELETE", user.url + PATH)
    assert raised.value.status == 500
    assert user.journal.count() == 3


def test_retries_stop_when_the_next_wait_would_pass_the_time_budget(user):
    user.faults.script("DELETE", PATH, [503] * 10, retry_after="30")
    with pytest.raises(RetriesExhausted):
        client(attempts=10, elapsed=5.0).call("svc", "DELETE", user.url + PATH)
    assert user.journal.count() == 1


def test_retry_after_is_honoured(user):
    user.faults.script("DELETE", PATH, [503], retry_after="2")
    sleeps = []
    client(sleeps).call("svc", "DELETE", user.url + PATH)
    assert sleeps == [2.0]


def test_a_non_json_error_page_is_retried(user):
    user.faults.script("DELETE", PATH, [502, 404], html=True)
    answer = client().call("svc", "DELETE", user.url + PATH)
    assert answer.status == 200
    assert user.journal.count() == 3


def test_a_slow_answer_times_out_and_is_retried(user):
    user.faults.latency(1.0, "DELETE", PATH)
    with pytest.raises(RetriesExhausted, match="timed out") as raised:
        client(attempts=2, read_timeout=0.2).call("svc", "DELETE", user.url + PATH)
    assert raised.value.status is None


def test_no_server_is_retryable():
    from sandbox.broker import free_port

    with pytest.raises(RetriesExhausted, match="no answer"):
        client(attempts=2).call("svc", "DELETE", f"http://127.0.0.1:{free_port()}{PATH}")


def test_configured_headers_and_json_body_are_sent(user):
    client(headers={"Authorization": "Bearer t"}).call(
        "svc", "POST", user.url + "/program/v1/user/transfer", {"request": {"n": 10**30}})
    request = user.journal.all()[0]
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {"request": {"n": 10**30}}


def test_backoff_grows_with_jitter_and_retry_after_parses_dates():
    assert backoff_seconds(1, 1.0, rand=lambda: 0.0) == 0.5
    assert backoff_seconds(3, 1.0, rand=lambda: 1.0) == 4.0
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\nX-Slow: ", b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n{"])
def test_a_service_that_drips_its_answer_is_cut_at_the_call_deadline(head):
    """One byte every 50 ms never trips the read timeout; the wall-clock deadline ends each attempt."""
    with DripServer(head, b" ") as server, pytest.raises(RetriesExhausted, match="no complete answer within 0.5s"):
        client(attempts=2, deadline=0.5).call("svc", "GET", f"http://127.0.0.1:{server.port}/")


def test_an_answer_past_the_size_cap_is_refused_without_inflating_it(sandbox):
    bomb = gzip.compress(b"{" + b" " * 200_000_000 + b"}", 9)  # 200 MB of JSON in about 200 KB
    sandbox.route("GET", "/bomb", lambda call: Reply(200, bomb, {"Content-Type": "application/json",
                                                                 "Content-Encoding": "gzip"}))
    tracemalloc.start()
    try:
        with pytest.raises(RefusedCall, match="larger than 1048576 bytes") as raised:
            client(max_answer=1 << 20).call("svc", "GET", f"{sandbox.url}/bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert raised.value.status == 200 and peak < 20_000_000
    assert sandbox.journal.count("GET", "/bomb") == 1  # not worth retrying
    sandbox.route("GET", "/small", lambda call: Reply(200, gzip.compress(b'{"a": 1}'), {
        "Content-Type": "application/json", "Content-Encoding": "gzip"}))
    assert client(max_answer=1 << 20).call("svc", "GET", f"{sandbox.url}/small").body == {"a": 1}


@pytest.mark.parametrize("value", ["a\r\n X-Injected: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb", "\tlead"])
def test_a_header_value_with_a_control_character_is_not_sent(user, value):
    with pytest.raises(RefusedCall, match="X-Channel-Id holds a control character"):
        client().call("svc", "DELETE", user.url + PATH, headers={"X-Channel-Id": value})
    assert user.journal.count() == 0


def test_a_public_only_client_resolves_once_and_connects_to_the_checked_address(sandbox, monkeypatch):
    """``edata.repository`` comes from an event: DNS rebinding must not move the read inside the network."""
    network = FakeNetwork(monkeypatch, {"rebind.test": ["8.8.8.8", "127.0.0.1"]})
    public = HttpClient("test", HttpSettings(0.5, 5, 4, {"Authorization": "Bearer ours"}), RetrySettings(1, 5, 0.01),
                        public=PublicConnections(allow_private_networks=False))
    with pytest.raises(RetriesExhausted, match="no answer"):
        public.call("source", "GET", f"http://rebind.test:{sandbox.port}/api/questionset/v1/read/do_1")
    assert network.lookups == ["rebind.test"] and network.connected == [("8.8.8.8", sandbox.port)]
    assert sandbox.journal.arrived == 0


@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:{port}/api/x", "not a public address"),
    ("http://127.0.0.1:{port}\\@8.8.8.8/api/x", "backslash"),
    ("http://u:p@8.8.8.8/api/x", "user name or password"),
    ("", "only http and https"),
    ("http://a..b/api/x", "not a valid host name")])
def test_a_public_only_client_refuses_what_a_download_refuses(sandbox, url, problem):
    public = HttpClient("test", HttpSettings(0.5, 5, 4, {}), RetrySettings(3, 5, 0.01),
                        public=PublicConnections(allow_private_networks=False))
    with pytest.raises(RefusedCall, match=problem):
        public.call("source", "GET", url.format(port=sandbox.port))
    assert sandbox.journal.arrived == 0


def test_a_public_only_client_sends_none_of_the_configured_headers(sandbox):
    sandbox.route("GET", "/api/read", lambda call: Reply(200, {"headers": dict(call.headers)}))
    public = HttpClient("test", HttpSettings(0.5, 5, 4, {"Authorization": "Bearer ours"}), RetrySettings(1, 5, 0.01),
                        public=PublicConnections(allow_private_networks=True))
    sent = public.call("source", "GET", f"{sandbox.url}/api/read").body["headers"]
    assert "Authorization" not in sent and sent["Host"] == f"127.0.0.1:{sandbox.port}"


@pytest.mark.timeout(60)
def test_an_answer_read_until_the_connection_closes_is_cut_at_the_call_deadline():
    """Without Content-Length (nor chunked), http.client drops the socket from the connection once the
    head is read, so the deadline found nothing to shut: a host dripping its body held the call for ever."""
    started = time.monotonic()
    with DripServer(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{", b" ") as server, \
            pytest.raises(RetriesExhausted, match="no complete answer within 0.5s"):
        client(attempts=2, deadline=0.5).call("svc", "GET", f"http://127.0.0.1:{server.port}/")
    assert time.monotonic() - started < 5


@pytest.mark.timeout(60)
@pytest.mark.parametrize("length", [b"\xb2", b"1\xb9"])  # "²" and "1¹": str.isdigit() says yes, int() says no
def test_a_content_length_of_other_digits_is_not_an_error_of_the_job(length):
    """A source at ``edata.repository`` (any public host) answering ``Content-Length: ²`` made
    read_capped raise ValueError, which the pipeline logs as a handler error with a traceback."""
    with DripServer(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\n{}", b"") as server, \
            pytest.raises(RetriesExhausted, match="no complete answer"):
        client(attempts=1, deadline=0.5).call("svc", "GET", f"http://127.0.0.1:{server.port}/")


def one_answer(head: bytes, megabytes: int) -> "socket.socket":
    """A host answering one request with ``head`` then ``megabytes`` MiB of spaces; its listening socket."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            try:
                connection.sendall(head)
                for _ in range(megabytes):
                    connection.sendall(b" " * (1 << 20))
            except OSError:
                pass

    threading.Thread(target=answer, daemon=True).start()
    return listener


@pytest.mark.parametrize("head", [
    # Content-Length and chunked: read as chunked, whatever length it declares
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n5000000\r\n",
    # a negative chunk size: urllib3's chunk reader (stream()) reads to the end of the connection
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
])
def test_a_chunked_answer_cannot_pass_the_cap(head):
    """Either answer made read_capped take all 50 MiB into memory, past a 1 MiB cap."""
    listener = one_answer(head, 50)
    tracemalloc.start()
    try:
        with pytest.raises((RefusedCall, RetriesExhausted)):
            client(attempts=1, max_answer=1 << 20).call("svc", "GET", f"http://127.0.0.1:{listener.getsockname()[1]}/")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        listener.close()
    assert peak < 20_000_000
