"""Who is calling: HMAC-signed requests (api mode) or a console cookie (session mode).

``BaiAuth`` is a pure ASGI layer in front of the face's routes. It checks the API version of
every request, verifies the caller when credentials are present and counts them against
their rate limit; routes then ask for the privilege they need with :func:`user`,
:func:`admin` or :func:`superadmin`, which raise the stored failure (or "Unauthorized
access" when the request carried no credentials). Public routes simply do not ask.

Verification order follows the reference manager: Authorization shape, Date within the
allowed skew, signing method and version header, an active key, the signature, then the
API version.
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hangar.api.bai.errors import render_error
from hangar.api.bai.signature import (
    SUPPORTED_VERSIONS,
    host_variants,
    media_type,
    parse_authorization,
    parse_date,
    signatures_match,
)
from hangar.api.common.context import RESPONSE_HEADERS
from hangar.core.errors import (
    AuthFailed,
    HangarError,
    InvalidAuthParams,
    RateLimited,
    Unavailable,
    UnsupportedVersion,
)
from hangar.core.principal import Principal, Role
from hangar.core.services import Services
from hangar.util.signing import SigningKeys

log = logging.getLogger("hangar.api.bai")

SESSION_MODE = "hangar.session_mode"
CALLER = "hangar.caller"
AUTH_ERROR = "hangar.auth_error"
SESSION_COOKIE = "HANGAR_SESSION"
RATE_WINDOW = b"900"
SIGNATURE_MISMATCH = "Signature mismatch"  # also for unknown keys, as they must look alike

_WANTED = frozenset(
    {
        b"authorization",
        b"date",
        b"x-backendai-date",
        b"x-sorna-date",
        b"x-backendai-version",
        b"x-sorna-version",
        b"content-type",
        b"host",
        b"cookie",
    }
)


class RateLimitExceeded(RateLimited):
    """A rate-limit refusal that carries the face's X-RateLimit-* headers."""

    def __init__(self, *, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(retry_after=retry_after)
        self.headers = headers


def _headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _version(headers: dict[bytes, str]) -> tuple[str | None, str]:
    value = headers.get(b"x-backendai-version")
    if value is not None:
        return value, "x-backendai-version"
    return headers.get(b"x-sorna-version"), "x-sorna-version"


def _request_target(scope: Scope) -> str:
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    target = raw.decode("latin-1")
    query: bytes = scope.get("query_string", b"")
    if query and "?" not in target:
        target += "?" + query.decode("latin-1")
    return target


class BaiAuth:
    """Version check, caller verification and rate limiting for the Backend.AI face."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services
        self.keys = SigningKeys()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        version, version_name = _version(headers)
        state: dict[str, Any] = scope.setdefault("state", {})
        try:
            if version is not None and version not in SUPPORTED_VERSIONS:
                raise UnsupportedVersion()
            caller = await self._caller(scope, headers, version, version_name)
        except UnsupportedVersion as exc:  # refused on every route, public ones too
            if scope["type"] == "http":
                await render_error(exc)(scope, receive, send)
                return
            state[AUTH_ERROR] = exc
            caller = None
        except HangarError as exc:
            state[AUTH_ERROR] = exc
            caller = None
        except Exception:
            log.exception("authentication failed unexpectedly")
            state[AUTH_ERROR] = Unavailable("Authentication is temporarily unavailable.")
            caller = None
        if caller is None:
            await self.app(scope, receive, send)
            return
        state[CALLER] = caller
        decision = self.services.identity.admit(caller)
        extra = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
            (b"x-ratelimit-window", RATE_WINDOW),
        ]
        if not decision.allowed and scope["type"] == "http":
            headers_out = {k.decode(): v.decode() for k, v in extra}
            response = render_error(
                RateLimitExceeded(retry_after=decision.retry_after, headers=headers_out)
            )
            await response(scope, receive, send)
            return

        response_headers = scope.get(RESPONSE_HEADERS)
        if response_headers is not None:  # the request-context layer sends them
            response_headers.extend(extra)
            await self.app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)

    async def _caller(
        self, scope: Scope, headers: dict[bytes, str], version: str | None, version_name: str
    ) -> Principal | None:
        if scope.get(SESSION_MODE):
            token = _cookie(headers.get(b"cookie"))
            if not token:
                return None
            return await self.services.identity.caller_for_login(token)
        header = headers.get(b"authorization")
        if not header:
            return None
        return await self._signed_caller(scope, headers, header, version, version_name)

    async def _signed_caller(
        self,
        scope: Scope,
        headers: dict[bytes, str],
        header: str,
        version: str | None,
        version_name: str,
    ) -> Principal:
        date_header = (
            headers.get(b"date") or headers.get(b"x-backendai-date") or headers.get(b"x-sorna-date")
        )
        if not date_header:
            raise InvalidAuthParams("Date/time sync error")
        date = parse_date(date_header)
        services = self.services
        if (
            abs(services.clock.time() - date.timestamp())
            > services.settings.auth.clock_skew_seconds
        ):
            raise InvalidAuthParams("Date/time sync error")
        auth = parse_authorization(header)
        if version is None:
            raise InvalidAuthParams("Missing API version header")
        identity = services.identity
        credentials = identity.cached_credentials(auth.access_key)
        secret, refused = "", ""  # why a known key is refused: told only to its holder
        if credentials is None:
            try:
                credentials = await identity.credentials_for(auth.access_key)
            except AuthFailed:  # the same answer as a wrong secret: no probing for keys
                log.info("signed request with an unknown or inactive access key")
                found = await identity.refused_credentials(auth.access_key)
                if found is None:
                    raise AuthFailed(SIGNATURE_MISMATCH) from None
                secret, refused = found
        if credentials is not None:
            secret = credentials.secret_key
        target = _request_target(scope)
        ctype = media_type(headers.get(b"content-type"))
        method = scope.get("method", "GET")
        for host in host_variants(headers.get(b"host", ""), scope.get("scheme", "http")):
            expected = self.keys.sign(
                secret_key=secret,
                hash_name=auth.hash_name,
                method=method,
                target=target,
                date_header=date_header,
                date=date,
                host=host,
                content_type=ctype,
                version=version,
                version_header_name=version_name,
            )
            if signatures_match(expected, auth.signature):
                if credentials is None:
                    raise AuthFailed(refused)
                return credentials.caller
        raise AuthFailed(SIGNATURE_MISMATCH)


def _cookie(header: str | None) -> str | None:
    if not header or SESSION_COOKIE not in header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is just "no cookie"
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None


def user(conn: HTTPConnection) -> Principal:
    """The verified caller of this request. Raises the authentication failure otherwise."""
    state = conn.scope.get("state", {})
    caller: Principal | None = state.get(CALLER)
    if caller is not None:
        return caller
    error: HangarError | None = state.get(AUTH_ERROR)
    raise error if error is not None else AuthFailed("Unauthorized access")


def admin(conn: HTTPConnection) -> Principal:
    """A caller whose keypair has the admin flag (domain admins and superadmins)."""
    caller = user(conn)
    if not caller.is_admin:
        raise AuthFailed("Unauthorized access")
    return caller


def superadmin(conn: HTTPConnection) -> Principal:
    caller = user(conn)
    if not (caller.is_admin and caller.role == Role.SUPERADMIN):
        raise AuthFailed("Unauthorized access")
    return caller
