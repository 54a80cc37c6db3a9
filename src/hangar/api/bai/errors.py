"""Core errors as Backend.AI problem+json responses: the face's table and wording.

The look-up and the handlers every route shares are :mod:`hangar.api.common.errors`.
"""

from __future__ import annotations

from typing import Any

from hangar.api.bai.wording import message_of
from hangar.api.common.errors import ErrorTable
from hangar.api.common.responses import FaceJSONResponse
from hangar.core.errors import HangarError, NotFound, RateLimited, SessionAlreadyExists

PROBLEM_BASE = "https://api.backend.ai/probs/"

Problem = tuple[int, str, str]
# core error code -> (HTTP status, problem slug, title)
_PROBLEMS: dict[str, Problem] = {
    "invalid-request": (400, "invalid-api-params", "Missing or invalid API parameters."),
    "payload-too-large": (413, "generic-bad-request", "Request entity too large."),
    "unsupported-version": (400, "generic-bad-request", "Bad request."),
    "invalid-auth-params": (
        400,
        "invalid-auth-params",
        "Missing or invalid authorization parameters.",
    ),
    "auth-error": (401, "auth-failed", "Credential/signature mismatch."),
    "auth-failed": (401, "auth-failed", "Credential/signature mismatch."),
    "invalid-credentials": (400, "invalid-credentials", "Invalid credentials for authentication."),
    "forbidden": (403, "generic-forbidden", "Forbidden operation."),
    "insufficient-privilege": (403, "insufficient-privilege", "Insufficient privilege."),
    "not-found": (404, "object-not-found", "No such object."),
    "already-exists": (400, "generic-bad-request", "The object already exists."),
    "conflict": (409, "generic-bad-request", "The object changed state; try again."),
    "quota-exceeded": (412, "quota-exceeded", "You have reached your resource limit."),
    "rate-limited": (429, "rate-limit-exceeded", "You have reached your API query rate limit."),
    "too-many-login-failures": (429, "rate-limit-exceeded", "Too many failed login attempts."),
    "server-frozen": (
        503,
        "server-frozen",
        "The server is frozen due to maintenance. Please try again later.",
    ),
    "unavailable": (503, "service-unavailable", "Service unavailable."),
    "not-supported": (501, "not-implemented", "Not implemented."),
    # An agent failed (a kernel or service app did not start): the gateway's upstream, not
    # this server, so not a 500.
    "agent-error": (502, "agent-error", "The agent failed to carry out the operation."),
    "vfolder-already-exists": (
        400,
        "vfolder-already-exists",
        "The virtual folder already exists with the same name.",
    ),
    "vfolder-operation-failed": (
        400,
        "vfolder-operation-failed",
        "Virtual folder operation failed.",
    ),
}
INTERNAL: Problem = (500, "internal-server-error", "Internal server error.")
PROBLEMS = ErrorTable(_PROBLEMS, INTERNAL)
URL_NOT_FOUND: Problem = (404, "url-not-found", "Unknown URL path.")
METHOD_NOT_ALLOWED: Problem = (405, "method-not-allowed", "HTTP Method Not Allowed.")


def problem_response(
    status: int,
    slug: str,
    title: str,
    msg: str | None = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> FaceJSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title}
    if msg:
        body["msg"] = msg
    if data is not None:
        body["data"] = data
    return FaceJSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def render_error(exc: HangarError) -> FaceJSONResponse:
    status, slug, title = PROBLEMS.lookup(exc)
    message = message_of(exc)
    if isinstance(exc, NotFound):
        title = message
    headers = getattr(exc, "headers", None)
    if isinstance(exc, RateLimited):
        headers = {**(headers or {}), "Retry-After": str(max(1, int(exc.retry_after)))}
    msg = None if message == title else message
    return problem_response(status, slug, title, msg, _data(exc), headers)


def _data(exc: HangarError) -> Any:
    """The problem's ``data`` member: what the core attached, in this face's words."""
    if isinstance(exc, SessionAlreadyExists) and exc.existing_id is not None:
        return {"existingSessionId": str(exc.existing_id)}
    return exc.data


class BaiProblems:
    """The face's :class:`~hangar.api.common.errors.Problems`: problem+json throughout."""

    def render(self, exc: HangarError) -> FaceJSONResponse:
        return render_error(exc)

    def url_not_found(self) -> FaceJSONResponse:
        return problem_response(*URL_NOT_FOUND)

    def method_not_allowed(self) -> FaceJSONResponse:
        return problem_response(*METHOD_NOT_ALLOWED)

    def http_error(self, status: int, detail: str) -> FaceJSONResponse:
        return problem_response(status, "generic-error", detail)

    def internal(self) -> FaceJSONResponse:
        return problem_response(*INTERNAL)


BAI_PROBLEMS = BaiProblems()
