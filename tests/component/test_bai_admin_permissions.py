"""The admin plane's permission matrix: every GraphQL query and mutation, asked by a plain
user of the default domain, by an admin of another domain and by a superadmin.

Each row says what each of them must get: the data (``OK``, optionally checked), a GraphQL
error (``ERROR``), nothing (``NULL``), or a refused mutation (``DENIED``: ``ok: false`` with
"no permission to execute ..."). Rows run user first, then the other domain's admin, then
the superadmin; a refused mutation must leave the probe's answer exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from hangar.core.clock import FakeClock
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.principal import Principal
from hangar.core.services import Services
from hangar.db.tables.agents import AgentRow
from tests.support.bai import Signer

OK, ERROR, NULL, DENIED = "ok", "error", "null", "denied"
USER, OTHER, SUPER = "user", "other-domain admin", "superadmin"
ROLES = (USER, OTHER, SUPER)
Check = Callable[[Any, "World"], bool]


@dataclass
class World:
    signers: dict[str, Signer] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    default_gid: str = ""
    other_gid: str = ""
    sessions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    name: str
    document: str
    variables: dict[str, Any] | Callable[[World], dict[str, Any]]
    expect: dict[str, str]
    checks: dict[str, Check] = field(default_factory=dict)
    probe: str | None = None  # a superadmin query whose answer a refusal must not change


async def call(
    client: httpx.AsyncClient, signer: Signer, document: str, variables: dict[str, Any]
) -> dict[str, Any]:
    headers = signer.headers("POST", "/admin/gql", content_type="application/json")
    body = json.dumps({"query": document, "variables": variables}).encode()
    response = await client.post("/admin/gql", headers=headers, content=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def outcome(body: dict[str, Any]) -> tuple[str, Any]:
    if body.get("errors"):
        return ERROR, body["errors"]
    data = body["data"]
    value = next(iter(data.values()))
    if value is None:
        return NULL, None
    if isinstance(value, dict) and "ok" in value and "msg" in value:
        if value["ok"]:
            return OK, value
        if str(value["msg"]).startswith("no permission to execute"):
            return DENIED, value
        return "failed: " + str(value["msg"]), value
    return OK, value


def emails(value: Any) -> set[str]:
    items = value["items"] if isinstance(value, dict) else value
    return {i.get("email") or i.get("user_id") for i in items}


def every(*roles: str, value: str = OK) -> dict[str, str]:
    return dict.fromkeys(roles, value)


SUPER_ONLY_QUERY = {USER: ERROR, OTHER: ERROR, SUPER: OK}
SUPER_ONLY_MUTATION = {USER: DENIED, OTHER: DENIED, SUPER: OK}
PAGE = (
    "query($limit:Int!, $offset:Int!) "
    "{ %s(limit:$limit, offset:$offset) { items { %s } total_count } }"
)


def page(root: str, fields: str) -> str:
    return PAGE % (root, fields)


LIMITS = {"limit": 50, "offset": 0}

ROWS: list[Row] = [
    # Queries -------------------------------------------------------------------------------
    Row(
        "domain (default)",
        'query { domain(name: "default") { name total_resource_slots } }',
        {},
        {USER: OK, OTHER: ERROR, SUPER: OK},
    ),
    Row("domains", "query { domains { name } }", {}, SUPER_ONLY_QUERY),
    Row(
        "groups (default domain)",
        'query { groups(domain_name: "default") { id name } }',
        {},
        {USER: OK, OTHER: ERROR, SUPER: OK},
        checks={USER: lambda v, w: [g["name"] for g in v] == ["default"]},
    ),
    Row(
        "group (default group)",
        "query($gid: UUID!) { group(id: $gid) { id name domain_name } }",
        lambda w: {"gid": w.default_gid},
        {USER: OK, OTHER: NULL, SUPER: OK},
    ),
    Row(
        "users (default domain)",
        'query { users(domain_name: "default") { email } }',
        {},
        SUPER_ONLY_QUERY,
    ),
    Row(
        "user_list",
        page("user_list", "email domain_name groups { name }"),
        LIMITS,
        {USER: ERROR, OTHER: OK, SUPER: OK},
        checks={
            OTHER: lambda v, w: emails(v) == {w.emails[OTHER], "member@other.test"},
            SUPER: lambda v, w: {w.emails[USER], w.emails[OTHER], w.emails[SUPER]} <= emails(v),
        },
    ),
    Row(
        "user (superadmin's)",
        "query($email: String) { user(email: $email) { email role } }",
        lambda w: {"email": w.emails[SUPER]},
        {USER: ERROR, OTHER: NULL, SUPER: OK},
    ),
    Row(
        "user (self)",
        "query { user { email } }",
        {},
        every(*ROLES),
        checks={r: (lambda role: lambda v, w: v["email"] == w.emails[role])(r) for r in ROLES},
    ),
    Row(
        "keypair_list",
        page("keypair_list", "user_id access_key"),
        LIMITS,
        every(*ROLES),
        checks={
            USER: lambda v, w: emails(v) == {w.emails[USER]},
            OTHER: lambda v, w: emails(v) == {w.emails[OTHER], "member@other.test"},
            SUPER: lambda v, w: {w.emails[USER], w.emails[OTHER]} <= emails(v),
        },
    ),
    Row(
        "keypair (superadmin's)",
        "query($ak: String) { keypair(access_key: $ak) { access_key } }",
        lambda w: {"ak": w.keys[SUPER]},
        {USER: ERROR, OTHER: NULL, SUPER: OK},
    ),
    Row(
        "compute_session_list",
        page("compute_session_list", "name access_key"),
        LIMITS,
        every(*ROLES),
        checks={
            USER: lambda v, w: {i["name"] for i in v["items"]} == {"user-sess"},
            OTHER: lambda v, w: v["total_count"] == 0,
            SUPER: lambda v, w: {i["name"] for i in v["items"]} == {"user-sess", "super-sess"},
        },
    ),
    Row(
        "compute_session (superadmin's)",
        "query($id: UUID!) { compute_session(id: $id) { name } }",
        lambda w: {"id": w.sessions[SUPER]},
        {USER: NULL, OTHER: NULL, SUPER: OK},
    ),
    Row("agent_list", page("agent_list", "id status"), LIMITS, SUPER_ONLY_QUERY),
    Row("agents", "query { agents { id } }", {}, SUPER_ONLY_QUERY),
    Row("agent", 'query { agent(agent_id: "node-1") { id live_stat } }', {}, SUPER_ONLY_QUERY),
    Row("scaling_groups", "query { scaling_groups { name } }", {}, SUPER_ONLY_QUERY),
    Row("scaling_group", 'query { scaling_group(name: "default") { name } }', {}, SUPER_ONLY_QUERY),
    Row(
        "scaling_groups_for_domain (default)",
        'query { scaling_groups_for_domain(domain: "default") { name } }',
        {},
        {USER: OK, OTHER: ERROR, SUPER: OK},
    ),
    Row(
        "scaling_groups_for_keypair (user's)",
        "query($ak: String!) { scaling_groups_for_keypair(access_key: $ak) { name } }",
        lambda w: {"ak": w.keys[USER]},
        {USER: OK, OTHER: ERROR, SUPER: OK},
    ),
    Row("images", "query { images { name tag aliases size_bytes } }", {}, every(*ROLES)),
    Row("resource_presets", "query { resource_presets { name } }", {}, every(*ROLES)),
    Row(
        "keypair_resource_policies",
        "query { keypair_resource_policies { name } }",
        {},
        every(*ROLES),
        checks={USER: lambda v, w: [p["name"] for p in v] == ["default"]},
    ),
    # Mutations -----------------------------------------------------------------------------
    Row(
        "create_domain",
        'mutation { create_domain(name: "made", props: {}) { ok msg domain { name } } }',
        {},
        SUPER_ONLY_MUTATION,
        probe="query { domains { name } }",
    ),
    Row(
        "modify_domain (default)",
        'mutation { modify_domain(name: "default", props: {description: "changed"}) { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe='query { domain(name: "default") { description } }',
    ),
    Row(
        "delete_domain",
        'mutation { delete_domain(name: "doomed") { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe="query { domains { name is_active } }",
    ),
    Row(
        "create_group (default domain)",
        'mutation { create_group(name: "g1", props: {domain_name: "default"}) '
        "{ ok msg group { id } } }",
        {},
        SUPER_ONLY_MUTATION,
        probe='query { groups(domain_name: "default") { name } }',
    ),
    Row(
        "create_group (other domain)",
        'mutation { create_group(name: "g2", props: {domain_name: "other"}) '
        "{ ok msg group { id } } }",
        {},
        {
            USER: DENIED,
            OTHER: OK,
            SUPER: "failed: A group with this name already exists in the domain.",
        },
    ),
    Row(
        "modify_group (default group)",
        'mutation($gid: UUID!) { modify_group(gid: $gid, props: {description: "x"}) { ok msg } }',
        lambda w: {"gid": w.default_gid},
        SUPER_ONLY_MUTATION,
        probe='query { groups(domain_name: "default") { name description } }',
    ),
    Row(
        "create_user (default domain)",
        'mutation { create_user(email: "new@default.test", props: {password: "pw-pw-pw-pw", '
        'need_password_change: false, domain_name: "default"}) { ok msg user { email } } }',
        {},
        SUPER_ONLY_MUTATION,
        probe='query { users(domain_name: "default") { email } }',
    ),
    Row(
        "create_user (other domain)",
        'mutation { create_user(email: "new@other.test", props: {password: "pw-pw-pw-pw", '
        'need_password_change: false, domain_name: "other"}) { ok msg user { email } } }',
        {},
        {
            USER: DENIED,
            OTHER: OK,
            SUPER: "failed: A user with this email or username already exists.",
        },
    ),
    Row(
        "create_user (superadmin role in other domain)",
        'mutation { create_user(email: "boss@other.test", props: {password: "pw-pw-pw-pw", '
        'need_password_change: false, domain_name: "other", role: "superadmin"}) { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe='query { users(domain_name: "other") { email } }',
    ),
    Row(
        "modify_user (user)",
        "mutation($email: String!) { modify_user(email: $email, "
        'props: {full_name: "Renamed"}) { ok msg } }',
        lambda w: {"email": w.emails[USER]},
        SUPER_ONLY_MUTATION,
        probe='query { users(domain_name: "default") { email full_name } }',
    ),
    Row(
        "delete_user",
        'mutation { delete_user(email: "victim@default.test") { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe='query { users(domain_name: "default") { email status } }',
    ),
    Row(
        "create_keypair (for the user)",
        "mutation($email: String!) { create_keypair(user_id: $email, "
        'props: {resource_policy: "default", rate_limit: 100}) { ok msg keypair { access_key } } }',
        lambda w: {"email": w.emails[USER]},
        SUPER_ONLY_MUTATION,
        probe='query { keypairs(email: "user@default.test") { access_key } }',
    ),
    Row(
        "modify_keypair (user's)",
        "mutation($ak: String!) { modify_keypair(access_key: $ak, props: {rate_limit: 7000}) "
        "{ ok msg } }",
        lambda w: {"ak": w.keys[USER]},
        SUPER_ONLY_MUTATION,
        probe='query { keypairs(email: "user@default.test") { rate_limit } }',
    ),
    Row(
        "delete_keypair (spare key)",
        "mutation($ak: String!) { delete_keypair(access_key: $ak) { ok msg } }",
        lambda w: {"ak": w.keys["spare"]},
        SUPER_ONLY_MUTATION,
        probe='query { keypairs(email: "victim@default.test") { access_key } }',
    ),
    Row(
        "create_keypair_resource_policy",
        'mutation { create_keypair_resource_policy(name: "p1", props: {default_for_unspecified:'
        ' "UNLIMITED", total_resource_slots: "{}", max_concurrent_sessions: 3, '
        "max_containers_per_session: 1, idle_timeout: 10, max_vfolder_count: 1, "
        "max_vfolder_size: 0, allowed_vfolder_hosts: \"['local']\"}) "
        "{ ok msg resource_policy { name allowed_vfolder_hosts } } }",
        {},
        SUPER_ONLY_MUTATION,
        checks={SUPER: lambda v, w: v["resource_policy"]["allowed_vfolder_hosts"] == ["local"]},
        probe="query { keypair_resource_policies { name } }",
    ),
    Row(
        "modify_keypair_resource_policy (default)",
        'mutation { modify_keypair_resource_policy(name: "default", '
        "props: {max_concurrent_sessions: 9}) { ok msg } }",
        {},
        SUPER_ONLY_MUTATION,
        probe="query { keypair_resource_policies { name max_concurrent_sessions } }",
    ),
    Row(
        "create_scaling_group",
        'mutation { create_scaling_group(name: "sg1", props: {driver: "static", '
        'scheduler: "fifo", driver_opts: "{}", scheduler_opts: "{}"}) '
        "{ ok msg scaling_group { name } } }",
        {},
        SUPER_ONLY_MUTATION,
        probe="query { scaling_groups { name } }",
    ),
    Row(
        "associate_scaling_group_with_domain",
        'mutation { associate_scaling_group_with_domain(scaling_group: "default", '
        'domain: "other") { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe='query { scaling_groups_for_domain(domain: "other") { name } }',
    ),
    Row(
        "disassociate_scaling_group_with_user_group",
        "mutation($g: String!) { disassociate_scaling_group_with_user_group("
        'scaling_group: "default", user_group: $g) { ok msg } }',
        lambda w: {"g": w.default_gid},
        SUPER_ONLY_MUTATION,
    ),
    Row(
        "modify_agent",
        'mutation { modify_agent(id: "node-1", props: {schedulable: false}) { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe="query { agents { id schedulable } }",
    ),
    Row(
        "alias_image",
        'mutation { alias_image(alias: "py-alias", target: "python") { ok msg } }',
        {},
        SUPER_ONLY_MUTATION,
        probe="query { images { aliases } }",
    ),
    Row(
        "create_resource_preset",
        'mutation { create_resource_preset(name: "small", props: '
        '{resource_slots: "{\\"cpu\\": \\"1\\", \\"mem\\": \\"1g\\"}"}) '
        "{ ok msg resource_preset { name } } }",
        {},
        SUPER_ONLY_MUTATION,
        probe="query { resource_presets { name resource_slots } }",
    ),
]


async def build_world(
    client: httpx.AsyncClient, services: Services, admin: Signer, clock: FakeClock
) -> World:
    world = World()
    world.signers[SUPER] = admin
    world.keys[SUPER] = admin.access_key
    su = (await services.identity.credentials_for(admin.access_key)).caller
    world.emails[SUPER] = su.email

    async def su_call(document: str, variables: dict[str, Any] | None = None) -> Any:
        body = await call(client, admin, document, variables or {})
        assert not body.get("errors"), body
        value = next(iter(body["data"].values()))
        if isinstance(value, dict) and "ok" in value:
            assert value["ok"], value
        return value

    for domain in ("other", "doomed"):
        await su_call(f'mutation {{ create_domain(name: "{domain}", props: {{}}) {{ ok msg }} }}')

    async def person(email: str, domain: str, role: str, is_admin: bool) -> tuple[Signer, str]:
        await su_call(
            "mutation($e: String!, $p: UserInput!) { create_user(email: $e, props: $p) "
            "{ ok msg } }",
            {
                "e": email,
                "p": {
                    "password": "a-good-password",
                    "need_password_change": False,
                    "domain_name": domain,
                    "role": role,
                },
            },
        )
        made = await su_call(
            "mutation($e: String!, $p: KeyPairInput!) { create_keypair(user_id: $e, props: $p) "
            "{ ok msg keypair { access_key secret_key } } }",
            {"e": email, "p": {"is_admin": is_admin, "resource_policy": "default"}},
        )
        kp = made["keypair"]
        return Signer(kp["access_key"], kp["secret_key"]), kp["access_key"]

    for role, email, domain, kind, is_admin in (
        (USER, "user@default.test", "default", "user", False),
        (OTHER, "admin@other.test", "other", "admin", True),
    ):
        world.signers[role], world.keys[role] = await person(email, domain, kind, is_admin)
        world.emails[role] = email
    await person("member@other.test", "other", "user", False)
    _, world.keys["spare"] = await person("victim@default.test", "default", "user", False)

    groups = await su_call("query { groups { id name domain_name } }")
    world.default_gid = next(g["id"] for g in groups if g["domain_name"] == "default")
    world.other_gid = next(g["id"] for g in groups if g["domain_name"] == "other")
    now = datetime.now(UTC)
    async with services.sessions() as db, db.begin():
        db.add(
            AgentRow(
                id="node-1",
                status="ALIVE",
                status_changed=now,
                scaling_group="default",
                available_slots={"cpu": "4", "mem": "8589934592"},
                first_contact=now,
                last_heartbeat=now,
            )
        )
    user_caller = (await services.identity.credentials_for(world.keys[USER])).caller
    for role, caller, name in ((USER, user_caller, "user-sess"), (SUPER, su, "super-sess")):
        world.sessions[role] = str(await new_session(services, clock, caller, name))
    return world


async def new_session(services: Services, clock: FakeClock, owner: Principal, name: str) -> Any:
    request = CreateRequest(name=name, spec=SessionSpec("python"), enqueue_only=True)
    result = await services.compute.create(owner, request)
    clock.advance(1)
    return result.session.id


async def test_permission_matrix(
    client: httpx.AsyncClient, services: Services, admin: Signer, clock: FakeClock
) -> None:
    world = await build_world(client, services, admin, clock)
    mismatches: list[str] = []
    for row in ROWS:
        variables = row.variables(world) if callable(row.variables) else row.variables
        before = await call(client, admin, row.probe, {}) if row.probe else None
        for role in ROLES:
            body = await call(client, world.signers[role], row.document, variables)
            got, value = outcome(body)
            want = row.expect[role]
            if got != want:
                mismatches.append(f"{row.name} / {role}: expected {want}, got {got}: {body}")
                continue
            check = row.checks.get(role)
            if check is not None and not check(value, world):
                mismatches.append(f"{row.name} / {role}: unexpected content {value}")
            if role == OTHER and before is not None:
                after = await call(client, admin, row.probe or "", {})
                if after != before:
                    mismatches.append(f"{row.name}: a refused call changed {before} -> {after}")
    assert not mismatches, "\n".join(mismatches)


async def test_frozen_manager_refuses_mutations(
    client: httpx.AsyncClient, services: Services, admin: Signer
) -> None:
    await services.manager.set_status("frozen")
    body = await call(
        client, admin, 'mutation { create_domain(name: "cold", props: {}) { ok msg } }', {}
    )
    assert body["errors"] and "frozen" in body["errors"][0]["message"]
    reads = await call(client, admin, "query { domains { name } }", {})
    assert "errors" not in reads
    assert "cold" not in [d["name"] for d in reads["data"]["domains"]]
    await services.manager.set_status("running")
    body = await call(
        client, admin, 'mutation { create_domain(name: "cold", props: {}) { ok msg } }', {}
    )
    assert body["data"]["create_domain"]["ok"] is True
