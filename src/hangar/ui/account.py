"""Sign-in, sign-out and password change pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hangar.core.errors import AuthFailed, HangarError, TooManyLoginFailures
from hangar.ui import security
from hangar.ui.context import Viewer, find_viewer, mutation, page, status_of, ui_of

SESSION_SECONDS = 24 * 3600
PRE_SECONDS = 3600


def _next_target(request: Request, value: object) -> str:
    """Where to go after signing in: a path inside the UI only (no open redirect)."""
    prefix = ui_of(request).prefix
    if isinstance(value, str) and value.startswith(prefix + "/") and "//" not in value:
        return value
    return prefix + "/"


def _sign_in_page(
    request: Request, pre: str, *, message: str = "", email: str = "", status: int = 200
) -> Response:
    ui = ui_of(request)
    response = ui.render(
        request,
        "login.html",
        status_code=status,
        csrf=security.csrf_token(ui.csrf_key, pre),
        message=message,
        email=email,
        next=_next_target(request, request.query_params.get("next")),
    )
    security.set_cookie(response, request, security.PRE_COOKIE, pre, PRE_SECONDS)
    return response


async def sign_in_form(request: Request) -> Response:
    if await find_viewer(request) is not None:
        return RedirectResponse(ui_of(request).url("/"), status_code=303)
    pre = request.cookies.get(security.PRE_COOKIE) or security.new_pre_token()
    return _sign_in_page(request, pre)


async def sign_in(request: Request) -> Response:
    ui = ui_of(request)
    pre = request.cookies.get(security.PRE_COOKIE)
    try:
        await security.check_csrf(request, ui.csrf_key, pre)
    except security.CsrfRefused:
        return ui.error(request, 403, "The sign-in form was refused (CSRF check): reload it.")
    form = await request.form()
    email, password = str(form.get("email") or "").strip(), str(form.get("password") or "")
    assert pre is not None
    try:
        login = await ui.services.identity.login(email=email, password=password)
    except TooManyLoginFailures:
        message = "Too many failed attempts: wait a few minutes and try again."
        return _sign_in_page(request, pre, message=message, email=email, status=429)
    except AuthFailed:
        message = "Wrong email or password."
        return _sign_in_page(request, pre, message=message, email=email, status=401)
    response = RedirectResponse(_next_target(request, form.get("next")), status_code=303)
    security.set_cookie(response, request, security.SESSION_COOKIE, login.token, SESSION_SECONDS)
    security.clear_cookie(response, request, security.PRE_COOKIE)
    return response


@mutation
async def sign_out(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    await ui.services.identity.logout(viewer.token)
    response = RedirectResponse(ui.url("/login"), status_code=303)
    security.clear_cookie(response, request, security.SESSION_COOKIE)
    return response


@page
async def password_form(request: Request, viewer: Viewer) -> Response:
    return ui_of(request).render(request, "password.html", viewer)


@mutation
async def change_password(request: Request, viewer: Viewer) -> Response:
    ui = ui_of(request)
    form = await request.form()
    old, new = str(form.get("old") or ""), str(form.get("new") or "")
    if new != str(form.get("again") or ""):
        return ui.render(request, "password.html", viewer, 400, message="The new passwords differ.")
    try:
        await ui.services.identity.update_password(viewer.principal, old=old, new=new)
    except HangarError as exc:
        status = 400 if isinstance(exc, AuthFailed) else status_of(exc)
        return ui.render(request, "password.html", viewer, status, message=str(exc))
    return ui.render(request, "password.html", viewer, done=True)


routes = [
    Route("/login", sign_in_form, methods=["GET"]),
    Route("/login", sign_in, methods=["POST"]),
    Route("/logout", sign_out, methods=["POST"]),
    Route("/account/password", password_form, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
]
