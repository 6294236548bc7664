"""What the user-delete job does with a valid event (spec §4, with the fixes of §10).

* delete: ``DELETE {program-service-baseUrl}/program/v1/user/{id}``, the id one
  percent-encoded path segment, so ``/``, ``..`` or ``?`` in it cannot change the request;
* transfer: ``POST {program-service-baseUrl}/program/v1/user/transfer`` with
  ``{"request": <event>}``.

200 with ``responseCode`` ``OK`` is success; a 404 with a JSON body on delete means the
user is not a coKreat user (nothing to delete: skipped); any other final answer fails.
"""

from __future__ import annotations

from connectors.http import Answer, HttpClient, path_segment
from flows.event import text
from flows.job import Done, Fail, Result, Skip
from flows.user_delete.rules import DELETE_USER

SERVICE = "program-service"


def user_url(base_url: str, user_id: str) -> str:
    return f"{base_url.rstrip('/')}/program/v1/user/{path_segment(user_id)}"


def transfer_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/program/v1/user/transfer"


def handle(client: HttpClient, base_url: str, topic: str, event: dict) -> Result:
    if text(event, "edata.action") == DELETE_USER:
        answer = client.call(SERVICE, "DELETE", user_url(base_url, text(event, "edata.userId")))
        if answer.status == 404:
            return Skip("not a coKreat user: the contribution service answered 404", 404)
        return judge(answer, "delete user")
    return judge(client.call(SERVICE, "POST", transfer_url(base_url), {"request": event}), "ownership transfer")


def judge(answer: Answer, what: str) -> Result:
    """200 with ``responseCode`` ``OK`` is success; anything else is a final failure."""
    code = answer.body.get("responseCode") if isinstance(answer.body, dict) else None
    if answer.status == 200 and code == "OK":
        return Done(answer.status)
    return Fail(f"{what}: HTTP {answer.status}, responseCode {code!r}{_error_text(answer.body)}", answer.status)


def _error_text(body: object) -> str:
    """The service's own error code and message, which carry no personal data."""
    params = body.get("params") if isinstance(body, dict) else None
    if not isinstance(params, dict):
        return ""
    parts = [str(params[k]) for k in ("err", "errmsg") if isinstance(params.get(k), str)]
    return f" ({': '.join(parts)})" if parts else ""
