"""A populated server for the security and fuzz suites: who exists, what they own, and a
probe of everything a request could change.

People: the superadmin, two plain users of the default domain (``alice`` and ``bob``), a
third plain user (``carol``, the one alice invites) and ``dana``, the admin of another
domain. Alice owns a RUNNING session (fake runtime), a folder with a file, a session
template, a dotfile and an invitation to carol. Everything is made through the face itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from starlette.types import ASGIApp

from hangar.api.app import create_app
from hangar.core.compute.states import SessionStatus
from hangar.core.services import Services, open_services
from hangar.db.tables import Base
from tests.support.asgi import Answer, call
from tests.support.bai import Signer
from tests.support.settings import settings_for

ALICE, BOB, CAROL, DANA, SUPER = "alice", "bob", "carol", "dana", "super"
EMAILS = {
    ALICE: "alice@default.test",
    BOB: "bob@default.test",
    CAROL: "carol@default.test",
    DANA: "dana@other.test",
}

TEMPLATE = """\
api_version: v1
kind: taskTemplate
metadata: {name: alice-template}
spec:
  kernel:
    image: python
  resources: {cpu: '1'}
  sessionType: interactive
"""

# Columns that change without anybody asking (heartbeats, usage, counters).
VOLATILE: dict[str, set[str]] = {
    "agents": {"last_heartbeat", "available_slots", "occupied_slots", "status_changed"},
    "sessions": {"last_stat", "num_queries"},
    "keypairs": {"last_used", "num_queries"},
    # a task started by an accepted request runs on by itself
    "background_tasks": {"status", "current_progress", "total_progress", "message", "updated_at"},
}


@dataclass
class World:
    app: ASGIApp
    services: Services
    signers: dict[str, Signer] = field(default_factory=dict)
    session_id: str = ""
    session_name: str = "alice-sess"
    folder_name: str = "alice-data"
    folder_id: str = ""
    template_id: str = ""
    invitation_id: str = ""
    other_session_id: str = ""  # bob's, so bob's own lists are not empty

    def key(self, who: str) -> str:
        return self.signers[who].access_key

    async def request(
        self,
        who: str | None,
        method: str,
        target: str,
        body: bytes | str | Any = None,
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        deadline: float = 20.0,
    ) -> Answer:
        """A signed request (``who`` None: unsigned); non-bytes bodies are sent as JSON."""
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode("utf-8", "surrogatepass")
        else:
            raw = json.dumps(body).encode()
            content_type = content_type or "application/json"
        ctype = content_type or "text/plain"
        all_headers = self.signers[who].headers(method, target, content_type=ctype) if who else {}
        if who is None:
            all_headers = {"Content-Type": ctype, "X-BackendAI-Version": "v6.20220315"}
        all_headers.update(headers or {})
        return await call(self.app, method, target, all_headers, raw, deadline=deadline)

    async def ok(self, who: str, method: str, target: str, body: Any = None) -> Any:
        answer = await self.request(who, method, target, body)
        assert answer.status < 300, (method, target, answer.status, answer.body[:500])
        return answer.json() if answer.body else None

    async def gql(self, who: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        answer = await self.request(
            who, "POST", "/admin/gql", {"query": query, "variables": variables or {}}
        )
        assert answer.status == 200, answer.body[:500]
        return answer.json()


async def build_world(app: ASGIApp, services: Services) -> World:
    assert services.first_admin is not None
    first = services.first_admin
    world = World(app, services)
    world.signers[SUPER] = Signer(first.keypair.keypair.access_key, first.keypair.secret_key)

    async def su(query: str, variables: dict[str, Any] | None = None) -> Any:
        body = await world.gql(SUPER, query, variables)
        assert not body.get("errors"), body
        value = next(iter(body["data"].values()))
        if isinstance(value, dict) and "ok" in value:
            assert value["ok"], value
        return value

    await su('mutation { create_domain(name: "other", props: {}) { ok msg } }')
    for who, email in EMAILS.items():
        domain = email.rpartition("@")[2].split(".")[0]
        await su(
            "mutation($e: String!, $p: UserInput!) { create_user(email: $e, props: $p) "
            "{ ok msg } }",
            {
                "e": email,
                "p": {
                    "password": "a-good-password",
                    "need_password_change": False,
                    "domain_name": domain,
                    "role": "admin" if who == DANA else "user",
                },
            },
        )
        made = await su(
            "mutation($e: String!, $p: KeyPairInput!) { create_keypair(user_id: $e, props: $p) "
            "{ ok msg keypair { access_key secret_key } } }",
            {"e": email, "p": {"is_admin": who == DANA, "resource_policy": "default"}},
        )
        world.signers[who] = Signer(made["keypair"]["access_key"], made["keypair"]["secret_key"])

    # A group of alice's own, so that her template is not shared with bob through "default".
    group = await su(
        'mutation { create_group(name: "alice-team", props: {domain_name: "default"}) '
        "{ ok msg group { id } } }"
    )
    users = await su('query { user(email: "alice@default.test") { uuid } }')
    await su(
        "mutation($g: UUID!, $u: [String]) { modify_group(gid: $g, "
        'props: {user_update_mode: "add", user_uuids: $u}) { ok msg } }',
        {"g": group["group"]["id"], "u": [users["uuid"]]},
    )

    created = await world.ok(
        ALICE,
        "POST",
        "/session",
        {"name": world.session_name, "image": "python", "enqueueOnly": True},
    )
    world.session_id = created["sessionId"]
    bobs = await world.ok(
        BOB, "POST", "/session", {"name": "bob-sess", "image": "python", "enqueueOnly": True}
    )
    world.other_session_id = bobs["sessionId"]
    for session_id in (world.session_id, world.other_session_id):
        await wait_running(services, uuid.UUID(session_id))

    folder = await world.ok(ALICE, "POST", "/folders", {"name": world.folder_name})
    world.folder_id = folder["id"]
    await world.ok(ALICE, "POST", f"/folders/{world.folder_name}/mkdir", {"path": "inner"})
    await world.ok(BOB, "POST", "/folders", {"name": "bob-data"})
    invited = await world.ok(
        ALICE,
        "POST",
        f"/folders/{world.folder_name}/invite",
        {"perm": "ro", "user_ids": [EMAILS[CAROL]]},
    )
    assert invited == {"invited_ids": [EMAILS[CAROL]]}
    listed = await world.ok(CAROL, "GET", "/folders/invitations/list")
    world.invitation_id = listed["invitations"][0]["id"]

    templates = await world.ok(
        ALICE, "POST", "/template/session", {"payload": TEMPLATE, "group_name": "alice-team"}
    )
    world.template_id = templates["id"]
    await world.ok(
        ALICE,
        "POST",
        "/user-config/dotfiles",
        {"path": ".alicerc", "data": "export SECRET=alice\n", "permission": "644"},
    )
    return world


async def wait_running(services: Services, session_id: uuid.UUID, within: float = 60.0) -> None:
    deadline = time.monotonic() + within  # a loaded CI machine may take a while
    while time.monotonic() < deadline:
        await services.lifecycle.schedule_pass()
        session = await services.compute.get(session_id)
        if session.status == SessionStatus.RUNNING:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"session {session_id} stayed {session.status}")


async def probe(services: Services) -> dict[str, Any]:
    """Everything a request could change: every table's rows (less volatile columns) and
    every file under the data directory except the database and logs."""
    state: dict[str, Any] = {}
    async with services.sessions() as db:
        for table in Base.metadata.sorted_tables:
            skip = VOLATILE.get(table.name, set())
            columns = [c.name for c in table.columns if c.name not in skip]
            quoted = ", ".join(f'"{c}"' for c in columns)
            rows = (await db.execute(text(f'SELECT {quoted} FROM "{table.name}"'))).all()
            state[table.name] = sorted(repr(tuple(row)) for row in rows)
    state["files"] = files_under(services.settings.storage_dir)
    return state


def files_under(root: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if not root.exists():
        return found
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_file():
            found.append((relative, hashlib.sha256(path.read_bytes()).hexdigest()[:16]))
        else:
            found.append((relative, "dir"))
    return found


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changes: list[str] = []
    for name in sorted(set(before) | set(after)):
        old, new = set(map(str, before.get(name, []))), set(map(str, after.get(name, [])))
        if old != new:
            changes.append(f"{name}: -{sorted(old - new)[:3]} +{sorted(new - old)[:3]}")
    return changes


@contextlib.asynccontextmanager
async def open_world(database_url: str, data_dir: Path) -> AsyncIterator[World]:
    """Services on the fake runtime with the embedded agent, and the populated world."""
    settings = settings_for(data_dir, database_url, agent_runtime="fake", idle_timeout_seconds=0)
    services = await open_services(settings)
    try:
        await services.start_embedded_agent()
        yield await build_world(create_app(services), services)
    finally:
        await services.close()
