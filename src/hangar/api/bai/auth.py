"""Who is calling: HMAC-signed requests (api mode) or a console cookie (session mode).

Verification order follows the reference manager: Authorization shape, Date within the
allowed skew, signing method and version header, an active key, the signature, then the
API version. Each failure is a core error the face renders as problem+json.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.requests import HTTPConnection

from hangar.api.bai.signature import (
    SUPPORTED_VERSIONS,
    host_variants,
    media_type,
    parse_authorization,
    parse_date,
    sign,
    signatures_match,
)
from hangar.core.errors import (
    AuthFailed,
    InvalidAuthParams,
    RateLimited,
    UnsupportedVersion,
)
from hangar.core.identity.models import Caller, Role
from hangar.core.services import Services

SESSION_MODE = "hangar.session_mode"
SESSION_COOKIE = "HANGAR_SESSION"
RATE_WINDOW = "900"


class RateLimitExceeded(RateLimited):
    """A rate-limit refusal that carries the face's X-RateLimit-* headers."""

    def __init__(self, *, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(retry_after=retry_after)
        self.headers = headers


def services_of(conn: HTTPConnection) -> Services:
    services: Services = conn.app.state.services
    return services


def version_of(conn: HTTPConnection) -> tuple[str | None, str]:
    """The API version header and its (lower-case) name, preferring the current spelling."""
    value = conn.headers.get("x-backendai-version")
    if value is not None:
        return value, "x-backendai-version"
    return conn.headers.get("x-sorna-version"), "x-sorna-version"


async def check_version(request: Request) -> None:
    """Refuse API versions the face does not speak (all routes, public ones too)."""
    version, _ = version_of(request)
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion()


def _request_target(conn: HTTPConnection) -> str:
    raw: bytes = conn.scope.get("raw_path") or conn.scope["path"].encode()
    target = raw.decode("latin-1")
    query: bytes = conn.scope.get("query_string", b"")
    if query and "?" not in target:
        target += "?" + query.decode("latin-1")
    return target


def _date_header(conn: HTTPConnection) -> str:
    headers = conn.headers
    value = headers.get("date") or headers.get("x-backendai-date") or headers.get("x-sorna-date")
    if not value:
        raise InvalidAuthParams("Date/time sync error")
    return value


async def _signed_caller(conn: HTTPConnection, services: Services) -> Caller:
    header = conn.headers.get("authorization")
    if not header:
        raise AuthFailed("Unauthorized access")
    date_header = _date_header(conn)
    date = parse_date(date_header)
    skew = abs((services.clock.now() - date).total_seconds())
    if skew > services.settings.clock_skew_seconds:
        raise InvalidAuthParams("Date/time sync error")
    auth = parse_authorization(header)
    version, version_name = version_of(conn)
    if version is None:
        raise InvalidAuthParams("Missing API version header")
    credentials = await services.identity.credentials_for(auth.access_key)
    target = _request_target(conn)
    ctype = media_type(conn.headers.get("content-type"))
    for host in host_variants(conn.headers.get("host", ""), conn.url.scheme):
        expected = sign(
            secret_key=credentials.secret_key,
            hash_name=auth.hash_name,
            method=conn.scope.get("method", "GET"),
            target=target,
            date_header=date_header,
            date=date,
            host=host,
            content_type=ctype,
            version=version,
            version_header_name=version_name,
        )
        if signatures_match(expected, auth.signature):
            break
    else:
        raise AuthFailed("Signature mismatch")
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion()
    return credentials.caller


async def authenticate(conn: HTTPConnection) -> Caller:
    """Resolve the caller of an HTTP or WebSocket request. Raises an AuthError."""
    services = services_of(conn)
    if conn.scope.get(SESSION_MODE):
        token = conn.cookies.get(SESSION_COOKIE)
        if not token:
            raise AuthFailed("Unauthorized access")
        return await services.identity.caller_for_login(token)
    return await _signed_caller(conn, services)


async def current_caller(request: Request, response: Response) -> Caller:
    """FastAPI dependency: an authenticated caller within their rate limit."""
    caller = await authenticate(request)
    decision = services_of(request).identity.admit(caller)
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Window": RATE_WINDOW,
    }
    if not decision.allowed:
        raise RateLimitExceeded(retry_after=decision.retry_after, headers=headers)
    response.headers.update(headers)
    request.state.caller = caller
    return caller


async def admin_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    """A caller whose keypair has the admin flag (domain admins and superadmins)."""
    if not caller.is_admin:
        raise AuthFailed("Unauthorized access")
    return caller


async def superadmin_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if not (caller.is_admin and caller.role == Role.SUPERADMIN):
        raise AuthFailed("Unauthorized access")
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
AdminCaller = Annotated[Caller, Depends(admin_caller)]
SuperadminCaller = Annotated[Caller, Depends(superadmin_caller)]
