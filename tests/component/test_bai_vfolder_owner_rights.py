"""What a user may do with folders shared with them: GraphQL lists show their own permission,
changes only owners may make are refused with a 403 that says so (nothing changes), and
folders they cannot reach stay "No such virtual folder."."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hangar.core.services import Services
from tests.component.test_bai_vfolders import PROBS, Api, api, new_user

__all__ = ["api"]

VFOLDER_LIST = (
    "query($limit:Int!, $offset:Int!) { vfolder_list(limit:$limit, offset:$offset)"
    " { items { name permission ownership_type } total_count } }"
)
VFOLDERS = "query { vfolders { name permission } }"


async def gql(user: Api, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = await user.ok("POST", "/admin/gql", {"query": query, "variables": variables or {}})
    assert "errors" not in body, body
    return body["data"]


async def listed(user: Api) -> dict[str, str]:
    """name -> permission, from both GraphQL folder lists (they must agree)."""
    data = await gql(user, VFOLDER_LIST, {"limit": 100, "offset": 0})
    paged = {i["name"]: i["permission"] for i in data["vfolder_list"]["items"]}
    legacy = {i["name"]: i["permission"] for i in (await gql(user, VFOLDERS))["vfolders"]}
    assert paged == legacy
    return paged


async def rest_listed(user: Api) -> dict[str, str]:
    return {i["name"]: i["permission"] for i in await user.ok("GET", "/folders")}


async def invite(owner: Api, folder: str, user: Api, email: str, perm: str) -> None:
    await owner.ok("POST", f"/folders/{folder}/invite", {"perm": perm, "user_ids": [email]})
    (pending,) = (await user.ok("GET", "/folders/invitations/list"))["invitations"]
    await user.ok("POST", "/folders/invitations/accept", {"inv_id": pending["id"]})


@pytest.fixture
async def bob(services: Services, client: httpx.AsyncClient) -> Api:
    return await new_user(services, client, "bob@example.com")


async def test_graphql_lists_show_the_callers_own_permission(api: Api, bob: Api) -> None:
    await api.ok("POST", "/folders", {"name": "readonly", "permission": "rw"})
    await api.ok("POST", "/folders", {"name": "writable", "permission": "ro"})
    await api.ok("POST", "/folders", {"name": "team", "group": "default", "permission": "rw"})
    await api.ok("POST", "/folders", {"name": "team-ro", "group": "default", "permission": "rw"})
    await invite(api, "readonly", bob, "bob@example.com", "ro")
    await invite(api, "writable", bob, "bob@example.com", "rw")
    await api.ok("POST", "/folders/team-ro/share", {"permission": "ro",
                                                    "emails": ["bob@example.com"]})  # fmt: skip
    expected = {"readonly": "ro", "writable": "rw", "team": "rw", "team-ro": "ro"}
    assert await listed(bob) == expected
    assert await rest_listed(bob) == expected
    # The owner holds every right on their own folders, whatever the folder's setting.
    mine = await listed(api)
    assert (mine["readonly"], mine["writable"]) == ("wd", "wd")
    assert (await rest_listed(api))["writable"] == "wd"


async def test_changes_only_the_owner_may_make_are_refused_with_403(
    api: Api, bob: Api, services: Services, client: httpx.AsyncClient
) -> None:
    await api.ok("POST", "/folders", {"name": "shared"})
    await invite(api, "shared", bob, "bob@example.com", "rw")
    await new_user(services, client, "carol@example.com")
    before = await api.ok("GET", "/folders/shared")
    refusals = {
        ("POST", "rename", "Only the owner can rename this folder."): {"new_name": "mine"},
        ("POST", "update-options", "Only the owner can change the options of this folder."): {
            "cloneable": True,
            "permission": "ro",
        },
        ("POST", "invite", "Only the owner can invite users to this folder."): {
            "perm": "rw",
            "user_ids": ["carol@example.com"],
        },
    }
    for (method, route, message), body in refusals.items():
        path = f"/folders/shared/{route}".rstrip("/")
        response = await bob.call(method, path, body)
        assert response.status_code == 403, (route, response.text)
        problem = response.json()
        assert problem["type"] == PROBS + "generic-forbidden"
        assert problem["msg"] == message
    # Deleting keeps the reference manager's answer (400), as the official client expects.
    response = await bob.call("DELETE", "/folders/shared", None)
    assert response.status_code == 400, response.text
    assert response.json()["msg"] == "Cannot delete the vfolder that is not owned by myself."
    assert await api.ok("GET", "/folders/shared") == before
    assert (await api.ok("GET", "/folders/invitations/list"))["invitations"] == []
    assert await rest_listed(bob) == {"shared": "rw"}


async def test_group_folder_changes_are_for_administrators(api: Api, bob: Api) -> None:
    await api.ok("POST", "/folders", {"name": "team", "group": "default"})
    for method, route, body, message in (
        ("POST", "rename", {"new_name": "ours"},
         "Only administrators can rename this project folder."),
        ("POST", "share", {"permission": "wd", "emails": ["bob@example.com"]},
         "Only administrators can share this project folder."),
        ("DELETE", "unshare", {"emails": ["bob@example.com"]},
         "Only administrators can unshare this project folder."),
    ):  # fmt: skip
        response = await bob.call(method, f"/folders/team/{route}".rstrip("/"), body)
        assert response.status_code == 403, (route, response.text)
        assert response.json()["msg"] == message
    response = await bob.call("DELETE", "/folders/team", None)
    assert response.status_code == 400, response.text
    assert response.json()["msg"] == "Cannot delete the vfolder that is not owned by myself."
    assert await rest_listed(bob) == {"team": "rw"}


async def test_folders_out_of_reach_are_still_unknown(api: Api, bob: Api) -> None:
    await api.ok("POST", "/folders", {"name": "private"})
    for route, body in (
        ("rename", {"new_name": "mine"}),
        ("update-options", {"cloneable": True}),
        ("invite", {"perm": "rw", "user_ids": ["bob@example.com"]}),
    ):
        response = await bob.call("POST", f"/folders/private/{route}", body)
        assert response.status_code == 404, route
        assert response.json()["title"] == "No such virtual folder."
    gone = await bob.call("DELETE", "/folders/private")  # the reference's answer
    assert gone.status_code == 400 and gone.json()["msg"] == "No such vfolder."
    assert "private" in await rest_listed(api)
