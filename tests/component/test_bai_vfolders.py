"""Virtual folders through the Backend.AI face: folders, sharing, files, tus transfers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from hangar.core.principal import Role
from hangar.core.services import Services
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"


class Api:
    """One user's signed calls."""

    def __init__(self, client: httpx.AsyncClient, signer: Signer) -> None:
        self.client = client
        self.signer = signer

    async def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        ctype = "application/json" if body is not None else "text/plain"
        headers = self.signer.headers(method, path, content_type=ctype)
        return await self.client.request(method, path, headers=headers, json=body)

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.call(method, path, body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def upload(self, folder: str, path: str, data: bytes, chunk: int = 1 << 20) -> None:
        ticket = await self.ok(
            "POST", f"/folders/{folder}/request-upload", {"path": path, "size": len(data)}
        )
        offset = 0
        while offset < len(data):
            part = data[offset : offset + chunk]
            response = await patch(self.client, ticket, offset, part)
            assert response.status_code == 204, response.text
            offset = int(response.headers["upload-offset"])
        assert offset == len(data)

    async def download(self, folder: str, path: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        ticket = await self.ok("POST", f"/folders/{folder}/request-download", {"path": path})
        return await self.client.get(
            ticket["url"], params={"token": ticket["token"]}, headers=headers or {}
        )


async def patch(
    client: httpx.AsyncClient, ticket: dict[str, str], offset: int, data: bytes
) -> httpx.Response:
    return await client.patch(
        ticket["url"],
        params={"token": ticket["token"]},
        content=data,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


@pytest.fixture
def api(client: httpx.AsyncClient, admin: Signer) -> Api:
    return Api(client, admin)


async def new_user(
    services: Services, client: httpx.AsyncClient, email: str, role: Role = Role.USER
) -> Api:
    await services.identity.create_user(
        email=email,
        password="a-good-password",
        role=role,
        domain_name="default",
        group_name="default",
        full_name="",
    )
    issued = await services.identity.issue_keypair(email=email, is_admin=role != Role.USER)
    return Api(client, Signer(issued.keypair.access_key, issued.secret_key))


def folder_dir(services: Services, vfid_hex: str) -> Path:
    return services.settings.storage_dir / "local" / "vfolders" / vfid_hex[:2] / vfid_hex


async def test_folder_lifecycle_and_names(api: Api) -> None:
    hosts = await api.ok("GET", "/folders/_/hosts")
    assert hosts["default"] == "local" and "local" in hosts["allowed"]
    assert await api.ok("GET", "/folders/_/allowed_types") == ["user", "group"]

    created = await api.ok("POST", "/folders", {"name": "mydata1", "quota": "1g"})
    assert created["name"] == "mydata1" and len(created["id"]) == 32
    assert created["max_size"] == 1024 and created["ownership_type"] == "user"
    again = await api.call("POST", "/folders", {"name": "mydata1"})
    assert again.status_code == 400
    assert again.json()["type"] == PROBS + "vfolder-already-exists"
    for bad in ("../x", "a/b", "-x", "", ".bashrc", "x" * 65):
        response = await api.call("POST", "/folders", {"name": bad})
        assert response.status_code == 400, bad
        assert response.json()["type"] == PROBS + "invalid-api-params"

    info = await api.ok("GET", "/folders/mydata1")
    assert info["numFiles"] == 0 and info["is_owner"] and info["permission"] == "wd"
    listed = await api.ok("GET", "/folders", {"all": False})
    assert [f["name"] for f in listed] == ["mydata1"]

    response = await api.call("POST", "/folders/mydata1/rename", {"new_name": "renamed"})
    assert response.status_code == 201
    missing = await api.call("GET", "/folders/mydata1")
    assert missing.status_code == 404 and missing.json()["title"] == "No such virtual folder."
    assert (await api.call("DELETE", "/folders/renamed")).status_code == 204
    assert await api.ok("GET", "/folders") == []


async def test_upload_is_invisible_until_complete_and_downloads_are_exact(api: Api) -> None:
    await api.ok("POST", "/folders", {"name": "data"})
    data = os.urandom(3 * 1024 * 1024 + 17)
    ticket = await api.ok(
        "POST", "/folders/data/request-upload", {"path": "sub/dir/blob.bin", "size": len(data)}
    )
    assert ticket["url"].endswith("/storage/upload")
    first = await patch(api.client, ticket, 0, data[:1_000_000])
    assert first.status_code == 204 and first.headers["upload-offset"] == "1000000"
    listing = await api.ok("GET", "/folders/data/files", {"path": "."})
    assert listing["items"] == []  # nothing half-written is visible

    head = await api.client.head(ticket["url"], params={"token": ticket["token"]})
    assert head.headers["upload-offset"] == "1000000"
    assert head.headers["upload-length"] == str(len(data))
    wrong = await patch(api.client, ticket, 0, data[:10])
    assert wrong.status_code == 409 and wrong.headers["upload-offset"] == "1000000"
    rest = await patch(api.client, ticket, 1_000_000, data[1_000_000:])
    assert rest.status_code == 204 and rest.headers["upload-offset"] == str(len(data))
    gone = await patch(api.client, ticket, len(data), b"x")
    assert gone.status_code == 404
    assert gone.json()["type"] == PROBS + "storage/no-such-upload-session"

    files = await api.ok("GET", "/folders/data/files", {"path": "sub/dir"})
    assert [(i["name"], i["type"], i["size"]) for i in files["items"]] == [
        ("blob.bin", "FILE", len(data))
    ]
    whole = await api.download("data", "sub/dir/blob.bin")
    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(data))
    assert hashlib.sha256(whole.content).digest() == hashlib.sha256(data).digest()
    part = await api.download("data", "sub/dir/blob.bin", {"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"


async def test_empty_upload_creates_the_file_at_once(api: Api) -> None:
    await api.ok("POST", "/folders", {"name": "data"})
    await api.ok("POST", "/folders/data/request-upload", {"path": "empty.txt", "size": 0})
    files = await api.ok("GET", "/folders/data/files", {"path": ""})
    assert [(i["name"], i["size"]) for i in files["items"]] == [("empty.txt", 0)]


async def test_file_operations(api: Api) -> None:
    await api.ok("POST", "/folders", {"name": "data"})
    await api.upload("data", "a.txt", b"alpha")
    assert (await api.call("POST", "/folders/data/mkdir", {"path": "d1/d2"})).status_code == 201
    await api.ok("POST", "/folders/data/rename-file", {"target_path": "a.txt", "new_name": "b.txt"})
    await api.ok("POST", "/folders/data/move-file", {"src": "b.txt", "dst": "d1"})
    tree = await api.ok("GET", "/folders/data/files", {"path": "d1"})
    assert sorted(i["name"] for i in tree["items"]) == ["b.txt", "d2"]
    refused = await api.call("DELETE", "/folders/data/delete-files", {"files": ["d1"]})
    assert refused.status_code == 400 and "recursively" in refused.json()["msg"]
    await api.ok("DELETE", "/folders/data/delete-files", {"files": ["d1"], "recursive": True})
    assert (await api.ok("GET", "/folders/data/files", {"path": "."}))["items"] == []


@pytest.mark.parametrize(
    "path", ["../escape.txt", "/etc/passwd", "a/../../b", "sub/../../../etc/x", "x\x00y"]
)
async def test_paths_outside_the_folder_are_refused(api: Api, path: str) -> None:
    await api.ok("POST", "/folders", {"name": "data"})
    for method, route, body in (
        ("POST", "request-upload", {"path": path, "size": 1}),
        ("POST", "request-download", {"path": path}),
        ("POST", "mkdir", {"path": path}),
        ("POST", "move-file", {"src": path, "dst": "x"}),
        ("DELETE", "delete-files", {"files": [path]}),
        ("GET", "files", {"path": path}),
    ):
        response = await api.call(method, f"/folders/data/{route}", body)
        assert response.status_code == 400, (route, response.text)
        assert response.json()["type"] == PROBS + "invalid-api-params"


async def test_symlinks_in_a_folder_are_never_followed(api: Api, services: Services) -> None:
    created = await api.ok("POST", "/folders", {"name": "data"})
    root = folder_dir(services, created["id"])
    secret = root.parent / "outside-secret.txt"
    secret.write_text("secret")
    (root / "leak").symlink_to(secret)  # as code in a session could plant it
    (root / "escape").symlink_to("/etc")
    listing = await api.ok("GET", "/folders/data/files", {"path": "."})
    assert {i["name"]: i["type"] for i in listing["items"]} == {
        "leak": "SYMLINK",
        "escape": "SYMLINK",
    }
    for path in ("leak", "escape/passwd"):
        response = await api.call("POST", "/folders/data/request-download", {"path": path})
        assert response.status_code == 400, response.text
    through = await api.call("GET", "/folders/data/files", {"path": "escape"})
    assert through.status_code == 400 and "symbolic link" in through.json()["msg"]
    upload = await api.call(
        "POST", "/folders/data/request-upload", {"path": "escape/evil", "size": 3}
    )
    ticket = upload.json()
    if upload.status_code == 200:  # the link is refused when the upload completes
        done = await patch(api.client, ticket, 0, b"abc")
        assert done.status_code >= 400
    assert not await asyncio.to_thread(os.path.lexists, "/etc/evil")
    await api.ok("DELETE", "/folders/data/delete-files", {"files": ["escape"]})
    assert await asyncio.to_thread(os.path.isfile, "/etc/passwd")
    assert secret.read_bytes() == b"secret"


async def test_other_users_folders_are_invisible(
    api: Api, services: Services, client: httpx.AsyncClient
) -> None:
    created = await api.ok("POST", "/folders", {"name": "private"})
    await api.upload("private", "x.txt", b"mine")
    bob = await new_user(services, client, "bob@example.com")
    assert await bob.ok("GET", "/folders") == []
    for name in ("private", created["id"], str(uuid.UUID(created["id"]))):
        response = await bob.call("GET", f"/folders/{name}")
        assert response.status_code == 404, name
        response = await bob.call("POST", f"/folders/{name}/request-download", {"path": "x.txt"})
        assert response.status_code == 404
    by_id = await bob.call("DELETE", "/folders", {"id": created["id"]})
    assert by_id.status_code == 403
    assert (await api.ok("GET", "/folders/private"))["numFiles"] == 1


async def test_read_only_invitation(
    api: Api, services: Services, client: httpx.AsyncClient
) -> None:
    await api.ok("POST", "/folders", {"name": "shared"})
    await api.upload("shared", "data.csv", b"a,b\n1,2\n")
    bob = await new_user(services, client, "bob@example.com")
    invited = await api.ok(
        "POST", "/folders/shared/invite", {"perm": "ro", "user_ids": ["bob@example.com"]}
    )
    assert invited == {"invited_ids": ["bob@example.com"]}
    invitations = (await bob.ok("GET", "/folders/invitations/list"))["invitations"]
    assert [(i["inviter"], i["perm"], i["vfolder_name"]) for i in invitations] == [
        ("admin@hangar.local", "ro", "shared")
    ]
    await bob.ok("POST", "/folders/invitations/accept", {"inv_id": invitations[0]["id"]})
    info = await bob.ok("GET", "/folders/shared")
    assert info["permission"] == "ro" and not info["is_owner"]
    assert (await bob.download("shared", "data.csv")).content == b"a,b\n1,2\n"
    refused = await bob.call("POST", "/folders/shared/request-upload", {"path": "x", "size": 1})
    assert refused.status_code == 403 and "read-only" in refused.json()["msg"]
    for method, route, body in (
        ("POST", "mkdir", {"path": "d"}),
        ("DELETE", "delete-files", {"files": ["data.csv"]}),
        ("POST", "rename", {"new_name": "mine"}),
    ):
        assert (await bob.call(method, f"/folders/shared/{route}", body)).status_code == 403
    delete = await bob.call("DELETE", "/folders/shared")
    assert delete.status_code == 400  # the reference's answer, which the official client shows
    assert delete.json()["msg"] == "Cannot delete the vfolder that is not owned by myself."
    assert (await bob.ok("POST", "/folders/shared/leave"))["msg"] == "left the shared vfolder"
    assert await bob.ok("GET", "/folders") == []


async def test_group_folder_share_and_unshare(
    api: Api, services: Services, client: httpx.AsyncClient
) -> None:
    bob = await new_user(services, client, "bob@example.com")
    created = await api.ok("POST", "/folders", {"name": "team", "group": "default"})
    assert created["ownership_type"] == "group" and created["user"] is None
    refused = await bob.call("POST", "/folders", {"name": "team2", "group": "default"})
    assert refused.status_code == 403
    assert (await bob.ok("GET", "/folders/team"))["permission"] == "rw"
    shared = await api.ok(
        "POST", "/folders/team/share", {"permission": "ro", "emails": ["bob@example.com"]}
    )
    assert shared == {"shared_emails": ["bob@example.com"]}
    assert (await bob.ok("GET", "/folders/team"))["permission"] == "ro"
    await api.ok("DELETE", "/folders/team/unshare", {"emails": ["bob@example.com"]})
    assert (await bob.ok("GET", "/folders/team"))["permission"] == "rw"


async def test_a_polled_folder_list_shows_every_change_at_once(
    api: Api, services: Services, client: httpx.AsyncClient
) -> None:
    """GET /folders answers polls from what it read before while nothing changed: each
    change must show in the very next list, and only to those who may see it."""
    bob = await new_user(services, client, "bob@example.com")
    carol = await new_user(services, client, "carol@example.com")

    async def listed(who: Api) -> list[tuple[str, str]]:
        return [(f["name"], f["permission"]) for f in await who.ok("GET", "/folders")]

    await api.ok("POST", "/folders", {"name": "team", "group": "default"})
    await api.ok("POST", "/folders", {"name": "mine"})
    for _ in range(2):
        assert await listed(bob) == [("team", "rw")]
    await api.ok("POST", "/folders/team/share", {"permission": "ro", "emails": ["bob@example.com"]})
    assert await listed(bob) == [("team", "ro")]
    assert await listed(carol) == [("team", "rw")]
    await api.ok("POST", "/folders/team/rename", {"new_name": "crew"})
    assert await listed(bob) == [("crew", "ro")]
    await api.ok("DELETE", "/folders/crew/unshare", {"emails": ["bob@example.com"]})
    assert await listed(bob) == [("crew", "rw")]
    assert await listed(api) == [("mine", "wd"), ("crew", "rw")]
    await bob.ok("POST", "/folders", {"name": "bobs"})
    assert await listed(bob) == [("bobs", "wd"), ("crew", "rw")]
    assert await listed(carol) == [("crew", "rw")]


async def test_quota_and_policy_limits(api: Api, services: Services) -> None:
    await api.ok("POST", "/folders", {"name": "small", "quota": "1m"})
    over = await api.call(
        "POST", "/folders/small/request-upload", {"path": "big", "size": 2 * 1024 * 1024}
    )
    assert over.status_code == 412 and over.json()["type"] == PROBS + "quota-exceeded"
    ticket = await api.ok("POST", "/folders/small/request-upload", {"path": "f", "size": 10})
    too_much = await patch(api.client, ticket, 0, b"x" * 11)
    assert too_much.status_code == 413
    listing = await api.ok("GET", "/folders/small/files", {"path": "."})
    assert listing["items"] == []
    for index in range(9):  # the default policy allows 10 folders
        await api.ok("POST", "/folders", {"name": f"f{index}"})
    eleventh = await api.call("POST", "/folders", {"name": "eleventh"})
    assert eleventh.status_code == 412


async def test_clone_and_options(api: Api, services: Services) -> None:
    await api.ok("POST", "/folders", {"name": "src"})
    await api.upload("src", "d/x.txt", b"x")
    refused = await api.call("POST", "/folders/src/clone", {"target_name": "copy"})
    assert refused.status_code == 403
    response = await api.call("POST", "/folders/src/update-options", {"cloneable": True})
    assert response.status_code == 201
    clone = await api.ok("POST", "/folders/src/clone", {"target_name": "copy"})
    assert clone["name"] == "copy"
    await services.bgtasks.wait(uuid.UUID(clone["bgtask_id"]))
    assert (await api.download("copy", "d/x.txt")).content == b"x"


async def test_dotfiles(api: Api) -> None:
    await api.ok("POST", "/user-config/dotfiles", {"path": ".bashrc", "data": "alias ll='ls'"})
    dup = await api.call("POST", "/user-config/dotfiles", {"path": ".bashrc", "data": ""})
    assert dup.status_code == 400
    bad = await api.call("POST", "/user-config/dotfiles", {"path": "../x", "data": ""})
    assert bad.status_code == 400
    listed = await api.ok("GET", "/user-config/dotfiles")
    assert listed == [{"path": ".bashrc", "permission": "755", "data": "alias ll='ls'"}]
    one = await api.client.get(
        "/user-config/dotfiles",
        params={"path": ".bashrc"},
        headers=api.signer.headers("GET", "/user-config/dotfiles?path=.bashrc"),
    )
    assert one.json() == {"path": ".bashrc", "perm": "755", "data": "alias ll='ls'"}
    await api.ok(
        "PATCH", "/user-config/dotfiles", {"path": ".bashrc", "data": "x", "permission": "644"}
    )
    gone = await api.client.delete(
        "/user-config/dotfiles",
        params={"path": ".bashrc"},
        headers=api.signer.headers("DELETE", "/user-config/dotfiles?path=.bashrc"),
    )
    assert gone.json() == {"success": True}
    assert await api.ok("GET", "/user-config/dotfiles") == []
