"""The face's response codes (seed 004) from one table, and the HTTP status of each.

Business errors (not found, wrong state, in use) travel as HTTP 200 with their code, as the
platform does; malformed bodies 400/10001, authentication 401/40101, rate limits 429/429,
anything unexpected 500/10002 (spec §1.3, §4 item 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from hangar.api.common.errors import ErrorTable
from hangar.core.errors import HangarError, NotFound

SUCCESS = 10000


@dataclass(frozen=True, slots=True)
class Code:
    status: int  # the HTTP status
    code: int  # the envelope's code
    message: str  # the message when the error carries none worth showing


INVALID = Code(400, 10001, "Invalid request parameters")
SYSTEM = Code(500, 10002, "System error")
RECORD_NOT_EXIST = Code(200, 10007, "Record not exist")
VM_NOT_FOUND = Code(200, 11000, "VM not found")
VM_STATUS_INVALID = Code(200, 11001, "VM status invalid")
NO_TERMINATE_PERMISSION = Code(200, 11002, "No terminate permissions")
STATUS_INVALID = Code(200, 12001, "Resource status invalid")
POD_NOT_FOUND = Code(200, 13000, "Pod not found")
ENDPOINT_NOT_FOUND = Code(200, 14000, "Endpoint not found")
UNAUTHORIZED = Code(401, 40101, "Authentication context not found")
RATE_LIMITED = Code(429, 429, "Too many requests")
NO_ROUTE = Code(404, 10007, "No such route")
BAD_METHOD = Code(405, 10001, "Method not allowed")
# Not in the seed (it documents no billing codes): a business error like the others.
DAILY_LIMIT = Code(200, 10010, "Daily cost limit reached")
SERVERLESS_UNAVAILABLE = Code(200, 24000, "Serverless unavailable")
TASK_NOT_FOUND = Code(200, 24011, "Task does not exist")


class CloudError(HangarError):
    """An error with one of the face's codes, raised by its routes."""

    code = "cloud-error"

    def __init__(self, entry: Code, message: str | None = None) -> None:
        super().__init__(message or entry.message)
        self.entry = entry


_CODES: dict[str, Code] = {
    "invalid-request": INVALID,
    "unknown-field": INVALID,
    "invalid-filter-value": INVALID,
    "payload-too-large": Code(413, 10001, "Request body too large"),
    "auth-error": UNAUTHORIZED,
    "auth-failed": UNAUTHORIZED,
    "invalid-auth-params": UNAUTHORIZED,
    "invalid-credentials": UNAUTHORIZED,
    "forbidden": RECORD_NOT_EXIST,  # another owner's object looks unknown (§4 item 19)
    "insufficient-privilege": RECORD_NOT_EXIST,
    "not-found": RECORD_NOT_EXIST,
    "already-exists": INVALID,
    "conflict": STATUS_INVALID,
    "in-use": STATUS_INVALID,
    "quota-exceeded": STATUS_INVALID,
    "daily-limit-reached": DAILY_LIMIT,
    "rate-limited": RATE_LIMITED,
    "server-frozen": Code(503, 10002, "Service unavailable"),
    "unavailable": Code(503, 10002, "Service unavailable"),
    "not-supported": INVALID,
    "agent-error": Code(502, 10002, "System error"),
    "not-queue-mode": Code(200, 10001, "Invalid request parameters"),
    "queue-unavailable": SERVERLESS_UNAVAILABLE,
}
CODES = ErrorTable(_CODES, SYSTEM)

NOT_FOUND_BY_KIND = {
    "vm": VM_NOT_FOUND, "pod": POD_NOT_FOUND, "endpoint": ENDPOINT_NOT_FOUND,
    "task": TASK_NOT_FOUND,
}  # fmt: skip


def code_of(exc: HangarError) -> Code:
    """The entry a core or face error is answered with."""
    if isinstance(exc, CloudError):
        return exc.entry
    if isinstance(exc, NotFound) and exc.kind in NOT_FOUND_BY_KIND:
        return NOT_FOUND_BY_KIND[exc.kind]
    return CODES.lookup(exc)
