"""``/auth``: keypair authorization by password, password and profile changes, SSH keys."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from hangar.api.bai.auth import user
from hangar.api.bai.params import Params, raw_params, read_params
from hangar.api.common.context import services_of
from hangar.api.common.routing import Router
from hangar.core.errors import Forbidden, InvalidRequest

router = Router(prefix="/auth")


class Echo(Params):
    echo: str = ""


class AuthorizeRequest(Params):
    type: str = "keypair"
    domain: str = "default"
    username: str
    password: str


class UpdatePasswordRequest(Params):
    old_password: str
    new_password: str
    new_password2: str


class FullNameRequest(Params):
    email: str | None = None
    full_name: str = Field(max_length=64)


class SignupRequest(Params):
    domain: str = "default"
    email: str
    password: str
    username: str | None = None
    full_name: str = ""


class SignoutRequest(Params):
    email: str
    password: str


@router.route("", ["GET", "POST"])
@router.route("/test", ["GET", "POST"])
async def test(request: Request) -> dict[str, str]:
    user(request)
    params = await read_params(request, Echo)
    return {"authorized": "yes", "echo": params.echo}


@router.post("/authorize")
async def authorize(request: Request) -> dict[str, Any]:
    """Public: trade an email and password for the user's keypair (console logins use it)."""
    params = await read_params(request, AuthorizeRequest)
    if params.type != "keypair":
        raise InvalidRequest(f"Unsupported authorization type: {params.type}")
    found = await services_of(request).identity.authorize(
        email=params.username, password=params.password, domain_name=params.domain
    )
    return {
        "data": {
            "access_key": found.keypair.keypair.access_key,
            "secret_key": found.keypair.secret_key,
            "role": found.role.value,
            "status": found.status.value,
        }
    }


@router.get("/role")
async def role(request: Request) -> dict[str, Any]:
    caller = user(request)
    group = (await raw_params(request)).get("group")
    group_role = None
    if group and await services_of(request).identity.is_group_member(caller, str(group)):
        group_role = "user"
    return {
        "global_role": "superadmin" if caller.is_superadmin else "user",
        "domain_role": "admin" if caller.is_admin else "user",
        "group_role": group_role,
    }


@router.post("/update-password")
async def update_password(request: Request) -> Any:
    caller = user(request)
    params = await read_params(request, UpdatePasswordRequest)
    if params.new_password != params.new_password2:
        # The reference answers this one case outside problem+json; clients expect it.
        return JSONResponse({"error_msg": "new password mismitch"}, status_code=400)
    await services_of(request).identity.update_password(
        caller, old=params.old_password, new=params.new_password
    )
    return {}


@router.post("/update-full-name")
async def update_full_name(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, FullNameRequest)
    if params.email is not None and params.email != caller.email:
        raise Forbidden("You can only change your own full name.")
    await services_of(request).identity.update_full_name(caller, params.full_name)
    return {}


@router.post("/signup", status_code=201)
async def signup(request: Request) -> dict[str, Any]:
    """Public when ``HANGAR_SIGNUP_ENABLED`` is set: a user in the default group, a keypair."""
    services = services_of(request)
    if not services.settings.auth.signup_enabled:
        raise Forbidden("Self sign-up is disabled on this server.")
    params = await read_params(request, SignupRequest)
    await services.identity.create_user(
        email=params.email,
        password=params.password,
        domain_name=params.domain,
        username=params.username,
        full_name=params.full_name,
    )
    issued = await services.identity.issue_keypair(email=params.email)
    return {"access_key": issued.keypair.access_key, "secret_key": issued.secret_key}


@router.post("/signout")
async def signout(request: Request) -> dict[str, Any]:
    caller = user(request)
    params = await read_params(request, SignoutRequest)
    await services_of(request).identity.signout(
        caller, email=params.email, password=params.password
    )
    return {}


@router.get("/ssh-keypair")
async def get_ssh_keypair(request: Request) -> dict[str, Any]:
    caller = user(request)
    public = await services_of(request).identity.get_ssh_public_key(caller)
    return {"ssh_public_key": public}


@router.patch("/ssh-keypair")
async def refresh_ssh_keypair(request: Request) -> dict[str, Any]:
    caller = user(request)
    public, private = await services_of(request).identity.regenerate_ssh_keypair(caller)
    return {"ssh_public_key": public, "ssh_private_key": private}
