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
from flows.event import BadValue, text
from flows.job import Done, Fail, Result, Skip
from flows.logs import short_hash
from flows.user_delete.rules import DELETE_USER

SERVICE = "program-service"


def user_url(base_url: str, user_id: str) -> str:
    return f"{base_url.rstrip('/')}/program/v1/user/{path_segment(user_id)}"


def transfer_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/program/v1/user/transfer"


def handle(client: HttpClient, base_url: str, topic: str, event: dict) -> Result:
    if text(event, "edata.action") == DELETE_USER:
        user_id = text(event, "edata.userId")
        answer = client.call(SERVICE, "DELETE", user_url(base_url, user_id))
        if answer.status == 404:
            return Skip("not a coKreat user: the contribution service answered 404", 404)
        return judge(answer, "delete user", (user_id,))
    return judge(client.call(SERVICE, "POST", transfer_url(base_url), {"request": event}), "ownership transfer",
                 _user_ids(event, "edata.fromUserProfile.userId", "edata.toUserProfile.userId"))


def _user_ids(event: dict, *paths: str) -> tuple[str, ...]:
    """The user ids at ``paths`` that are text; the others are not the job's to judge here."""
    found = []
    for path in paths:
        try:
            found.append(text(event, path))
        except BadValue:
            pass
    return tuple(user for user in found if user)


def judge(answer: Answer, what: str, users: tuple[str | None, ...] = ()) -> Result:
    """200 with ``responseCode`` ``OK`` is success; anything else is a final failure, whose text shows
    the event's user ids only as :func:`~flows.logs.short_hash` should the service repeat them."""
    code = answer.body.get("responseCode") if isinstance(answer.body, dict) else None
    if answer.status == 200 and code == "OK":
        return Done(answer.status)
    error = f"{what}: HTTP {answer.status}, responseCode {code!r}{_error_text(answer.body)}"
    for user in users:
        if user and user.strip():
            error = error.replace(user, short_hash(user))
    return Fail(error, answer.status)


def _error_text(body: object) -> str:
    """The service's own error code and message, which carry no personal data."""
    params = body.get("params") if isinstance(body, dict) else None
    if not isinstance(params, dict):
        return ""
    parts = [str(params[k]) for k in ("err", "errmsg") if isinstance(params.get(k), str)]
    return f" ({': '.join(parts)})" if parts else ""
