"""The HTTP caller against the sandbox server over 127.0.0.1."""

import contextlib
import gzip
import socket
import threading
import time
import tracemalloc

import pytest
import urllib3

from connectors.address import PublicConnections
from connectors.http import HttpClient, RefusedCall, RetriesExhausted, retry_after_seconds
from connectors.retry import backoff_seconds
from connectors.http import HttpSettings
from connectors.retry import RetryPolicy
from sandbox.routes import Raw, Reply
from tests.fake_network import FakeNetwork

PATH = "/program/v1/user/u1"


def client(sleeps=None, attempts=4, elapsed=60.0, read_timeout=5.0, headers=None, deadline=120.0, max_answer=1 << 25):
    return HttpClient("test", HttpSettings(2.0, read_timeout, 4, headers or {}, deadline, max_answer),
                      RetryPolicy(attempts, elapsed, 0.01),
                      sleep=(sleeps.append if sleeps is not None else lambda s: None))


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
    from sandbox.process import free_port

    with pytest.raises(RetriesExhausted, match="no answer"):
        client(attempts=2).call("svc", "DELETE", f"http://127.0.0.1:{free_port()}{PATH}")


def test_configured_headers_and_json_body_are_sent(user):
    client(headers={"Authorization": "Bearer t"}).call(
        "svc", "POST", user.url + "/program/v1/user/transfer", {"request": {"n": 10**30}})
    request = user.journal.all()[0]
    assert request.headers["Authorization"] == "Bearer t"
    assert request.headers["Content-Type"] == "application/json"
    assert request.body == {"request": {"n": 10**30}}


def test_a_form_is_sent_as_multipart_text_fields_with_its_own_content_type(user):
    client().call("svc", "POST", user.url + "/program/v1/user/transfer", form={"fileUrl": "https://x/a b.pdf"})
    request = user.journal.all()[0]
    kind = request.headers["Content-Type"]
    assert kind.startswith("multipart/form-data; boundary=")
    boundary = kind.partition("boundary=")[2]
    assert f'--{boundary}\r\nContent-Disposition: form-data; name="fileUrl"\r\n\r\nhttps://x/a b.pdf\r\n' \
        in request.body


def test_a_form_replaces_a_configured_content_type_whatever_its_case(user):
    """Two Content-Type headers (the configured one in other case, and the form's) let the service read the
    multipart body as JSON."""
    client(headers={"content-type": "application/json"}).call(
        "svc", "POST", user.url + "/program/v1/user/transfer", form={"fileUrl": "u"})
    request = user.journal.all()[0]
    kinds = [value for name, value in request.headers.items() if name.lower() == "content-type"]
    assert len(kinds) == 1 and kinds[0].startswith("multipart/form-data; boundary=")


def test_backoff_grows_with_jitter_and_retry_after_parses_dates():
    assert backoff_seconds(1, 1.0, rand=lambda: 0.0) == 0.5
    assert backoff_seconds(3, 1.0, rand=lambda: 1.0) == 4.0
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize("head", [b"HTTP/1.1 200 OK\r\nX-Slow: ", b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n{"])
def test_a_service_that_drips_its_answer_is_cut_at_the_call_deadline(sandbox, head):
    """One byte every 50 ms never trips the read timeout; the wall-clock deadline ends each attempt."""
    url = sandbox.files.drip("slow", b" " * 10_000, every_s=0.05, head=head)
    with pytest.raises(RetriesExhausted, match="no complete answer within 0.5s"):
        client(attempts=2, deadline=0.5).call("svc", "GET", url)


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


def public_client(allow_private=False, attempts=1, headers=None):
    """A client for another instance, at URLs from events (``public=``): checked addresses only."""
    return HttpClient("test", HttpSettings(0.5, 5, 4, headers or {}), RetryPolicy(attempts, 5, 0.01),
                      public=PublicConnections(allow_private_networks=allow_private))


def test_a_public_only_client_resolves_once_and_connects_to_the_checked_address(sandbox, monkeypatch):
    """``edata.repository`` comes from an event: DNS rebinding must not move the read inside the network."""
    network = FakeNetwork(monkeypatch, {"rebind.test": ["8.8.8.8", "127.0.0.1"]})
    public = public_client(headers={"Authorization": "Bearer ours"})
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
    public = public_client(attempts=3)
    with pytest.raises(RefusedCall, match=problem):
        public.call("source", "GET", url.format(port=sandbox.port))
    assert sandbox.journal.arrived == 0


def test_a_public_only_client_sends_none_of_the_configured_headers(sandbox):
    sandbox.route("GET", "/api/read", lambda call: Reply(200, {"headers": dict(call.headers)}))
    public = public_client(allow_private=True, headers={"Authorization": "Bearer ours"})
    sent = public.call("source", "GET", f"{sandbox.url}/api/read").body["headers"]
    assert "Authorization" not in sent and sent["Host"] == f"127.0.0.1:{sandbox.port}"


@pytest.mark.parametrize("value", ["\xb2", "\xb9\xb3"])  # superscript digits: str.isdigit() says yes, float() no
def test_a_retry_after_of_digits_that_are_not_numbers_is_ignored(user, value):
    assert retry_after_seconds(value) is None
    user.faults.script("DELETE", PATH, [503], retry_after=value)
    assert client().call("svc", "DELETE", user.url + PATH).status == 200


@pytest.mark.parametrize("length", ["\xb2", "9" * 5000])  # not a number to int(): past its 4,300 digits too
def test_an_answer_whose_content_length_is_not_a_number_is_read_within_the_cap(sandbox, length):
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    sandbox.route("GET", "/odd", lambda call: Reply(200, Raw(lambda out: out.write(head.encode("latin-1") + b'{"a": 1}'))))
    answer = client(attempts=1).call("svc", "GET", f"{sandbox.url}/odd")
    assert answer.body == {"a": 1}


def test_a_refused_answer_does_not_leave_its_rest_on_a_pooled_connection(user):
    """The connection of an answer refused as too large still holds its unread body: the next call must
    not be sent on it (it failed with "no answer (ProtocolError)" once the host had paused)."""
    def large_then_pause(out):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{")
        out.flush()
        time.sleep(2)
    user.route("GET", "/large", lambda call: Reply(200, Raw(large_then_pause)))
    calls = client(attempts=1, max_answer=1000)
    with pytest.raises(RefusedCall, match="larger than 1000 bytes"):
        calls.call("svc", "GET", f"{user.url}/large")
    assert calls.call("svc", "DELETE", user.url + PATH).status == 200




def test_a_deadline_passing_after_an_answer_does_not_cut_the_next_call_on_its_connection(user, monkeypatch):
    """urllib3 returns a connection to its pool as soon as the answer is read, inside the call's deadline: a
    deadline that passes then must not shut the socket another thread is using by then."""
    user.route("GET", "/quick", lambda call: Reply(200, {"ok": True}))
    user.faults.latency(0.25, "DELETE", PATH)
    calls = client(attempts=1, deadline=0.3)
    release, other = urllib3.response.HTTPResponse.release_conn, {}

    def call_again() -> None:  # on the connection just released, 0.1 s later: in flight when the first deadline passes
        time.sleep(0.1)
        try:
            other["answer"] = calls.call("svc", "DELETE", user.url + PATH).status
        except RetriesExhausted as err:
            other["answer"] = str(err)

    def release_and_pause(response):
        release(response)
        if threading.current_thread() is threading.main_thread() and not other:
            other["thread"] = threading.Thread(target=call_again)
            other["thread"].start()
            time.sleep(0.4)  # the first call's deadline passes meanwhile
    monkeypatch.setattr(urllib3.response.HTTPResponse, "release_conn", release_and_pause)
    with contextlib.suppress(RetriesExhausted):  # its own deadline passed in the pause: it may count as failed
        calls.call("svc", "GET", f"{user.url}/quick")
    other["thread"].join()
    assert other["answer"] == 200


@pytest.mark.timeout(60)
def test_an_answer_read_until_the_connection_closes_is_cut_at_the_call_deadline(sandbox):
    """Without Content-Length (nor chunked), http.client drops the socket from the connection once the
    head is read, so the deadline found nothing to shut: a host dripping its body held the call for ever."""
    url = sandbox.files.drip("slow", b" " * 10_000, every_s=0.05,
                             head=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{")
    with pytest.raises(RetriesExhausted, match="no complete answer within 0.5s"):
        client(attempts=2, deadline=0.5).call("svc", "GET", url)


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
