"""``{"message", "code", "data"}`` on every answer, errors included: the face's
:class:`~hangar.api.common.errors.Problems` for the shared error plumbing."""

from __future__ import annotations

import logging
from typing import Any

from hangar.api.cloud.errors import BAD_METHOD, NO_ROUTE, SUCCESS, SYSTEM, Code, code_of
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import HangarError

log = logging.getLogger("hangar.api.cloud")


def ok(data: Any) -> FaceJSONResponse:
    return FaceJSONResponse({"message": "success", "code": SUCCESS, "data": data})


def answer(entry: Code, message: str | None = None, data: Any = None) -> FaceJSONResponse:
    body = {"message": message or entry.message, "code": entry.code, "data": data}
    return FaceJSONResponse(body, status_code=entry.status)


class CloudProblems:
    """How the face words the errors the shared plumbing answers."""

    def render(self, exc: HangarError) -> FaceJSONResponse:
        entry = code_of(exc)
        if entry.status >= 500:
            log.warning("answered %d/%d: %s", entry.status, entry.code, exc.message)
            response = answer(entry)
        elif entry.status == 200:  # business errors keep the seed's wording
            response = answer(entry, f"{entry.message}: {exc.message}")
        else:
            data = dict(exc.data) if isinstance(exc.data, dict) else None
            response = answer(entry, exc.message, data)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            response.headers["retry-after"] = str(max(1, int(retry_after)))
        return response

    def url_not_found(self) -> FaceJSONResponse:
        return answer(NO_ROUTE)

    def method_not_allowed(self) -> FaceJSONResponse:
        return answer(BAD_METHOD)

    def http_error(self, status: int, detail: str) -> FaceJSONResponse:
        entry = Code(status, SYSTEM.code if status >= 500 else 10001, detail or "Error")
        return answer(entry)

    def internal(self) -> FaceJSONResponse:
        return answer(SYSTEM)
