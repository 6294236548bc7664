"""The contribution service (program-service) routes the user-delete job calls.

Answers as the spec's §4.3-§4.4 describe: the ``OK`` envelope on success; 404 with a
JSON error envelope for a user coKreat does not know; 500 for a user it may not delete
(an org admin); 400 for a transfer without a ``request`` object. State is in memory.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:
    from sandbox.server import SunbirdSandbox

from sandbox.server import Call, Reply

DELETABLE_ROLES = {"individual", "user"}


def envelope(result: Any) -> dict:
    return {"id": "api.v1.user", "ver": "1.0",
            "params": {"msgid": str(uuid.uuid4()), "status": "successful", "err": None, "errmsg": None},
            "responseCode": "OK", "result": result}


def error_envelope(result: Any, code: str = "SERVER_ERROR") -> dict:
    return {"id": "api.v1.user", "ver": "1.0",
            "params": {"msgid": str(uuid.uuid4()), "status": "failed", "err": "ERR_DELETING_USER_FAILED",
                       "errmsg": "Unable to delete given user"},
            "responseCode": code, "result": result}


class ContributionService:
    def __init__(self, server: "SunbirdSandbox"):
        self._lock = threading.Lock()
        self.users: dict[str, str] = {}  # user id -> role in the contribution registry
        self.deleted: list[str] = []  # user ids, in the order their deletes succeeded
        self.transfers: list[dict] = []  # relayed ownership-transfer events
        server.route("DELETE", r"/program/v1/user/(?P<user>[^/?#]+)", self._delete)
        server.route("POST", r"/program/v1/user/transfer", self._transfer)

    def add_user(self, user_id: str, role: str = "individual") -> None:
        with self._lock:
            self.users[user_id] = role

    def _delete(self, call: Call) -> Reply:
        user_id = unquote(call.match["user"])
        with self._lock:
            role = self.users.get(user_id)
            if role is None:
                return Reply(404, error_envelope({"response": "User not found in OS"}))
            if role not in DELETABLE_ROLES:
                return Reply(500, error_envelope({"response": "Can only delete Individual or contributing org user"}))
            self.deleted.append(user_id)
        return Reply(200, envelope({"response": "User deleted Successfully ${req.params.userId}"}))

    def _transfer(self, call: Call) -> Reply:
        request = call.body.get("request") if isinstance(call.body, dict) else None
        if not isinstance(request, dict):
            failed = error_envelope({})
            del failed["responseCode"]  # the original reads an undefined constant here
            return Reply(400, failed)
        with self._lock:
            self.transfers.append(request)
        return Reply(200, {"responseCode": "OK", "params": {"status": "successful"}, "result": {}})
