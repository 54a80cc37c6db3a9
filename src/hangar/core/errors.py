"""The one error tree of Hangar's core.

Every leaf carries a stable ``code`` and no HTTP knowledge; each API face maps codes to its
own wire format in a single table.

    HangarError
    ├── InvalidRequest            bad input: a field is missing, malformed or out of range
    │   ├── UnknownField          a list's filter or ordering names no field of the list
    │   ├── InvalidFilterValue    a filter's value does not fit its field
    │   └── InvalidValue          a request field's value cannot be taken (field, reason)
    ├── AuthError
    │   ├── InvalidAuthParams     Date / Authorization header malformed, clock skew
    │   ├── AuthFailed            unknown or inactive key, signature mismatch, bad password
    │   └── InvalidCredentials
    ├── Forbidden
    │   └── InsufficientPrivilege
    ├── NotFound                  carries the object kind ("session", "user", ...)
    ├── AlreadyExists
    ├── Conflict                  a state machine refused a move
    ├── QuotaExceeded
    ├── RateLimited
    ├── ServerFrozen
    ├── Unavailable               (DiskFull: the data dir's free-space reserve is reached)
    └── NotSupported              a documented operation this installation does not offer
"""

from __future__ import annotations

import uuid
from typing import Any


class HangarError(Exception):
    """Base of every error the core raises on purpose."""

    code = "internal-error"
    default_message = "Internal error."

    def __init__(self, message: str | None = None, *, data: Any = None) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)


class InvalidRequest(HangarError):
    code = "invalid-request"
    default_message = "Missing or invalid parameters."


class UnknownField(InvalidRequest):
    """A list's filter or ordering names a field the list does not have."""

    code = "unknown-field"

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"unknown field {field!r}")


class InvalidFilterValue(InvalidRequest):
    """A filter compares a field with a value that does not fit it (``reason`` says why)."""

    code = "invalid-filter-value"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"bad value for {field}: {reason}")


class InvalidValue(InvalidRequest):
    """A request's ``field`` (the core's name for it) holds a value the core cannot take;
    ``reason`` says why. Faces word it with their own name for the field."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class UnsupportedVersion(InvalidRequest):
    code = "unsupported-version"
    default_message = "Unsupported API version."


class AuthError(HangarError):
    code = "auth-error"
    default_message = "Authentication failed."


class InvalidAuthParams(AuthError):
    code = "invalid-auth-params"
    default_message = "Missing or invalid authorization parameters."


class AuthFailed(AuthError):
    code = "auth-failed"
    default_message = "Credential/signature mismatch."


class InvalidCredentials(AuthError):
    code = "invalid-credentials"
    default_message = "Invalid credentials for authentication."


class Forbidden(HangarError):
    code = "forbidden"
    default_message = "Forbidden operation."


class InsufficientPrivilege(Forbidden):
    code = "insufficient-privilege"
    default_message = "Insufficient privilege."


class NotFound(HangarError):
    """No ``kind`` (a neutral noun: "session", "folder", "agent", ...) the caller may see.

    ``ref`` is the name or id asked for and ``hint`` a suggestion (close names), where
    given; ``detail`` is a message of the raiser's own, which faces pass on as it is.
    """

    code = "not-found"

    def __init__(
        self,
        kind: str,
        message: str | None = None,
        *,
        ref: str | None = None,
        hint: str | None = None,
        data: Any = None,
    ) -> None:
        self.kind = kind
        self.ref = ref
        self.hint = hint
        self.detail = message
        default = f"No such {kind}" + (f": {ref}" if ref is not None else "")
        default += f" ({hint})" if hint else ("" if ref is not None else ".")
        super().__init__(message or default, data=data)


class AlreadyExists(HangarError):
    code = "already-exists"
    default_message = "The object already exists."


class Conflict(HangarError):
    code = "conflict"
    default_message = "The object changed state; try again."


class QuotaExceeded(HangarError):
    code = "quota-exceeded"
    default_message = "You have reached your resource limit."


class RateLimited(HangarError):
    code = "rate-limited"
    default_message = "You have reached your API query rate limit."

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class TooManyLoginFailures(RateLimited):
    code = "too-many-login-failures"
    default_message = "Too many failed login attempts; try again later."


class ServerFrozen(HangarError):
    code = "server-frozen"
    default_message = "The server is frozen due to maintenance. Please try again later."


class Unavailable(HangarError):
    code = "unavailable"
    default_message = "Service unavailable."


class DiskFull(Unavailable):
    code = "disk-full"
    default_message = "The server's disk is almost full."


class PayloadTooLarge(InvalidRequest):
    code = "payload-too-large"


class NotSupported(HangarError):
    code = "not-supported"
    default_message = "This operation is not supported."


class AgentError(HangarError):
    """An agent failed to do what it was asked (start, stop, run in a kernel)."""

    code = "agent-error"
    default_message = "The agent failed to carry out the operation."


class AgentGone(AgentError):
    """A remote agent did not answer or broke off a call (it restarts, or the network is
    down): what it was running may well go on there."""


class KernelCreationFailed(AgentError):
    code = "kernel-creation-failed"
    default_message = "The session's kernel could not be started."


class SessionAlreadyExists(AlreadyExists):
    code = "session-already-exists"
    default_message = "The session already exists but you requested not to reuse existing one."

    def __init__(self, message: str | None = None, *, existing_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.existing_id = existing_id  # the live session of that name, where known


class TooManySessionsMatched(NotFound):
    code = "too-many-sessions-matched"

    def __init__(self, matches: list[dict[str, str]]) -> None:
        super().__init__("session", "Too many sessions matched.", data={"matches": matches})


class VFolderAlreadyExists(AlreadyExists):
    code = "vfolder-already-exists"
    default_message = "The virtual folder already exists with the same name."


class FolderDeleteRefused(InvalidRequest):
    """A folder named ``name`` is not the caller's to delete: they reach it without owning it
    (``reachable``) or do not reach one of that name at all."""

    def __init__(self, name: str, *, reachable: bool) -> None:
        self.name = name
        self.reachable = reachable
        super().__init__(
            f"Only the folder's owner may delete {name!r}."
            if reachable
            else f"No folder named {name!r} to delete."
        )


class FolderInUse(InvalidRequest):
    """A folder cannot be deleted while sessions that are not over mount it: ``sessions``
    names the caller's own (name, id), ``others`` counts other users' sessions."""

    def __init__(
        self,
        name: str,
        folder_id: uuid.UUID,
        sessions: list[tuple[str, uuid.UUID]],
        others: int,
    ) -> None:
        self.name = name
        self.folder_id = folder_id
        self.sessions = sessions
        self.others = others
        count = len(sessions) + others
        super().__init__(
            f"The folder {name!r} is mounted by {count} session{'s' if count != 1 else ''} "
            "that are not over; end them first."
        )


class StorageFailed(HangarError):
    """A storage host could not carry out a file or folder operation."""

    code = "vfolder-operation-failed"
    default_message = "The storage operation failed."
