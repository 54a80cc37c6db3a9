"""``backend.ai ps`` / ``session info`` / ``admin keypair``: the official CLI over GraphQL.

Sessions are created with ``start --enqueue-only`` (no agent needed). If the embedded agent is
up they may start right away; the assertions hold for either outcome.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.live import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("official_client")]

PS_ADMIN_KEYS = [
    "name",
    "access_key",
    "session_id",
    "group_name",
    "kernel_id",
    "image",
    "type",
    "status",
    "status_info",
    "status_changed",
    "result",
]
ALIVE = {"PENDING", "SCHEDULED", "PREPARING", "PULLING", "RUNNING"}
DEAD = {"TERMINATED", "CANCELLED"}


def ok(done: Any) -> str:
    out: str = done.stdout + done.stderr
    assert done.returncode == 0, out
    return str(done.stdout)


def start(server: LiveServer, name: str, **env: str) -> str:
    done = server.official("start", "--enqueue-only", "-t", name, "python", **env)
    ok(done)
    out = done.stdout + done.stderr
    match = re.search(r"Session ID ([0-9a-f-]{36})", out)
    assert match, out
    return match.group(1)


def ps_json(server: LiveServer, *args: str, **env: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ok(server.official("--output", "json", "ps", *args, **env)))
    return result


def new_user(server: LiveServer, email: str) -> dict[str, str]:
    done = server.hangar(
        "admin", "user", "create", "--email", email, "--password", "a-good-password"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    keys = dict(re.findall(r"(Access|Secret) key:\s*(\S+)", done.stdout))
    return {"BACKEND_ACCESS_KEY": keys["Access"], "BACKEND_SECRET_KEY": keys["Secret"]}


def test_ps_info_and_dead_sessions(live_server: LiveServer) -> None:
    first = start(live_server, "ps-one")
    second = start(live_server, "ps-two")

    table = ok(live_server.official("ps"))
    header = table.splitlines()[0]
    for column in ("Name", "Owner Access Key", "Session ID", "Kernel ID", "Status", "Result"):
        assert column in header
    assert "ps-one" in table and "ps-two" in table
    assert first in table and second in table

    listing = ps_json(live_server)
    assert listing["count"] == listing["total_count"] == 2
    by_name = {item["name"]: item for item in listing["items"]}
    assert list(by_name) == ["ps-two", "ps-one"]  # newest first
    item = by_name["ps-one"]
    assert list(item) == PS_ADMIN_KEYS
    assert item["session_id"] == item["kernel_id"] == first
    assert item["access_key"] == live_server.access_key
    assert item["group_name"] == "default"
    assert item["type"] == "INTERACTIVE"
    assert item["image"].startswith("python")
    assert item["status"] in ALIVE
    assert item["result"] == "UNDEFINED"

    formatted = ok(live_server.official("ps", "--format", "kernel_id,status,occupied_slots"))
    lines = formatted.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["Kernel ID", "Status", "Occupied Slots"]
    rows = [line for line in lines[2:] if line.strip()]
    assert len(rows) == 2
    assert {row.split()[0] for row in rows} == {first, second}
    assert all(row.split()[1] in ALIVE for row in rows)

    info = ok(live_server.official("session", "info", first))
    assert re.search(r"^Name\s+ps-one$", info, re.M), info
    assert re.search(rf"^Session ID\s+{first}$", info, re.M), info
    assert "Containers" in info and f"+ {first}" in info
    assert "Cluster Role: main" in info
    assert "(no dependency tasks)" in info
    missing = live_server.official("session", "info", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1
    assert "There is no such compute session" in missing.stdout + missing.stderr

    assert ps_json(live_server, "--dead")["total_count"] == 0
    ok(live_server.official("rm", "ps-one"))
    dead = ps_json(live_server, "--dead")
    assert [i["name"] for i in dead["items"]] == ["ps-one"]
    assert dead["items"][0]["status"] in DEAD
    assert "ps-one" in ok(live_server.official("ps", "--dead"))
    alive = ps_json(live_server)
    assert [i["name"] for i in alive["items"]] == ["ps-two"]
    ok(live_server.official("rm", "ps-two"))
    assert ps_json(live_server)["total_count"] == 0
    assert ps_json(live_server, "--status", "ALL")["total_count"] == 2


def test_format_options_the_client_itself_refuses(live_server: LiveServer) -> None:
    # The 22.3.2 CLI keys ``session_fields`` by alt name: ``id`` is ``kernel_id`` there and
    # ``cpu_using`` does not exist, so these stop client-side before any request.
    done = live_server.official("ps", "--format", "id,status,cpu_using")
    assert done.returncode == 1
    assert "There is no such format option: id" in done.stdout + done.stderr


def test_users_see_their_own_sessions_only(live_server: LiveServer) -> None:
    ada = new_user(live_server, "ada@example.com")
    bob = new_user(live_server, "bob@example.com")
    start(live_server, "ada-sess", **ada)
    start(live_server, "bob-sess", **bob)
    start(live_server, "admin-sess")

    mine = ps_json(live_server, **ada)
    assert [i["name"] for i in mine["items"]] == ["ada-sess"]
    assert "access_key" not in mine["items"][0]  # only admins get the owner column
    everyone = ps_json(live_server)
    assert {i["name"] for i in everyone["items"]} == {"ada-sess", "bob-sess", "admin-sess"}
    refused = live_server.official("ps", "--access-key", bob["BACKEND_ACCESS_KEY"], **ada)
    assert refused.returncode == 1
    assert "GraphQL" in refused.stdout + refused.stderr

    info = ok(live_server.official("admin", "keypair", "info", **ada))
    assert re.search(r"^Email\s+ada@example.com$", info, re.M), info
    assert ada["BACKEND_ACCESS_KEY"] in info
    assert "Concur.Used" in info
    listing = ok(live_server.official("admin", "keypair", "list"))
    assert "ada@example.com" in listing and "bob@example.com" in listing
    own = ok(live_server.official("admin", "keypair", "list", **bob))
    assert "bob@example.com" in own and "ada@example.com" not in own
    policy = ok(live_server.official("admin", "keypair-resource-policy", "info", "default"))
    assert re.search(r"^Name\s+default$", policy, re.M), policy
