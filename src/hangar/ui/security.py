"""The UI's cookie session and CSRF tokens.

Signing in makes a console login (the identity service's, as Backend.AI's console has): its
token is the ``hangar_ui`` cookie (HttpOnly, SameSite=Lax, Secure over https). Every form and
every request that changes something carries a CSRF token derived from that cookie with the
installation's key; before sign-in a random ``hangar_ui_pre`` cookie plays that part for the
sign-in form itself. A missing or wrong token is refused with 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "hangar_ui"
PRE_COOKIE = "hangar_ui_pre"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/ui"
PURPOSE = "web-ui-csrf"


class CsrfRefused(Exception):
    """A mutation came without the right CSRF token (rendered as a 403 page)."""


def csrf_token(key: bytes, cookie_value: str) -> str:
    """The token forms carry for this cookie: an HMAC only the server can make."""
    return hmac.new(key, cookie_value.encode(), hashlib.sha256).hexdigest()


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=is_secure(request)
    )


async def check_csrf(request: Request, key: bytes, cookie_value: str | None) -> None:
    """Raises CsrfRefused unless the request's token (form field or header) matches."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    if not cookie_value or not sent:
        raise CsrfRefused("missing CSRF token")
    if not hmac.compare_digest(sent, csrf_token(key, cookie_value)):
        raise CsrfRefused("wrong CSRF token")
