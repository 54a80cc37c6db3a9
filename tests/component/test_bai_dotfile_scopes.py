"""Dotfiles at group and domain scope: who reads and who changes them, and which one a new
session gets when scopes name the same path (user over group over domain)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from hangar.core.services import Services
from hangar.db.tables.identity import GroupRow
from tests.component.test_bai_vfolders import PROBS, Api, api, new_user

__all__ = ["api"]  # the fixture

GROUP = "/group-config/dotfiles"
DOMAIN = "/domain-config/dotfiles"
USER = "/user-config/dotfiles"


async def query(caller: Api, route: str, **params: str) -> httpx.Response:
    target = route + "".join(
        ("&" if i else "?") + f"{k}={v}" for i, (k, v) in enumerate(params.items())
    )
    return await caller.client.get(target, headers=caller.signer.headers("GET", target))


async def test_group_and_domain_dotfiles_and_precedence(
    api: Api, services: Services, client: httpx.AsyncClient
) -> None:
    await api.ok("POST", DOMAIN, {"domain": "default", "path": ".shared", "data": "domain"})
    await api.ok("POST", DOMAIN, {"domain": "default", "path": ".d-only", "data": "d"})
    await api.ok("POST", GROUP, {"group": "default", "path": ".shared", "data": "group"})
    await api.ok(
        "POST", GROUP, {"group": "default", "path": ".g-only", "data": "g", "permission": "600"}
    )
    await api.ok("POST", USER, {"path": ".shared", "data": "user"})
    dup = await api.call("POST", GROUP, {"group": "default", "path": ".shared", "data": "x"})
    assert dup.status_code == 400 and dup.json()["msg"] == "Dotfile already exists."

    bob = await new_user(services, client, "bob@example.com")
    listed = (await query(bob, GROUP, group="default", domain="default")).json()
    assert [(d["path"], d["data"]) for d in listed] == [(".g-only", "g"), (".shared", "group")]
    one = (await query(bob, DOMAIN, domain="default", path=".d-only")).json()
    assert one == {"path": ".d-only", "perm": "755", "data": "d"}
    refused = await bob.call("POST", GROUP, {"group": "default", "path": ".x", "data": ""})
    assert refused.status_code == 403
    refused = await bob.call("PATCH", DOMAIN, {"domain": "default", "path": ".d-only"})
    assert refused.status_code == 403
    for route, params in (
        (GROUP, {"group": "no-such-group"}),
        (DOMAIN, {"domain": "elsewhere"}),
    ):
        missing = await query(bob, route, **params)
        assert missing.status_code == 404 and missing.json()["type"] == PROBS + "object-not-found"
    assert (await query(bob, DOMAIN)).status_code == 400  # which domain?
    assert (await query(bob, GROUP)).status_code == 400  # which group?

    async with services.sessions() as db:
        group_id = await db.scalar(select(GroupRow.id).where(GroupRow.name == "default"))
    dotfiles = services.storage.dotfiles

    async def user_of(who: Api) -> uuid.UUID:
        return (await services.identity.credentials_for(who.signer.access_key)).caller.user_uuid

    admin_files = await dotfiles.for_session(await user_of(api), group_id, "default")
    assert {d.path: d.data for d in admin_files} == {
        ".d-only": "d",
        ".g-only": "g",
        ".shared": "user",
    }
    bob_files = await dotfiles.for_session(await user_of(bob), group_id, "default")
    assert {d.path: (d.data, d.permission) for d in bob_files} == {
        ".d-only": ("d", "755"),
        ".g-only": ("g", "600"),
        ".shared": ("group", "755"),
    }

    await api.ok("PATCH", GROUP, {"group": "default", "path": ".shared", "data": "g2"})
    target = f"{GROUP}?group=default&path=.shared"
    gone = await client.delete(target, headers=api.signer.headers("DELETE", target))
    assert gone.json() == {"success": True}
    bob_files = await dotfiles.for_session(await user_of(bob), group_id, "default")
    assert {d.path: d.data for d in bob_files}[".shared"] == "domain"
