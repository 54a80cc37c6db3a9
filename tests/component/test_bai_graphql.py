"""GraphQL (``POST /admin/gql``): the official client's documents, paging, scoping, errors."""

from __future__ import annotations

import json
import textwrap
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from hangar.core.clock import FakeClock
from hangar.core.compute.models import CreateRequest, SessionSpec
from hangar.core.principal import Principal, Role
from hangar.core.services import Services
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import DomainRow, GroupRow
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"

ACTIVE = (
    "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING,RESIZING,SUSPENDED,ERROR"
)
DEAD = "CANCELLED,TERMINATED"
ALL = ACTIVE + "," + DEAD

# The client's documents, character for character ----------------------------------------

KEYPAIR_INFO = "query {  keypair {    user_id access_key secret_key is_active is_admin  }}"

PS_FIELDS = "name session_id group_name id image type status status_info status_changed result"
PS_ADMIN_FIELDS = (
    "name access_key session_id group_name id image type status status_info status_changed result"
)

SESSION_INFO = (
    "query($id: UUID!) {  compute_session(id: $id) {"
    "    name session_id id image tag created_at terminated_at status status_info status_data"
    " occupied_slots containers { id cluster_role cluster_idx cluster_hostname session_id image"
    " registry status status_info status_data status_changed agent container_id resource_opts"
    " occupied_slots live_stat last_stat } dependencies { name id }  }}"
)

KEYPAIR_LIST_FIELDS = (
    "user_id user_info { full_name } access_key secret_key is_active is_admin created_at"
    " last_used resource_policy rate_limit concurrency_used"
)

POLICY_INFO = (
    "query($name: String) {  keypair_resource_policy(name: $name) {"
    "    name created_at total_resource_slots max_concurrent_sessions max_vfolder_count"
    " max_vfolder_size idle_timeout max_containers_per_session allowed_vfolder_hosts  }}"
)


def paginated(root: str, variables: dict[str, str], fields: str) -> str:
    """``ai.backend.client.pagination.execute_paginated_query``'s template."""
    query = """
    query($limit:Int!, $offset:Int!, $var_decls) {
      $root_field(
          limit:$limit, offset:$offset, $var_args) {
        items { $fields }
        total_count
      }
    }"""
    query = query.replace("$root_field", root)
    query = query.replace("$fields", fields)
    query = query.replace("$var_decls", ", ".join(f"${k}: {t}" for k, t in variables.items()))
    query = query.replace("$var_args", ", ".join(f"{k}:${k}" for k in variables))
    return textwrap.dedent(query).strip()


def ps_document(fields: str = PS_FIELDS) -> str:
    variables = {"status": "String", "access_key": "String", "filter": "String", "order": "String"}
    return paginated("compute_session_list", variables, fields)


def ps_variables(
    status: str | None = ACTIVE,
    access_key: str | None = None,
    filter: str | None = None,
    order: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, Any]:
    return {
        "status": status,
        "access_key": access_key,
        "filter": filter,
        "order": order,
        "limit": limit,
        "offset": offset,
    }


# Helpers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    signer: Signer
    caller: Principal
    email: str


async def post_gql(
    client: httpx.AsyncClient,
    signer: Signer,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    path: str = "/admin/gql",
) -> httpx.Response:
    headers = signer.headers("POST", path, content_type="application/json")
    body = {"query": query, "variables": variables or {}}
    return await client.post(path, headers=headers, content=json.dumps(body).encode())


async def gql(
    client: httpx.AsyncClient,
    signer: Signer,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``data`` of a successful GraphQL response."""
    response = await post_gql(client, signer, query, variables)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    assert list(body) == ["data"]
    data: dict[str, Any] = body["data"]
    return data


async def gql_errors(
    client: httpx.AsyncClient,
    signer: Signer,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A response that carries errors (still a 200)."""
    response = await post_gql(client, signer, query, variables)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["errors"], body
    for error in body["errors"]:
        assert isinstance(error["message"], str) and error["message"]
    return body


async def ps(
    client: httpx.AsyncClient, signer: Signer, fields: str = PS_FIELDS, **variables: Any
) -> dict[str, Any]:
    data = await gql(client, signer, ps_document(fields), ps_variables(**variables))
    result: dict[str, Any] = data["compute_session_list"]
    return result


async def account(
    services: Services,
    email: str,
    *,
    role: Role = Role.USER,
    is_admin: bool = False,
    domain_name: str = "default",
) -> Account:
    await services.identity.create_user(
        email=email,
        password="a-good-password",
        role=role,
        domain_name=domain_name,
        full_name=email.split("@")[0].title(),
    )
    issued = await services.identity.issue_keypair(email=email, is_admin=is_admin)
    creds = await services.identity.credentials_for(issued.keypair.access_key)
    return Account(Signer(issued.keypair.access_key, issued.secret_key), creds.caller, email)


async def new_session(
    services: Services, clock: FakeClock, owner: Principal, name: str, **changes: Any
) -> uuid.UUID:
    """An enqueued session (PENDING, no agent); ``changes`` overwrite its row afterwards."""
    result = await services.compute.create(
        owner,
        CreateRequest(
            name=name, spec=SessionSpec("python"), enqueue_only=True, domain_name=owner.domain_name
        ),
    )
    clock.advance(1)
    if changes:
        async with services.sessions() as db, db.begin():
            await db.execute(
                update(SessionRow).where(SessionRow.id == result.session.id).values(**changes)
            )
    return result.session.id


async def add_domain(services: Services, clock: FakeClock, name: str) -> None:
    now = clock.now()
    async with services.sessions() as db, db.begin():
        db.add(DomainRow(name=name, description="", created_at=now, modified_at=now))
        await db.flush()
        db.add(
            GroupRow(
                id=uuid.uuid4(),
                name="default",
                domain_name=name,
                created_at=now,
                modified_at=now,
            )
        )


@pytest.fixture
async def superadmin(services: Services, admin: Signer) -> Account:
    creds = await services.identity.credentials_for(admin.access_key)
    return Account(admin, creds.caller, creds.caller.email)


@pytest.fixture
async def ada(services: Services) -> Account:
    return await account(services, "ada@example.com")


@pytest.fixture
async def bob(services: Services) -> Account:
    return await account(services, "bob@example.com")


# The client's documents -----------------------------------------------------------------


async def test_keypair_info_document(
    client: httpx.AsyncClient, services: Services, ada: Account
) -> None:
    data = await gql(client, ada.signer, KEYPAIR_INFO)
    keypair = data["keypair"]
    assert list(keypair) == ["user_id", "access_key", "secret_key", "is_active", "is_admin"]
    assert keypair == {
        "user_id": "ada@example.com",
        "access_key": ada.signer.access_key,
        "secret_key": ada.signer.secret_key,
        "is_active": True,
        "is_admin": False,
    }


async def test_ps_document_for_a_user(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    created = clock.now()
    session_id = await new_session(services, clock, ada.caller, "first")
    result = await ps(client, ada.signer)
    assert result["total_count"] == 1
    assert list(result) == ["items", "total_count"]
    (item,) = result["items"]
    assert list(item) == PS_FIELDS.split()
    assert item["name"] == "first"
    assert item["session_id"] == item["id"] == str(session_id)
    assert item["group_name"] == "default"
    assert item["image"].startswith("python:")
    assert item["type"] == "INTERACTIVE"
    assert item["status"] == "PENDING"
    assert item["result"] == "UNDEFINED"
    assert item["status_info"] is None
    assert "T" in item["status_changed"]
    assert datetime.fromisoformat(item["status_changed"]) == created


async def test_ps_document_for_an_admin_with_access_key(
    client: httpx.AsyncClient,
    services: Services,
    clock: FakeClock,
    superadmin: Account,
    ada: Account,
) -> None:
    await new_session(services, clock, ada.caller, "ada-one")
    result = await ps(client, superadmin.signer, PS_ADMIN_FIELDS)
    (item,) = result["items"]
    assert list(item) == PS_ADMIN_FIELDS.split()
    assert item["access_key"] == ada.signer.access_key


async def test_session_info_document(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    stat = {"cpu_used": 120, "mem_max_bytes": 4096, "mem_cur_bytes": 1024}  # as the core keeps it
    session_id = await new_session(
        services,
        clock,
        ada.caller,
        "infosess",
        occupied_slots={"cpu": "1", "mem": "1073741824"},
        status_data={"scheduler": {"msg": "waiting"}},
        last_stat=stat,
        tag="exp-1",
    )
    data = await gql(client, ada.signer, SESSION_INFO, {"id": str(session_id)})
    session = data["compute_session"]
    assert list(session) == [
        "name",
        "session_id",
        "id",
        "image",
        "tag",
        "created_at",
        "terminated_at",
        "status",
        "status_info",
        "status_data",
        "occupied_slots",
        "containers",
        "dependencies",
    ]
    assert session["name"] == "infosess"
    assert session["tag"] == "exp-1"
    assert session["terminated_at"] is None
    assert isinstance(session["occupied_slots"], str)
    assert json.loads(session["occupied_slots"]) == {"cpu": "1", "mem": "1073741824"}
    assert json.loads(session["status_data"]) == {"scheduler": {"msg": "waiting"}}
    assert session["dependencies"] == []
    (container,) = session["containers"]
    assert list(container) == [
        "id",
        "cluster_role",
        "cluster_idx",
        "cluster_hostname",
        "session_id",
        "image",
        "registry",
        "status",
        "status_info",
        "status_data",
        "status_changed",
        "agent",
        "container_id",
        "resource_opts",
        "occupied_slots",
        "live_stat",
        "last_stat",
    ]
    assert container["id"] == container["session_id"] == str(session_id)
    assert container["cluster_role"] == "main"
    assert container["agent"] is None
    assert container["live_stat"] is None
    last = json.loads(container["last_stat"])  # as Backend.AI writes it
    assert (last["status"], last["version"]) == ("terminated", 2)
    assert last["cpu_used"] == {
        "current": "120", "capacity": None, "pct": None, "unit_hint": "msec"
    }  # fmt: skip
    assert (last["mem"]["current"], last["mem"]["stats.max"]) == ("1024", "4096")
    assert json.loads(container["occupied_slots"]) == {"cpu": "1", "mem": "1073741824"}
    assert json.loads(container["resource_opts"]) == {}


async def test_pending_session_has_empty_slots_not_null(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    session_id = await new_session(services, clock, ada.caller, "pending1")
    data = await gql(client, ada.signer, SESSION_INFO, {"id": str(session_id)})
    assert data["compute_session"]["occupied_slots"] == "{}"
    assert data["compute_session"]["status_data"] is None


async def test_unknown_or_invisible_session_is_null(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account, bob: Account
) -> None:
    session_id = await new_session(services, clock, ada.caller, "private")
    data = await gql(client, bob.signer, SESSION_INFO, {"id": str(session_id)})
    assert data == {"compute_session": None}
    data = await gql(client, ada.signer, SESSION_INFO, {"id": str(uuid.uuid4())})
    assert data == {"compute_session": None}


async def test_keypair_list_and_policy_documents(
    client: httpx.AsyncClient,
    services: Services,
    clock: FakeClock,
    superadmin: Account,
    ada: Account,
) -> None:
    await new_session(services, clock, ada.caller, "holding", status="RUNNING")
    await new_session(services, clock, ada.caller, "waiting")
    variables = {"is_active": "Boolean", "domain_name": "String", "filter": "String"}
    variables["order"] = "String"
    document = paginated("keypair_list", variables, KEYPAIR_LIST_FIELDS)
    values = {"is_active": None, "domain_name": None, "filter": None, "order": None}
    data = await gql(client, ada.signer, document, {**values, "limit": 20, "offset": 0})
    listing = data["keypair_list"]
    assert listing["total_count"] == 1
    (item,) = listing["items"]
    assert list(item) == [
        "user_id",
        "user_info",
        "access_key",
        "secret_key",
        "is_active",
        "is_admin",
        "created_at",
        "last_used",
        "resource_policy",
        "rate_limit",
        "concurrency_used",
    ]
    assert item["user_info"] == {"full_name": "Ada"}
    assert item["concurrency_used"] == 1  # RUNNING holds resources; PENDING does not
    assert item["resource_policy"] == "default"

    data = await gql(client, superadmin.signer, document, {**values, "limit": 20, "offset": 0})
    emails = {i["user_id"] for i in data["keypair_list"]["items"]}
    assert emails == {"ada@example.com", superadmin.email}
    page = {**values, "limit": 20, "offset": 0, "filter": "is_active <= true"}
    body = await gql_errors(client, ada.signer, document, page)
    assert body["errors"][0]["message"] == (
        "Invalid filter expression (bad value for is_active: true and false compare only "
        "for equality): is_active <= true"
    )

    data = await gql(client, ada.signer, POLICY_INFO, {"name": None})
    policy = data["keypair_resource_policy"]
    assert policy["name"] == "default"
    assert isinstance(policy["total_resource_slots"], str)
    json.loads(policy["total_resource_slots"])
    assert isinstance(policy["max_vfolder_size"], int)
    assert isinstance(policy["allowed_vfolder_hosts"], list)


async def test_keypairs_sdk_documents(
    client: httpx.AsyncClient, superadmin: Account, ada: Account, bob: Account
) -> None:
    fields = "user_id access_key secret_key is_active is_admin created_at"
    document = "query($is_active: Boolean) {  keypairs(is_active: $is_active) {    $fields  }}"
    document = document.replace("$fields", fields)
    data = await gql(client, superadmin.signer, document, {"is_active": None})
    assert {k["user_id"] for k in data["keypairs"]} >= {"ada@example.com", "bob@example.com"}
    by_email = (
        "query($email: String!, $is_active: Boolean) {"
        "  keypairs(email: $email, is_active: $is_active) {    $fields  }}"
    ).replace("$fields", fields)
    data = await gql(
        client, superadmin.signer, by_email, {"is_active": True, "email": "bob@example.com"}
    )
    assert [k["access_key"] for k in data["keypairs"]] == [bob.signer.access_key]
    # A user sees only their own keypairs.
    data = await gql(client, ada.signer, document, {"is_active": None})
    assert [k["access_key"] for k in data["keypairs"]] == [ada.signer.access_key]


# Paging, status filters, ordering, filters ---------------------------------------------


async def test_pagination_and_total_count(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    names = [f"page-{i}" for i in range(5)]
    for name in names:
        await new_session(services, clock, ada.caller, name)
    newest_first = list(reversed(names))
    seen: list[str] = []
    for offset in (0, 2, 4):
        result = await ps(client, ada.signer, "name", limit=2, offset=offset)
        assert result["total_count"] == 5
        seen += [item["name"] for item in result["items"]]
    assert seen == newest_first
    result = await ps(client, ada.signer, "name", limit=2, offset=10)
    assert result == {"items": [], "total_count": 5}
    result = await ps(client, ada.signer, "name", limit=0, offset=0)
    assert result == {"items": [], "total_count": 5}


async def test_status_filters(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    await new_session(services, clock, ada.caller, "pending")
    await new_session(services, clock, ada.caller, "running", status="RUNNING")
    await new_session(services, clock, ada.caller, "errored", status="ERROR")
    await new_session(services, clock, ada.caller, "finished", status="TERMINATED")
    await new_session(services, clock, ada.caller, "cancelled", status="CANCELLED")

    async def names(status: str | None) -> set[str]:
        result = await ps(client, ada.signer, "name status", status=status)
        assert result["total_count"] == len(result["items"])
        return {item["name"] for item in result["items"]}

    assert await names(ACTIVE) == {"pending", "running", "errored"}
    assert await names(DEAD) == {"finished", "cancelled"}
    assert await names("PREPARING,PULLING,RUNNING") == {"running"}
    assert await names(ALL) == {"pending", "running", "errored", "finished", "cancelled"}
    assert await names(None) == await names(ALL)
    assert await names("running, pending") == {"running", "pending"}
    assert await names("RESIZING") == set()


async def test_ordering(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    for name in ("bravo", "alpha", "charlie"):
        await new_session(services, clock, ada.caller, name)

    async def names(order: str | None) -> list[str]:
        result = await ps(client, ada.signer, "name", order=order)
        return [item["name"] for item in result["items"]]

    assert await names(None) == ["charlie", "alpha", "bravo"]
    assert await names("-created_at") == ["charlie", "alpha", "bravo"]
    assert await names("created_at") == ["bravo", "alpha", "charlie"]
    assert await names("+name") == ["alpha", "bravo", "charlie"]
    assert await names("-name") == ["charlie", "bravo", "alpha"]
    body = await gql_errors(client, ada.signer, ps_document("name"), ps_variables(order="-nope"))
    assert body["data"] == {"compute_session_list": None}
    assert "nope" in body["errors"][0]["message"]


async def test_filter_expressions(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    await new_session(services, clock, ada.caller, "alpha")
    await new_session(services, clock, ada.caller, "beta", status="RUNNING")
    await new_session(services, clock, ada.caller, "gamma", status="RUNNING", tag="t1")

    async def names(expr: str) -> set[str]:
        result = await ps(client, ada.signer, "name", filter=expr, status=None)
        return {item["name"] for item in result["items"]}

    assert await names('name == "alpha"') == {"alpha"}
    assert await names('status == "RUNNING"') == {"beta", "gamma"}
    assert await names("status != 'RUNNING'") == {"alpha"}
    assert await names('status == "RUNNING" & !(name == "beta")') == {"gamma"}
    assert await names('name == "alpha" | tag == "t1"') == {"alpha", "gamma"}
    assert await names('name in ["alpha", "beta"]') == {"alpha", "beta"}
    assert await names('name contains "mm"') == {"gamma"}
    assert await names('name like "b%"') == {"beta"}
    assert await names("tag is null") == {"alpha", "beta"}
    assert await names("tag isnot null") == {"gamma"}
    assert await names('type == "interactive"') == {"alpha", "beta", "gamma"}
    for bad in ('name = "x"', "nope == 1", 'name == "x" &', "(name == 'x'", 'created_at > "x"'):
        body = await gql_errors(
            client, ada.signer, ps_document("name"), ps_variables(filter=bad, status=None)
        )
        assert body["data"] == {"compute_session_list": None}


async def test_response_keys_follow_the_selection_order(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    await new_session(services, clock, ada.caller, "ordered")
    fields = "result status id name created_at occupied_slots type image session_id tag"
    result = await ps(client, ada.signer, fields)
    assert list(result["items"][0]) == fields.split()
    reversed_fields = " ".join(reversed(fields.split()))
    result = await ps(client, ada.signer, reversed_fields)
    assert list(result["items"][0]) == reversed_fields.split()
    document = "query { b: keypair { is_admin access_key } a: keypair { access_key } }"
    data = await gql(client, ada.signer, document)
    assert list(data) == ["b", "a"]
    assert list(data["b"]) == ["is_admin", "access_key"]


async def test_containers(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account, bob: Account
) -> None:
    session_id = await new_session(services, clock, ada.caller, "withkernel")
    document = (
        "query($limit:Int!, $offset:Int!, $session_id: ID!, $role: String) {"
        " compute_container_list(limit:$limit, offset:$offset, session_id:$session_id,"
        " role:$role) { items { id session_id role status occupied_slots } total_count } }"
    )
    variables = {"limit": 10, "offset": 0, "session_id": str(session_id), "role": None}
    data = await gql(client, ada.signer, document, variables)
    listing = data["compute_container_list"]
    assert listing["total_count"] == 1
    assert listing["items"][0]["id"] == str(session_id)
    assert listing["items"][0]["role"] == "main"
    data = await gql(client, bob.signer, document, variables)
    assert data["compute_container_list"] == {"items": [], "total_count": 0}
    single = "query($id: UUID!) { compute_container(id: $id) { id session_id agent } }"
    data = await gql(client, ada.signer, single, {"id": str(session_id)})
    assert data["compute_container"] == {
        "id": str(session_id),
        "session_id": str(session_id),
        "agent": None,
    }


async def test_legacy_fields_the_cli_can_ask_for(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    await new_session(services, clock, ada.caller, "legacy")
    fields = "id status resoucre_opts service_ports mounts cluster_template"
    result = await ps(client, ada.signer, fields + " cpu_using domain_name user_email")
    (item,) = result["items"]
    assert item["cpu_using"] is None
    assert item["mounts"] == []
    assert item["user_email"] == "ada@example.com"
    assert json.loads(item["service_ports"]) == []  # not running: no apps to reach yet


async def test_service_ports_of_a_running_session_are_its_apps(
    client: httpx.AsyncClient, services: Services, clock: FakeClock, ada: Account
) -> None:
    await new_session(services, clock, ada.caller, "withapps", status="RUNNING")
    result = await ps(client, ada.signer, "name service_ports")
    (item,) = result["items"]
    ports = json.loads(item["service_ports"])
    assert [(p["name"], p["protocol"], p["ports"]) for p in ports] == [
        ("jupyter", "http", [8081]),
        ("ttyd", "http", [7681]),
        ("sshd", "tcp", [2200]),
    ]
    assert ports[0]["url_template"] == "http://{host}:{port}/"


# Who sees what -------------------------------------------------------------------------


async def test_permission_matrix(
    client: httpx.AsyncClient,
    services: Services,
    clock: FakeClock,
    superadmin: Account,
    ada: Account,
    bob: Account,
) -> None:
    await add_domain(services, clock, "other")
    other_admin = await account(
        services, "olga@other.example", role=Role.ADMIN, is_admin=True, domain_name="other"
    )
    other_user = await account(services, "oscar@other.example", domain_name="other")
    domain_admin = await account(services, "dora@example.com", role=Role.ADMIN, is_admin=True)
    await new_session(services, clock, ada.caller, "ada-sess")
    await new_session(services, clock, bob.caller, "bob-sess")
    await new_session(services, clock, other_user.caller, "oscar-sess")

    async def names(who: Account, **variables: Any) -> set[str]:
        result = await ps(client, who.signer, "name", **variables)
        assert result["total_count"] == len(result["items"])
        return {item["name"] for item in result["items"]}

    assert await names(ada) == {"ada-sess"}
    assert await names(bob) == {"bob-sess"}
    assert await names(ada, access_key=ada.signer.access_key) == {"ada-sess"}
    assert await names(domain_admin) == {"ada-sess", "bob-sess"}
    assert await names(domain_admin, access_key=bob.signer.access_key) == {"bob-sess"}
    assert await names(other_admin) == {"oscar-sess"}
    assert await names(other_admin, access_key=ada.signer.access_key) == set()
    assert await names(superadmin) == {"ada-sess", "bob-sess", "oscar-sess"}
    assert await names(superadmin, access_key=bob.signer.access_key) == {"bob-sess"}

    # A user naming another key is refused, not silently narrowed.
    body = await gql_errors(
        client, ada.signer, ps_document("name"), ps_variables(access_key=bob.signer.access_key)
    )
    assert body["data"] == {"compute_session_list": None}
    assert body["errors"][0]["path"] == ["compute_session_list"]

    # A domain admin may not look into another domain.
    document = paginated(
        "compute_session_list", {"domain_name": "String", "status": "String"}, "name"
    )
    variables = {"domain_name": "default", "status": None, "limit": 20, "offset": 0}
    await gql_errors(client, other_admin.signer, document, variables)
    data = await gql(client, superadmin.signer, document, variables)
    assert {i["name"] for i in data["compute_session_list"]["items"]} == {"ada-sess", "bob-sess"}

    # Keypairs follow the same rules.
    lookup = "query($ak: String) { keypair(access_key: $ak) { access_key user_id } }"
    await gql_errors(client, ada.signer, lookup, {"ak": bob.signer.access_key})
    data = await gql(client, domain_admin.signer, lookup, {"ak": bob.signer.access_key})
    assert data["keypair"]["user_id"] == "bob@example.com"
    data = await gql(client, other_admin.signer, lookup, {"ak": bob.signer.access_key})
    assert data["keypair"] is None
    data = await gql(client, superadmin.signer, lookup, {"ak": other_user.signer.access_key})
    assert data["keypair"]["user_id"] == "oscar@other.example"
    document = "query { keypairs { user_id } }"
    data = await gql(client, other_admin.signer, document)
    assert {k["user_id"] for k in data["keypairs"]} == {
        "olga@other.example",
        "oscar@other.example",
    }


# Transport and errors ------------------------------------------------------------------


async def test_syntax_error_is_a_200_with_errors(client: httpx.AsyncClient, ada: Account) -> None:
    body = await gql_errors(client, ada.signer, "query { keypair { access_key }")
    assert body["data"] is None
    assert body["errors"][0]["locations"]


async def test_unknown_field_and_bad_variable(client: httpx.AsyncClient, ada: Account) -> None:
    body = await gql_errors(client, ada.signer, "query { keypair { no_such_field } }")
    assert body["data"] is None
    assert "no_such_field" in body["errors"][0]["message"]
    body = await gql_errors(client, ada.signer, SESSION_INFO, {"id": "not-a-uuid"})
    assert body["data"] is None
    body = await gql_errors(client, ada.signer, SESSION_INFO, {})
    assert body["data"] is None


async def test_undeclared_variables_are_ignored(client: httpx.AsyncClient, ada: Account) -> None:
    data = await gql(client, ada.signer, KEYPAIR_INFO, {"architecture": "x86_64", "x": [1]})
    assert data["keypair"]["access_key"] == ada.signer.access_key


async def test_operation_name_and_null_variables(client: httpx.AsyncClient, ada: Account) -> None:
    document = "query A { keypair { access_key } } query B { keypair { is_admin } }"
    for key in ("operation_name", "operationName"):
        headers = ada.signer.headers("POST", "/admin/gql", content_type="application/json")
        body = {"query": document, "variables": None, key: "B"}
        response = await client.post("/admin/gql", headers=headers, json=body)
        assert response.json() == {"data": {"keypair": {"is_admin": False}}}
    headers = ada.signer.headers("POST", "/admin/gql", content_type="application/json")
    body = {"query": document, "operationName": "C"}
    response = await client.post("/admin/gql", headers=headers, json=body)
    assert response.status_code == 200
    assert response.json()["errors"]


async def test_mutations_are_not_served_here(client: httpx.AsyncClient, ada: Account) -> None:
    body = await gql_errors(client, ada.signer, "mutation { delete_keypair(access_key: 1) }")
    assert body["data"] is None


async def test_bad_requests_and_auth(client: httpx.AsyncClient, ada: Account) -> None:
    headers = ada.signer.headers("POST", "/admin/gql", content_type="application/json")
    response = await client.post("/admin/gql", headers=headers, content=b"{not json")
    assert response.status_code == 400
    assert response.json()["type"] == PROBS + "invalid-api-params"
    headers = ada.signer.headers("POST", "/admin/gql", content_type="application/json")
    response = await client.post("/admin/gql", headers=headers, json={"variables": {}})
    assert response.status_code == 400
    response = await client.post("/admin/gql", json={"query": KEYPAIR_INFO})
    assert response.status_code == 401
    assert response.json()["type"] == PROBS + "auth-failed"


async def test_legacy_endpoint_answers_bare_data(client: httpx.AsyncClient, ada: Account) -> None:
    response = await post_gql(client, ada.signer, KEYPAIR_INFO, path="/admin/graphql")
    assert response.status_code == 200
    assert response.json()["keypair"]["access_key"] == ada.signer.access_key
    response = await post_gql(client, ada.signer, "query { nope }", path="/admin/graphql")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == PROBS + "graphql-error"
    assert body["title"] == "GraphQL-generated error"
    assert body["data"][0]["message"]


async def test_console_cookie_mode_serves_gql(
    client: httpx.AsyncClient, services: Services, ada: Account
) -> None:
    login = await client.post(
        "/server/login", json={"username": ada.email, "password": "a-good-password"}
    )
    assert login.json()["authenticated"] is True
    response = await client.post("/func/admin/gql", json={"query": KEYPAIR_INFO})
    assert response.status_code == 200
    assert response.json()["data"]["keypair"]["access_key"] == ada.signer.access_key


async def test_group_and_keypair_list_arguments(
    client: httpx.AsyncClient,
    services: Services,
    clock: FakeClock,
    superadmin: Account,
    ada: Account,
    bob: Account,
) -> None:
    await new_session(services, clock, ada.caller, "grouped")
    group_id = (await ps(client, ada.signer, "group_id"))["items"][0]["group_id"]
    document = paginated("compute_session_list", {"group_id": "String"}, "name")
    page = {"limit": 20, "offset": 0}
    data = await gql(client, ada.signer, document, {"group_id": group_id, **page})
    assert [i["name"] for i in data["compute_session_list"]["items"]] == ["grouped"]
    data = await gql(client, ada.signer, document, {"group_id": str(uuid.uuid4()), **page})
    assert data["compute_session_list"] == {"items": [], "total_count": 0}
    await gql_errors(client, ada.signer, document, {"group_id": "not-a-uuid", **page})

    variables = {"filter": "String", "order": "String", "email": "String"}
    document = paginated("keypair_list", variables, "user_id")
    values: dict[str, Any] = {"filter": None, "order": "user_id", "email": None, **page}
    data = await gql(client, superadmin.signer, document, values)
    emails = [i["user_id"] for i in data["keypair_list"]["items"]]
    assert emails == sorted(emails) and len(emails) == 3
    values.update(filter='user_id == "bob@example.com" | is_admin == true', order="-user_id")
    data = await gql(client, superadmin.signer, document, values)
    assert [i["user_id"] for i in data["keypair_list"]["items"]] == [
        "bob@example.com",
        superadmin.email,
    ]
    values.update(filter=None, order=None, email="ada@example.com")
    data = await gql(client, superadmin.signer, document, values)
    assert data["keypair_list"]["total_count"] == 1
    data = await gql(client, bob.signer, document, values)  # not bob's: nothing to see
    assert data["keypair_list"] == {"items": [], "total_count": 0}


async def test_resolver_bugs_are_masked(
    client: httpx.AsyncClient,
    services: Services,
    ada: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(services.reads.sessions, "session_page", broken)
    body = await gql_errors(client, ada.signer, ps_document(), ps_variables())
    assert body["data"] == {"compute_session_list": None}
    assert body["errors"][0]["message"] == "Internal server error."
    assert body["errors"][0]["path"] == ["compute_session_list"]


async def test_several_operations_need_an_operation_name(
    client: httpx.AsyncClient, admin: Signer
) -> None:
    document = "query a { keypair { access_key } } query b { keypair { is_active } }"
    body = await gql_errors(client, admin, document)
    assert body["data"] is None
    assert "operation name" in body["errors"][0]["message"]
    response = await client.post(
        "/admin/gql",
        headers=admin.headers("POST", "/admin/gql", content_type="application/json"),
        content=json.dumps({"query": document, "operation_name": "b"}).encode(),
    )
    assert response.json() == {"data": {"keypair": {"is_active": True}}}
