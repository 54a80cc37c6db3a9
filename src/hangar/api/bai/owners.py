"""``owner_access_key``: Backend.AI's way to act for another keypair, turned into a principal.

The core takes the principal a caller acts for and checks ``may_act_for`` itself; only this
face knows that owners are named by access key. Texts and status codes are the reference's.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from hangar.api.bai.auth import user
from hangar.api.common.context import services_of
from hangar.core.errors import AuthFailed, Forbidden, InvalidRequest
from hangar.core.principal import Principal


async def owner_named(conn: HTTPConnection, owner_access_key: str | None) -> Principal | None:
    """The principal of the keypair ``owner_access_key``, None when it is the caller's own
    (or not given). Raises Forbidden for non-admins, InvalidRequest for unknown keys."""
    caller = user(conn)
    if not owner_access_key or owner_access_key == caller.access_key:
        return None
    if not caller.is_admin:
        raise Forbidden("Only administrators may act on behalf of another keypair.")
    try:
        return (await services_of(conn).identity.credentials_for(owner_access_key)).caller
    except AuthFailed as exc:
        raise InvalidRequest("Unknown owner access key") from exc


async def acting_as(conn: HTTPConnection, owner_access_key: str | None) -> Principal:
    """Whom the request acts as: the caller, or the owner it names (checked by the core)."""
    owner = await owner_named(conn, owner_access_key)
    return services_of(conn).compute.acting(user(conn), owner)
