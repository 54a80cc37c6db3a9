"""``/server/login`` and ``/server/logout``: the console (cookie) login of session mode."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hangar.api.bai.auth import SESSION_COOKIE
from hangar.api.bai.params import Params, read_params
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.errors import AuthFailed, InvalidRequest

router = Router(prefix="/server")


class LoginRequest(Params):
    username: str
    password: str


@router.post("/login")
async def login(request: Request) -> Any:
    """Always 200 with ``authenticated``; 400 when already logged in, 429 when locked."""
    identity = services_of(request).identity
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            await identity.caller_for_login(token)
        except AuthFailed:
            pass
        else:
            raise InvalidRequest("You have already logged in.")
    params = await read_params(request, LoginRequest)
    try:
        result = await identity.login(email=params.username, password=params.password)
    except AuthFailed as exc:
        failure = {
            "type": "https://api.backend.ai/probs/auth-failed",
            "title": "Credential/signature mismatch.",
            "details": exc.message,
        }
        return {"authenticated": False, "data": failure}
    response = JSONResponse(
        {
            "authenticated": True,
            "data": {
                "access_key": result.caller.access_key,
                "role": result.caller.role.value,
                "status": result.status.value,
            },
        }
    )
    max_age = int(services_of(request).settings.auth.login_session_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise AuthFailed("Unauthorized access")
    await services_of(request).identity.logout(token)
    response = Response(status_code=201)
    response.delete_cookie(SESSION_COOKIE)
    return response
