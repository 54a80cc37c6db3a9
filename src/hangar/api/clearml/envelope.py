"""The ``{"meta": {...}, "data": {...}}`` envelope of every reply, HTTP status = result code.

One :class:`Envelope` per request holds what the meta tells (call id, transaction, endpoint
and versions) and words every answer of that request, errors included: it is the face's
:class:`~hangar.api.common.errors.Problems` for the shared error plumbing.
"""

from __future__ import annotations

import logging
from typing import Any

from hangar.api.clearml.errors import MESSAGES, error_data, result_of
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import HangarError

log = logging.getLogger("hangar.api.clearml")

API_VERSION = "2.31"
"""The API version Hangar announces (clearml-server 2.0's); the SDK picks its code paths by it."""
SERVER_VERSION = "2.0.0"


class Envelope:
    """The meta of one call, and its answers."""

    __slots__ = ("call_id", "trx", "name", "requested_version")

    def __init__(self, call_id: str, trx: str | None = None) -> None:
        self.call_id = call_id
        self.trx = trx or call_id
        self.name = ""
        self.requested_version = API_VERSION

    def _meta(self, code: int, subcode: int, msg: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.call_id,
            "trx": self.trx,
            "endpoint": {
                "name": self.name,
                "requested_version": self.requested_version,
                "actual_version": self.requested_version,
            },
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
            "error_data": data,
        }

    def ok(self, data: dict[str, Any]) -> FaceJSONResponse:
        return FaceJSONResponse({"meta": self._meta(200, 0, "OK", {}), "data": data})

    def error(
        self, code: int, subcode: int, msg: str, data: dict[str, Any] | None = None
    ) -> FaceJSONResponse:
        meta = self._meta(code, subcode, msg, data or {})
        return FaceJSONResponse({"meta": meta, "data": {}}, status_code=code)

    # Problems ---------------------------------------------------------------------------

    def render(self, exc: HangarError) -> FaceJSONResponse:
        code, subcode = result_of(exc)
        if code >= 500:
            log.warning("%s answered %d/%d: %s", self.name, code, subcode, exc.message)
        response = self.error(code, subcode, exc.message, error_data(exc))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            response.headers["retry-after"] = str(max(1, int(retry_after)))
        return response

    def url_not_found(self) -> FaceJSONResponse:
        return self.error(404, 0, f"Unable to find endpoint for name {self.name}")

    def method_not_allowed(self) -> FaceJSONResponse:
        return self.error(405, 0, "Method not allowed: use GET, POST or PUT")

    def http_error(self, status: int, detail: str) -> FaceJSONResponse:
        return self.error(status, 0, detail or MESSAGES.get(status, "Error"))

    def internal(self) -> FaceJSONResponse:
        return self.error(500, 0, MESSAGES[500])
