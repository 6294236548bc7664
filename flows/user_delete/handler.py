"""What the user-delete job does with a valid event, and how it judges the answers.

* delete: ``DELETE {program-service-baseUrl}{user_delete.path_prefix}/v1/user/{id}``;
* transfer: ``POST {program-service-baseUrl}{user_delete.path_prefix}/v1/user/transfer`` with
  ``{"request": <event>}`` (:class:`~connectors.sunbird.ProgramService`).

200 with ``responseCode`` ``OK`` is success. A 404 on delete is skipped only when its
``result.response`` says the user was not found (not in coKreat's registry, or no longer in
Sunbird): program-service answers *every* error with 404 once it has answered one "not found"
(its status is a process-wide variable), so any other 404 (an org admin, an org without an admin, ...) fails, with the
service's own words. Any other final answer fails too.
"""

from __future__ import annotations

import re

from connectors.http import Answer
from connectors.sunbird import ProgramService
from flows.runtime.event import BadValue
from flows.runtime.job import Done, Fail, Result, Skip
from flows.runtime.logs import short_hash
from flows.user_delete.rules import DELETE_USER
from flows.user_delete.view import UserEvent

# "User not found in OS", "User not found in Sunbird": the user, not someone else (an org's admin), not found.
_USER_NOT_FOUND = re.compile(r"\s*user\s+not\s+found\b", re.IGNORECASE)


async def handle(service: ProgramService, topic: str, event: dict) -> Result:
    """One call, awaited on the event loop (``service`` calls through an
    :class:`~connectors.async_http.AsyncHttpClient`), then judged."""
    view = UserEvent(event)
    if view.action == DELETE_USER:
        return judge_delete(await service.delete_user(view.user_id), view.user_id)
    return judge(await service.transfer(event), "ownership transfer", _user_ids(view))


def _user_ids(view: UserEvent) -> tuple[str, ...]:
    """The transfer's user ids that are text; the others are not the job's to judge here."""
    found = []
    for read in (lambda: view.from_user_id, lambda: view.to_profile_text("userId")):
        try:
            found.append(read())
        except BadValue:
            pass
    return tuple(user for user in found if user)


def judge_delete(answer: Answer, user_id: str) -> Result:
    """A user Sunbird or coKreat does not know has nothing to delete (skipped); see the module's text."""
    response = _response_text(answer.body)
    if answer.status == 404 and response is not None and _USER_NOT_FOUND.match(response):
        return Skip(f"not deleted: program-service answered 404 {_without(response, (user_id,))[:100]!r}", 404)
    return judge(answer, "delete user", (user_id,))


def _response_text(body: object) -> str | None:
    result = body.get("result") if isinstance(body, dict) else None
    response = result.get("response") if isinstance(result, dict) else None
    return response if isinstance(response, str) else None


def judge(answer: Answer, what: str, users: tuple[str | None, ...] = ()) -> Result:
    """200 with ``responseCode`` ``OK`` is success; anything else is a final failure, whose text shows
    the event's user ids only as :func:`~flows.runtime.logs.short_hash` should the service repeat them."""
    code = answer.body.get("responseCode") if isinstance(answer.body, dict) else None
    if answer.status == 200 and code == "OK":
        return Done(answer.status)
    return Fail(_without(f"{what}: HTTP {answer.status}, responseCode {code!r}{_error_text(answer.body)}", users),
                answer.status)


def _without(text: str, users: tuple[str | None, ...]) -> str:
    """``text`` with each of the event's user ids the service repeated shown as its short hash."""
    for user in users:
        if user and user.strip():
            text = text.replace(user, short_hash(user))
    return text


def _error_text(body: object) -> str:
    """The service's own error code, message and ``result.response`` ("Admin for the org not found")."""
    params = body.get("params") if isinstance(body, dict) else None
    parts = [params[k] for k in ("err", "errmsg") if isinstance(params, dict) and isinstance(params.get(k), str)]
    text = f" ({': '.join(parts)})" if parts else ""
    response = _response_text(body)
    return f"{text}: {response}" if response else text  # shortened with the rest of the error
