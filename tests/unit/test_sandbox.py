"""The sandbox's own promises: faults as scripted, a journal, the control endpoints."""

import json
import time
import urllib.error
import urllib.request


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
