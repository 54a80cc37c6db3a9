"""The official CLI's ``admin`` commands against a live ``hangar server``.

Each command's console table or ``--output json`` envelope is read back; mutations are
checked by listing again. Users, keypairs, groups, domains, policies, scaling groups,
images, agents and sessions.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.live import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("official_client")]


def ok(done: Any) -> str:
    out: str = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out, out
    return str(done.stdout)


def as_json(server: LiveServer, *args: str, **env: str) -> Any:
    return json.loads(ok(server.official("--output", "json", *args, **env)))


def items(server: LiveServer, *args: str, **env: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = as_json(server, *args, **env)["items"]
    return found


def test_users_keypairs_and_policies(live_server: LiveServer) -> None:
    s = live_server
    ok(
        s.official(
            "admin", "user", "add", "default", "ann@example.com", "ann-password", "-u", "ann"
        )
    )
    users = {u["email"]: u for u in items(s, "admin", "user", "list")}
    assert users["ann@example.com"]["role"] == "user"
    assert [g["name"] for g in users["ann@example.com"]["groups"]] == ["default"]
    info = ok(s.official("admin", "user", "info", "-e", "ann@example.com"))
    assert "ann@example.com" in info and "default" in info
    ok(s.official("admin", "user", "update", "ann@example.com", "-n", "Ann Smith"))
    assert "Ann Smith" in ok(s.official("admin", "user", "info", "-e", "ann@example.com"))

    ok(s.official("admin", "keypair-resource-policy", "add", "small"))
    ok(
        s.official(
            "admin", "keypair-resource-policy", "update", "small", "--max-concurrent-sessions", "2"
        )
    )
    policies = {p["name"]: p for p in items(s, "admin", "keypair-resource-policy", "list")}
    assert policies["small"]["max_concurrent_sessions"] == 2
    assert policies["small"]["allowed_vfolder_hosts"] == ["local"]
    assert "small" in ok(s.official("admin", "keypair-resource-policy", "info", "small"))

    added = ok(s.official("admin", "keypair", "add", "ann@example.com", "small"))
    access_key = re.search(r"(AKIA\w+)", added)
    secret_key = re.search(r"Secret Key: (\S+)|secret_key\W+(\S+)", added, re.I)
    assert access_key, added
    ann_keys = items(s, "admin", "keypair", "list", "-u", "ann@example.com")
    assert [k["access_key"] for k in ann_keys] == [access_key.group(1)]
    assert ann_keys[0]["resource_policy"] == "small"
    ak = access_key.group(1)
    secret = next(k["secret_key"] for k in ann_keys)
    assert secret_key is None or secret in added
    ann_env = {"BACKEND_ACCESS_KEY": ak, "BACKEND_SECRET_KEY": secret}
    mine = as_json(s, "admin", "keypair", "info", **ann_env)
    assert mine["items"][0]["access_key"] == ak if "items" in mine else mine["access_key"] == ak

    ok(s.official("admin", "keypair", "deactivate", ak))
    refused = s.official("admin", "keypair", "info", **ann_env)
    assert refused.returncode != 0 and "401" in refused.stdout + refused.stderr
    ok(s.official("admin", "keypair", "activate", ak))
    ok(s.official("admin", "keypair", "info", **ann_env))

    # a plain user may not administer: the CLI reports the refusal and exits non-zero
    denied = s.official(
        "admin", "user", "add", "default", "eve@example.com", "eve-password", **ann_env
    )
    assert denied.returncode != 0
    assert "no permission" in denied.stdout + denied.stderr
    assert "eve@example.com" not in {u["email"] for u in items(s, "admin", "user", "list")}

    ok(s.official("admin", "keypair", "delete", ak))
    assert items(s, "admin", "keypair", "list", "-u", "ann@example.com") == []
    ok(s.official("admin", "keypair-resource-policy", "delete", "small", input="y\n"))
    ok(s.official("admin", "user", "delete", "ann@example.com"))
    gone = {u["email"]: u for u in items(s, "admin", "user", "list", "-s", "deleted")}
    assert "ann@example.com" in gone


def pools_of(server: LiveServer, domain: str) -> list[str]:
    query = "query($d: String!) { scaling_groups_for_domain(domain: $d) { name } }"
    response = server.signed("POST", "/admin/gql", {"query": query, "variables": {"d": domain}})
    return [p["name"] for p in response.json()["data"]["scaling_groups_for_domain"]]


def test_domains_groups_and_scaling_groups(live_server: LiveServer) -> None:
    s = live_server
    ok(s.official("admin", "domain", "add", "research", "-d", "Research"))
    domains = {d["name"]: d for d in as_json(s, "admin", "domain", "list")["items"]}
    assert domains["research"]["description"] == "Research"
    assert "research" in ok(s.official("admin", "domain", "info", "research"))
    ok(s.official("admin", "domain", "update", "research", "--description", "R&D"))
    assert "R&D" in ok(s.official("admin", "domain", "info", "research"))

    added = ok(s.official("admin", "group", "add", "research", "vision"))
    groups = {g["name"]: g for g in as_json(s, "admin", "group", "list", "-d", "research")["items"]}
    gid = groups["vision"]["id"]
    assert gid in added or "vision" in added
    assert "vision" in ok(s.official("admin", "group", "info", gid))
    ok(s.official("admin", "group", "update", gid, "-d", "Vision team"))
    assert "Vision team" in ok(s.official("admin", "group", "info", gid))

    ok(s.official("admin", "scaling", "add", "gpu-pool", "-d", "GPUs"))
    pools = {p["name"]: p for p in as_json(s, "admin", "scaling", "list")["items"]}
    assert pools["gpu-pool"]["driver"] == "static" and pools["gpu-pool"]["scheduler"] == "fifo"
    assert "gpu-pool" in ok(s.official("admin", "scaling", "info", "gpu-pool"))
    ok(s.official("admin", "scaling", "update", "gpu-pool", "-d", "Big GPUs"))
    ok(s.official("admin", "scaling", "associate-scaling", "gpu-pool", "research"))
    available = ok(s.official("admin", "scaling", "get-available", "default"))
    assert "default" in available and "gpu-pool" not in available
    assert pools_of(s, "research") == ["gpu-pool"]
    # The 22.3.2 CLI prints a KeyError after a successful dissociation (it expects an item
    # the mutation does not return): check the effect instead of the exit code.
    s.official("admin", "scaling", "dissociate-scaling", "gpu-pool", "research")
    assert pools_of(s, "research") == []
    ok(s.official("admin", "scaling", "delete", "gpu-pool"))
    assert "gpu-pool" not in {p["name"] for p in as_json(s, "admin", "scaling", "list")["items"]}

    ok(s.official("admin", "group", "delete", gid))
    assert groups["vision"]["is_active"] is True
    after = {g["name"]: g for g in as_json(s, "admin", "group", "list", "-d", "research")["items"]}
    assert after["vision"]["is_active"] is False
    ok(s.official("admin", "group", "purge", gid, input="y\n"))
    ok(s.official("admin", "domain", "delete", "research"))
    ok(s.official("admin", "domain", "purge", "research", input="y\n"))
    assert "research" not in {d["name"] for d in as_json(s, "admin", "domain", "list")["items"]}


def test_images_agents_sessions_and_ps_format(live_server: LiveServer) -> None:
    s = live_server
    images = as_json(s, "admin", "image", "list")["items"]
    python = next(i for i in images if i["name"] == "python")
    ok(s.official("admin", "image", "alias", "my-python", f"python:{python['tag']}"))
    aliased = next(
        i for i in as_json(s, "admin", "image", "list")["items"] if i["name"] == "python"
    )
    assert "my-python" in aliased["aliases"]
    ok(s.official("admin", "image", "dealias", "my-python"))

    agents = as_json(s, "admin", "agent", "list")["items"]
    assert agents, "the embedded agent is listed"
    agent_id = agents[0]["id"]
    assert json.loads(json.dumps(agents[0]["available_slots"]))["cpu"]
    info = ok(s.official("admin", "agent", "info", agent_id))
    assert agent_id in info and "cpu_util" in info

    started = s.official("start", "-t", "fmt-sess", "python")
    ok(started)
    assert "is created and ready" in started.stdout + started.stderr
    # The 22.3.2 CLI only accepts its own field list in --format (cpu_using is not in it);
    # the SDK sends any field set, and Hangar's CLI prints the documented columns.
    script = (
        "from ai.backend.client.session import Session\n"
        "from ai.backend.client.output.types import FieldSpec\n"
        "with Session() as s:\n"
        "    page = s.ComputeSession.paginated_list('RUNNING', fields=[FieldSpec('id'),"
        " FieldSpec('status'), FieldSpec('cpu_using')])\n"
        "    print(list(page.items[0].items()))\n"
    )
    listed = s.official_python(script)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    pairs = dict(eval(listed.stdout))
    assert list(pairs) == ["id", "status", "cpu_using"]
    assert pairs["status"] == "RUNNING" and isinstance(pairs["cpu_using"], float)
    table = s.hangar("ps", "--format", "id,status,cpu_using")
    assert table.returncode == 0, table.stdout + table.stderr
    cells = [re.findall(r"[^\s│┃]+", line) for line in table.stdout.splitlines()]
    assert ["id", "status", "cpu_using"] in cells, table.stdout
    row = next(c for c in cells if "RUNNING" in c)
    assert re.fullmatch(r"[0-9a-f-]{36}", row[0]) and float(row[2]) >= 0, table.stdout

    ok(s.official("admin", "manager", "scheduler", "exclude-agents", agent_id))
    listed = as_json(s, "admin", "agent", "list")["items"]
    assert listed[0]["id"] == agent_id
    ok(s.official("admin", "manager", "scheduler", "include-agents", agent_id))
    status = ok(s.official("admin", "manager", "status"))
    assert "running" in status.lower()
    ok(s.official("rm", "fmt-sess"))
