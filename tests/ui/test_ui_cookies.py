"""The session cookie is Secure when the UI is served over https (unit, no server)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hangar.ui import security


def request(scheme: str) -> Request:
    scope = {"type": "http", "scheme": scheme, "method": "GET", "path": "/ui/",
             "headers": [], "query_string": b"", "server": ("h", 443)}  # fmt: skip
    return Request(scope)


def test_cookie_is_secure_over_https_only() -> None:
    for scheme, secure in (("https", True), ("http", False)):
        response = Response()
        security.set_cookie(response, request(scheme), security.SESSION_COOKIE, "t", 60)
        header = response.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=lax" in header and "path=/ui" in header
        assert ("secure" in header.replace("samesite", "")) is secure
