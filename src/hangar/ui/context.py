"""What every page handler gets: the services, the templates, and the signed-in viewer.

``@page`` resolves the viewer from the session cookie (or sends the browser to the sign-in
page); ``@mutation`` also checks the CSRF token; ``@admin_page`` refuses non-administrators.
Core errors become error pages with the status a browser understands, never a 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hangar.core.errors import (
    AlreadyExists,
    AuthError,
    Conflict,
    Forbidden,
    HangarError,
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ServerFrozen,
)
from hangar.core.principal import Principal
from hangar.core.services import Services
from hangar.ui import security
from hangar.ui.assets import UI_DIR, Vendor

log = logging.getLogger("hangar.ui")

Handler = Callable[[Request], Awaitable[Response]]
ViewerHandler = Callable[[Request, "Viewer"], Awaitable[Response]]

STATUS_OF: list[tuple[type[HangarError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (AuthError, 403),
    (AlreadyExists, 409),
    (Conflict, 409),
    (RateLimited, 429),
    (QuotaExceeded, 403),
    (ServerFrozen, 503),
    (InvalidRequest, 400),
]


def status_of(error: HangarError) -> int:
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 400


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request and the tokens its pages carry."""

    principal: Principal
    token: str
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


class Ui:
    """The face's state: services, template environment, vendor assets, CSRF key."""

    def __init__(self, services: Services, prefix: str, vendor: Vendor) -> None:
        self.services = services
        self.prefix = prefix
        self.vendor = vendor
        self.csrf_key = services.identity.signing_key(security.PURPOSE)
        self.env = Environment(
            loader=FileSystemLoader(UI_DIR / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            enable_async=False,
        )
        self.env.globals.update(prefix=prefix, csrf_field=security.CSRF_FIELD)

    def render(
        self,
        request: Request,
        template: str,
        viewer: Viewer | None = None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        page = self.env.get_template(template).render(
            viewer=viewer,
            path=request.url.path,
            htmx=self.vendor.available("htmx.min.js"),
            **values,
        )
        headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
        return HTMLResponse(page, status_code=status_code, headers=headers)

    def error(
        self, request: Request, status: int, message: str, viewer: Viewer | None = None
    ) -> HTMLResponse:
        return self.render(
            request, "error.html", viewer, status_code=status, status=status, message=message
        )

    def url(self, path: str) -> str:
        return f"{self.prefix}{path}"


def ui_of(request: Request) -> Ui:
    ui: Ui = request.app.state.ui
    return ui


async def find_viewer(request: Request) -> Viewer | None:
    """The viewer behind the session cookie, None when there is none or it expired."""
    ui = ui_of(request)
    token = request.cookies.get(security.SESSION_COOKIE)
    if not token:
        return None
    try:
        principal = await ui.services.identity.caller_for_login(token)
    except AuthError:
        return None
    return Viewer(principal, token, security.csrf_token(ui.csrf_key, token))


def _to_sign_in(request: Request) -> Response:
    ui = ui_of(request)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(ui.url(f"/login?next={quote(target)}"), status_code=303)


def _guarded(handler: ViewerHandler, *, csrf: bool, admin: bool) -> Handler:
    @functools.wraps(handler)
    async def run(request: Request) -> Response:
        ui = ui_of(request)
        viewer = await find_viewer(request)
        if viewer is None:
            if csrf:
                return ui.error(request, 403, "Your sign-in has expired: sign in again.")
            return _to_sign_in(request)
        try:
            if csrf:
                await security.check_csrf(request, ui.csrf_key, viewer.token)
            if admin and not viewer.is_admin:
                return ui.error(request, 403, "This page is for administrators.", viewer)
            return await handler(request, viewer)
        except security.CsrfRefused:
            return ui.error(request, 403, "The form was refused (CSRF check): reload the page.")
        except HangarError as exc:
            return ui.error(request, status_of(exc), str(exc) or exc.code, viewer)

    return run


def page(handler: ViewerHandler) -> Handler:
    return _guarded(handler, csrf=False, admin=False)


def admin_page(handler: ViewerHandler) -> Handler:
    return _guarded(handler, csrf=False, admin=True)


def mutation(handler: ViewerHandler) -> Handler:
    return _guarded(handler, csrf=True, admin=False)


def admin_mutation(handler: ViewerHandler) -> Handler:
    return _guarded(handler, csrf=True, admin=True)
