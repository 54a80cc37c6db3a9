"""Errors in ClearML's words: result codes and subcodes from one table, in the envelope.

The face raises :class:`ClearmlError` for a precise code (400/101 invalid task id); core errors
go through :data:`RESULT_CODES`, looked up along their class's MRO, and a ``NotFound`` takes
the subcode of its kind (task, project, model, queue, ...).
"""

from __future__ import annotations

from typing import Any

from hangar.api.common.errors import ErrorTable
from hangar.core.errors import HangarError, NotFound

Result = tuple[int, int]
"""(result_code, result_subcode); the HTTP status is the result code."""


class ClearmlError(HangarError):
    """An error with ClearML's own code and subcode, raised by the face's endpoints."""

    code = "clearml-error"

    def __init__(
        self, result_code: int, subcode: int, message: str, *, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, data=data)
        self.result_code = result_code
        self.subcode = subcode


# core error code -> (result code, subcode), as the reference server's errors.conf numbers them
_RESULT_CODES: dict[str, Result] = {
    "invalid-request": (400, 12),  # validation_error
    "unknown-field": (400, 12),
    "invalid-filter-value": (400, 12),
    "unsupported-version": (400, 2),  # request_path_has_invalid_version
    "payload-too-large": (413, 0),
    "auth-error": (401, 22),  # invalid_credentials
    "auth-failed": (401, 22),
    "invalid-auth-params": (401, 21),  # bad_credentials
    "invalid-credentials": (401, 22),
    "forbidden": (403, 21),  # no_write_permission
    "insufficient-privilege": (403, 20),  # role_not_allowed
    "not-found": (400, 10),  # invalid_id (kinds below)
    "already-exists": (400, 801),  # expected_unique_data
    "conflict": (400, 121),  # failed_changing_task_status: a compare-and-set lost
    "invalid-task-status": (400, 110),  # the status table refuses a move or an edit
    "task-not-deletable": (400, 123),  # task_cannot_be_deleted
    "project-not-empty": (400, 12),
    "quota-exceeded": (403, 0),
    "rate-limited": (429, 0),  # the SDK backs off and retries
    "server-frozen": (503, 0),  # the SDK waits for the end of maintenance
    "unavailable": (503, 0),
    "not-supported": (400, 1),  # not_supported
    "queue-not-empty": (400, 702),  # queue_not_empty
    "task-not-queued": (400, 703),  # invalid_queue_or_task_not_queued
    "task-already-queued": (400, 706),  # task_already_queued
    "no-default-queue": (400, 707),  # no_default_queue
    "agent-error": (502, 0),
    "vfolder-operation-failed": (502, 0),  # a storage host failed: retried with back-off
}
INTERNAL: Result = (500, 0)
RESULT_CODES = ErrorTable(_RESULT_CODES, INTERNAL)

NOT_FOUND_SUBCODES = {
    "task": 101,  # invalid_task_id
    "model": 201,  # invalid_model_id
    "project": 401,  # invalid_project_id
    "queue": 701,  # invalid_queue_id
    "worker": 1001,  # invalid_worker_id
}

MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    413: "Request entity too large",
    429: "Too many requests",
    500: "General data error",
}


def result_of(exc: HangarError) -> Result:
    """The code and subcode a core or face error is answered with."""
    if isinstance(exc, ClearmlError):
        return exc.result_code, exc.subcode
    if isinstance(exc, NotFound) and type(exc).code == NotFound.code:
        return 400, NOT_FOUND_SUBCODES.get(exc.kind, 10)
    return RESULT_CODES.lookup(exc)


def error_data(exc: HangarError) -> dict[str, Any]:
    """The envelope's ``error_data``: what the error carries, when it is an object."""
    return dict(exc.data) if isinstance(exc.data, dict) else {}


def no_endpoint(name: str, version: str) -> ClearmlError:
    """The 404 every unknown endpoint name gets (the agent probes for some on purpose)."""
    return ClearmlError(404, 0, f"Unable to find endpoint for name {name} and version {version}")


def invalid_token(reason: str) -> ClearmlError:
    """401/30: the SDK logs in again once and retries."""
    return ClearmlError(401, 30, f"Invalid token: {reason}")
