"""The contribution service (program-service) routes the user-delete job calls.

Answers as program-service does: the ``OK`` envelope on success; an error
envelope for a user Sunbird or coKreat does not know ("User not found in ..."), for a user
it may not delete (an org admin) and for an org user whose org has no admin; 400 for a
transfer without a ``request`` object. As in program-service, the HTTP status of an error
is sticky: 500 until the first "not found", 404 for every error after it. State is in memory.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any
from urllib.parse import unquote

from sandbox.routes import Call, Reply, Router

DELETABLE_ROLES = {"individual", "user"}
ORG_USER_WITHOUT_ADMIN = "user-without-org-admin"  # a contributing org's member whose org has no admin


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
    def __init__(self, server: Router):
        self._lock = threading.Lock()
        self.users: dict[str, str] = {}  # user id -> role in the contribution registry
        self.gone_from_sunbird: set[str] = set()  # users Sunbird's own search no longer finds
        self.error_status = 500  # program-service's module-global status: 404 after the first "not found"
        self.deleted: list[str] = []  # user ids, in the order their deletes succeeded
        self.transfers: list[dict] = []  # relayed ownership-transfer events
        server.route("DELETE", r"/program/v1/user/(?P<user>[^/?#]+)", self._delete)
        server.route("POST", r"/program/v1/user/transfer", self._transfer)

    def add_user(self, user_id: str, role: str = "individual") -> None:
        with self._lock:
            self.users[user_id] = role

    def remove_from_sunbird(self, user_id: str) -> None:
        """Sunbird's search no longer finds the user (already blanked by its own clean-up)."""
        with self._lock:
            self.gone_from_sunbird.add(user_id)

    def _delete(self, call: Call) -> Reply:
        user_id = unquote(call.match["user"])
        with self._lock:
            role = self.users.get(user_id)
            if user_id in self.gone_from_sunbird:
                return self._not_found("User not found in Sunbird")
            if role is None:
                return self._not_found("User not found in OS")
            if role == ORG_USER_WITHOUT_ADMIN:
                self.deleted.append(user_id)  # the soft delete happens before the admin is looked for
                return self._not_found("Admin for the org not found")
            if role not in DELETABLE_ROLES:
                return self._error("Can only delete Individual or contributing org user")
            self.deleted.append(user_id)
        return Reply(200, envelope({"response": "User deleted Successfully ${req.params.userId}"}))

    def _not_found(self, response: str) -> Reply:
        self.error_status = 404
        return self._error(response)

    def _error(self, response: str) -> Reply:
        return Reply(self.error_status, error_envelope({"response": response}))

    def _transfer(self, call: Call) -> Reply:
        request = call.body.get("request") if isinstance(call.body, dict) else None
        if not isinstance(request, dict):
            failed = error_envelope({})
            del failed["responseCode"]  # the original reads an undefined constant here
            return Reply(400, failed)
        with self._lock:
            self.transfers.append(request)
        return Reply(200, {"responseCode": "OK", "params": {"status": "successful"}, "result": {}})
