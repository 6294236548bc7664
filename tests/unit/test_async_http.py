"""The event-loop HTTP caller (:class:`~connectors.async_http.AsyncHttpClient`) held to the threaded
caller's tests: the same calls against the sandbox over 127.0.0.1, and the same hostile hosts (drips,
bombs, odd heads, control characters), each made on the process's event loop."""

import pytest

import tests.unit.test_http as threaded
from connectors.async_http import AsyncHttpClient
from connectors.http import HttpSettings, RefusedCall
from connectors.loop_connections import LoopConnections
from connectors.retry import RetryPolicy
from tests.conftest import on_the_loop
from tests.fake_network import FakeNetwork
# The threaded caller's tests that hold for any HTTP caller, collected here too: each looks up ``client``
# in its own module, which the fixture below replaces with the event-loop client.
RUN_HERE_TOO = (
    "test_a_chunked_answer_cannot_pass_the_cap",
    "test_a_final_answer_is_not_retried",
    "test_a_form_is_sent_as_multipart_text_fields_with_its_own_content_type",
    "test_a_form_replaces_a_configured_content_type_whatever_its_case",
    "test_a_header_value_with_a_control_character_is_not_sent",
    "test_a_non_json_error_page_is_retried",
    "test_a_public_only_client_refuses_what_a_download_refuses",
    "test_a_public_only_client_resolves_once_and_connects_to_the_checked_address",
    "test_a_public_only_client_sends_none_of_the_configured_headers",
    "test_a_refused_answer_does_not_leave_its_rest_on_a_pooled_connection",
    "test_a_retry_after_of_digits_that_are_not_numbers_is_ignored",
    "test_a_service_that_drips_its_answer_is_cut_at_the_call_deadline",
    "test_a_slow_answer_times_out_and_is_retried",
    "test_an_answer_past_the_size_cap_is_refused_without_inflating_it",
    "test_an_answer_read_until_the_connection_closes_is_cut_at_the_call_deadline",
    "test_configured_headers_and_json_body_are_sent",
    "test_no_server_is_retryable",
    "test_retry_after_is_honoured",
    "test_retryable_answers_are_retried_until_success",
    "test_retries_stop_at_max_attempts",
    "test_retries_stop_when_the_next_wait_would_pass_the_time_budget",
)
globals().update({name: getattr(threaded, name) for name in RUN_HERE_TOO})


class OnTheLoop:
    """An :class:`AsyncHttpClient` called from the test's thread: each call made on the event loop."""

    def __init__(self, client: AsyncHttpClient):
        self._client = client

    def call(self, *args, **kwargs):
        return on_the_loop(self._client.call(*args, **kwargs))


def async_client(sleeps=None, attempts=4, elapsed=60.0, read_timeout=5.0, headers=None, deadline=120.0,
                 max_answer=1 << 25):
    async def sleep(seconds):
        if sleeps is not None:
            sleeps.append(seconds)

    return OnTheLoop(AsyncHttpClient("test", HttpSettings(2.0, read_timeout, 4, headers or {}, deadline, max_answer),
                                     RetryPolicy(attempts, elapsed, 0.01), sleep=sleep))


def async_public_client(allow_private=False, attempts=1, headers=None):
    return OnTheLoop(AsyncHttpClient("test", HttpSettings(0.5, 5, 4, headers or {}), RetryPolicy(attempts, 5, 0.01),
                                     public=LoopConnections(allow_private_networks=allow_private)))


@pytest.fixture(autouse=True)
def on_the_event_loop(monkeypatch):
    monkeypatch.setattr(threaded, "client", async_client)
    monkeypatch.setattr(threaded, "public_client", async_public_client)


def test_the_url_is_sent_as_given(user):
    """An encoded ``..`` stays one path segment: decoded, it would be a "parent folder" step."""
    user.contribution.add_user("..")
    answer = async_client().call("svc", "DELETE", user.url + "/program/v1/user/%2E%2E")
    assert answer.status == 200 and user.journal.all()[0].path.endswith("/user/%2E%2E")


def test_a_redirect_is_an_answer_not_followed(user):
    user.route("GET", "/moved", lambda call: threaded.Reply(302, {"moved": True}, {"Location": user.url + threaded.PATH}))
    assert async_client().call("svc", "GET", user.url + "/moved").status == 302
    assert user.journal.count() == 1


def test_a_declared_length_past_the_cap_is_refused_before_reading(user):
    """Refused on its head: the host that declares 10 MB and then waits is not waited for."""
    def large_then_pause(out):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{")
        out.flush()
        threaded.time.sleep(3)
    user.route("GET", "/large", lambda call: threaded.Reply(200, threaded.Raw(large_then_pause)))
    with pytest.raises(RefusedCall, match="larger than 1000 bytes"):
        async_client(attempts=1, deadline=1.0, max_answer=1000).call("svc", "GET", user.url + "/large")


@pytest.mark.parametrize("length", ["\xb2", "9" * 5000])
def test_an_answer_whose_content_length_is_not_a_number_is_no_answer(sandbox, length):
    """aiohttp's parser refuses such a head (the threaded caller reads the body within the cap): either
    way no exception escapes the call but its own."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    sandbox.route("GET", "/odd", lambda call: threaded.Reply(200, threaded.Raw(
        lambda out: out.write(head.encode("latin-1") + b'{"a": 1}'))))
    with pytest.raises(threaded.RetriesExhausted, match="no answer"):
        async_client(attempts=1).call("svc", "GET", f"{sandbox.url}/odd")


def test_a_name_is_looked_up_once_for_the_calls_that_follow(user, monkeypatch):
    """A lookup is a thread hop and a DNS query: made once per name for ``NAME_TTL_S``, as aiohttp's own
    connector does for the configured services."""
    network = FakeNetwork(monkeypatch, {"source.test": ["127.0.0.1"]})
    user.contribution.add_user("u-1")
    user.contribution.add_user("u-2")
    public = async_public_client(allow_private=True)
    for name in ("u-1", "u-2"):
        assert public.call("svc", "DELETE", f"http://source.test:{user.port}/program/v1/user/{name}").status == 200
    assert network.lookups == ["source.test"] and user.journal.count() == 2


def test_a_name_whose_addresses_all_refuse_is_looked_up_again(user, monkeypatch):
    """The service moved: the next call does not go back to the address that refused."""
    network = FakeNetwork(monkeypatch, {"moved.test": ["8.8.4.4", "127.0.0.1"]})
    user.contribution.add_user("u-1")
    public = async_public_client(allow_private=True)
    url = f"http://moved.test:{user.port}/program/v1/user/u-1"
    with pytest.raises(threaded.RetriesExhausted, match="no answer"):
        public.call("svc", "DELETE", url)
    assert public.call("svc", "DELETE", url).status == 200
    assert network.lookups == ["moved.test", "moved.test"]


def test_a_name_whose_address_never_answers_is_looked_up_again(user, monkeypatch):
    """A connect timeout (a firewall dropping the packets of a moved service) counts as a refusal: the
    next call looks the name up again."""
    network = FakeNetwork(monkeypatch, {"moved.test": ["10.9.9.9", "127.0.0.1"]}, silent=("10.9.9.9",))
    user.contribution.add_user("u-1")
    public = async_public_client(allow_private=True)
    url = f"http://moved.test:{user.port}/program/v1/user/u-1"
    with pytest.raises(threaded.RetriesExhausted):
        public.call("svc", "DELETE", url)
    assert public.call("svc", "DELETE", url).status == 200
    assert network.lookups == ["moved.test", "moved.test"]
