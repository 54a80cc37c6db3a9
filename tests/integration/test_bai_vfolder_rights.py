"""A folder shared read-only, through the official CLI: ``vfolder list`` shows the invitee's
own permission, and what only the owner may do is refused saying so, not "No such virtual
folder."; someone the folder is not shared with still hears that it does not exist."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.live import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("official_client")]


def shown(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, shown(done)
    return shown(done)


def new_user(server: LiveServer, email: str) -> dict[str, str]:
    done = server.hangar(
        "admin", "user", "create", "--email", email, "--password", "a-good-password"
    )
    keys = dict(re.findall(r"(Access|Secret) key:\s*(\S+)", ok(done)))
    return {"BACKEND_ACCESS_KEY": keys["Access"], "BACKEND_SECRET_KEY": keys["Secret"]}


def refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    text = shown(done)
    assert done.returncode == 1, text
    assert "403 Forbidden" in text and f"Message: {message}" in text, text
    assert "No such virtual folder" not in text


def test_read_only_share_through_the_official_cli(live_server: LiveServer) -> None:
    ok(live_server.official("vfolder", "create", "results", "local"))
    bob = new_user(live_server, "bob@example.com")
    carol = new_user(live_server, "carol@example.com")
    ok(live_server.official("vfolder", "invite", "results", "bob@example.com", "-p", "ro"))
    assert "You can now access vfolder results" in ok(
        live_server.official("vfolder", "invitations", input="1\na\n", **bob)
    )

    listing = json.loads(ok(live_server.official("--output", "json", "vfolder", "list", **bob)))
    assert [(i["name"], i["permission"]) for i in listing["items"]] == [("results", "ro")]
    mine = json.loads(ok(live_server.official("--output", "json", "vfolder", "list")))
    assert [(i["name"], i["permission"]) for i in mine["items"]] == [("results", "wd")]

    official = live_server.official
    refused(official("vfolder", "rename", "results", "mine", **bob),
            "Only the owner can rename this folder.")  # fmt: skip
    refused(official("vfolder", "invite", "results", "carol@example.com", **bob),
            "Only the owner can invite users to this folder.")  # fmt: skip
    deleted = official("vfolder", "delete", "results", **bob)  # the reference's 400
    assert deleted.returncode == 1, shown(deleted)
    assert "400 Bad Request" in shown(deleted), shown(deleted)
    assert "Cannot delete the vfolder that is not owned by myself." in shown(deleted)
    # The client checks ownership itself before changing options.
    options = official("vfolder", "update-options", "results", "--set-cloneable", "true", **bob)
    assert "You cannot update virtual folder that you do not own." in ok(options)
    assert "Clone Allowed: False" in ok(official("vfolder", "info", "results"))

    for args in (("rename", "results", "mine"), ("invite", "results", "bob@example.com")):
        unknown = official("vfolder", *args, **carol)
        assert unknown.returncode == 1 and "No such virtual folder." in shown(unknown), args
    assert "results" in ok(official("vfolder", "info", "results"))
