"""The sandbox's own promises: faults as scripted, a journal, the control endpoints; blocking routes on worker
threads, raw answers, refusals, and a clean stop."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from sandbox.routes import Raw, Reply
from sandbox.server import SunbirdSandbox
from tests.conftest import wait_for


def call(url, method="DELETE", body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_contribution_service_answers(sandbox):
    sandbox.contribution.add_user("u1")
    sandbox.contribution.add_user("boss", role="admin")
    status, body = call(sandbox.url + "/program/v1/user/u1")
    assert status == 200 and json.loads(body)["responseCode"] == "OK"
    assert call(sandbox.url + "/program/v1/user/boss")[0] == 500
    status, body = call(sandbox.url + "/program/v1/user/ghost")
    assert status == 404 and json.loads(body)["result"] == {"response": "User not found in OS"}
    assert call(sandbox.url + "/program/v1/user/boss")[0] == 404  # sticky, as in program-service
    assert call(sandbox.url + "/program/v1/user/transfer", "POST", {"nothing": 1})[0] == 400
    assert call(sandbox.url + "/program/v1/user/transfer", "POST", {"request": {"a": 1}})[0] == 200
    status, body = call(sandbox.url + "/program/v1/user/")
    assert status == 404 and body.startswith("<!DOCTYPE html>")  # as Express answers a missing route
    assert sandbox.contribution.deleted == ["u1"] and sandbox.contribution.transfers == [{"a": 1}]


def test_scripted_statuses_then_normal_answers(sandbox):
    sandbox.contribution.add_user("u1")
    sandbox.faults.script("DELETE", "/program/v1/user/", [503, 400, 200, 502], html=True)
    statuses = [call(sandbox.url + "/program/v1/user/u1")[0] for _ in range(5)]
    assert statuses == [503, 400, 200, 502, 200]
    assert [r.status for r in sandbox.journal.all()] == statuses


def test_outage_window_and_latency(sandbox):
    sandbox.contribution.add_user("u1")
    sandbox.faults.outage(0.3)
    assert call(sandbox.url + "/program/v1/user/u1")[0] == 503
    deadline = time.monotonic() + 5
    while call(sandbox.url + "/program/v1/user/u1")[0] == 503 and time.monotonic() < deadline:
        pass
    assert call(sandbox.url + "/program/v1/user/u1")[0] == 200
    sandbox.faults.latency(0.2, "DELETE")
    started = time.monotonic()
    call(sandbox.url + "/program/v1/user/u1")
    assert time.monotonic() - started >= 0.2


def test_control_endpoints(sandbox):
    status, _ = call(sandbox.url + "/__sandbox/faults", "POST",
                     {"scripts": [{"method": "POST", "prefix": "/program/v1/user/transfer", "statuses": [429]}]})
    assert status == 200
    assert call(sandbox.url + "/program/v1/user/transfer", "POST", {"request": {}})[0] == 429
    status, body = call(sandbox.url + "/__sandbox/journal", "GET")
    assert [(r["method"], r["status"]) for r in json.loads(body)] == [("POST", 429)]


def test_a_blocking_route_does_not_hold_up_the_others(sandbox):
    """A ``blocking`` route runs on a worker thread: the event loop answers the other routes meanwhile."""
    release = threading.Event()
    sandbox.route("GET", "/slow", lambda call: Reply(200, {"released": release.wait(10)}), blocking=True)
    sandbox.route("GET", "/quick", lambda call: Reply(200, {"quick": True}))
    slow = {}
    waiting = threading.Thread(target=lambda: slow.update(answer=call(sandbox.url + "/slow", "GET")))
    waiting.start()
    wait_for(lambda: sandbox.journal.arrived == 1, 5, "the slow call")
    assert call(sandbox.url + "/quick", "GET") == (200, '{"quick": true}')
    assert not slow
    release.set()
    waiting.join(10)
    assert slow["answer"] == (200, '{"released": true}')


def test_a_raw_answer_arrives_as_written_and_nothing_after_it(sandbox):
    written = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut"

    def write(out) -> None:
        for piece in (written[:9], written[9:20], written[20:]):
            out.write(piece)
            out.flush()
    sandbox.route("GET", "/raw", lambda call: Reply(200, Raw(write)))
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as connection:
        connection.sendall(b"GET /raw HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        received = b""
        while chunk := connection.recv(4096):  # the sandbox closes the connection after the answer
            received += chunk
    assert received == written


def test_refused_connections_then_the_same_port_again(sandbox):
    sandbox.contribution.add_user("u1")
    idle = socket.create_connection(("127.0.0.1", sandbox.port), timeout=5)
    sandbox.refuse(1.0)
    assert sandbox.refusing
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sandbox.port), timeout=5)
    try:
        idle.sendall(b"DELETE /program/v1/user/u1 HTTP/1.1\r\nHost: sandbox\r\n\r\n")
        assert idle.recv(4096) == b""  # dropped unanswered
    except ConnectionError:
        pass  # or reset: dropped either way
    finally:
        idle.close()
    wait_for(lambda: not sandbox.refusing, 10, "connections accepted again")
    assert call(sandbox.url + "/program/v1/user/u1")[0] == 200
    assert sandbox.contribution.deleted == ["u1"]


def test_long_request_lines_and_headers_are_accepted(sandbox):
    sandbox.route("GET", "/echo", lambda call: Reply(200, {"query": len(call.query["q"]),
                                                           "header": len(call.headers["X-Long"])}))
    request = urllib.request.Request(f"{sandbox.url}/echo?q={'a' * 60_000}", headers={"X-Long": "b" * 60_000})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == {"query": 60_000, "header": 60_000}


def test_a_stopped_sandbox_leaves_its_port_free_and_no_thread():
    before = set(threading.enumerate())  # others' threads may end meanwhile: only this sandbox's are counted
    with SunbirdSandbox() as sandbox:
        sandbox.files.add("slow", b"data", delay_s=0.01)  # a blocking route: a worker thread
        assert call(f"{sandbox.url}/files/slow", "GET") == (200, "data")
        started = set(threading.enumerate()) - before
        assert len(started) >= 2  # the loop's and a worker
    wait_for(lambda: not any(thread.is_alive() for thread in started), 5, "the sandbox's threads to end")
    socket.create_server(("127.0.0.1", sandbox.port)).close()


def test_a_refusal_during_a_refusal_reopens_after_the_later_one():
    with SunbirdSandbox() as sandbox:
        sandbox.contribution.add_user("u1")
        sandbox.refuse(0.2)
        sandbox.refuse(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", sandbox.port), timeout=5)
        wait_for(lambda: not sandbox.refusing, 10, "connections accepted again")
        assert call(sandbox.url + "/program/v1/user/u1")[0] == 200
