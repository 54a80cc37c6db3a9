"""Session lifecycle events over SSE (GET /events/session) and GET /events/background-task.

httpx's ASGI transport collects a whole response before returning it, which an endless
stream never finishes, so :class:`SseStream` drives the ASGI app itself: it reads the
response as it is sent and disconnects like a client going away.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx
import pytest
from starlette.types import Message

from hangar.agent.models import ContainerStats, KernelRequest, NodeInfo
from hangar.api.app import create_app
from hangar.api.bai.routes import events
from hangar.core.events import Event as BusEvent
from hangar.core.events import EventKind, SessionChange, Tenant
from hangar.core.services import Services
from tests.support.bai import Signer

PROBS = "https://api.backend.ai/probs/"
TIMEOUT = 10.0
LIFECYCLE = [
    "session_enqueued",
    "session_scheduled",
    "kernel_preparing",
    "kernel_creating",
    "kernel_started",
    "session_started",
    "kernel_terminating",
    "kernel_terminated",
    "session_terminated",
]
SESSION_KEYS = {"reason", "sessionName", "ownerAccessKey", "sessionId", "kernelId"}
KERNEL_KEYS = SESSION_KEYS | {"clusterRole", "clusterIdx"}


class KernelAgent:
    """An agent whose kernels start and stop instantly (the events are what is tested)."""

    agent_id = "i-events-test"

    async def info(self) -> NodeInfo:
        return NodeInfo(self.agent_id, {"cpu": Decimal(8), "mem": Decimal(16 << 30)})

    async def create_kernel(self, request: KernelRequest) -> None:
        return None

    async def destroy_kernel(self, kernel_id: uuid.UUID) -> ContainerStats | None:
        return ContainerStats()

    async def logs(self, kernel_id: uuid.UUID) -> str:
        return ""


@dataclass
class Event:
    name: str
    data: dict[str, Any]


class SseStream:
    """One GET on the app, read incrementally; leaving the block disconnects."""

    def __init__(self, services: Services, signer: Signer, target: str) -> None:
        path, _, query = target.partition("?")
        headers = signer.headers("GET", target, content_type=None)  # SSE: no Content-Type
        self.scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", signer.host.encode())]
            + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8090),
        }
        self.app = create_app(services)
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.gone = asyncio.Event()
        self.requested = False
        self.buffer = b""
        self.status = 0
        self.headers: dict[str, str] = {}
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: Message) -> None:
        await self.messages.put(message)

    async def __aenter__(self) -> SseStream:
        self.task = asyncio.create_task(self.app(self.scope, self._receive, self._send))
        start = await asyncio.wait_for(self.messages.get(), TIMEOUT)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.gone.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, TIMEOUT)  # the stream ends when the client leaves

    async def chunk(self) -> str:
        """The next message block (event or comment), without its blank line."""
        while b"\n\n" not in self.buffer:
            message = await asyncio.wait_for(self.messages.get(), TIMEOUT)
            assert message["type"] == "http.response.body"
            assert message.get("more_body", False), "the stream ended"
            self.buffer += message["body"]
        block, self.buffer = self.buffer.split(b"\n\n", 1)
        return block.decode()

    async def event(self) -> Event:
        """The next event, skipping comments (pings)."""
        while True:
            block = await self.chunk()
            fields = dict(line.split(": ", 1) for line in block.splitlines() if line[:1] != ":")
            if fields:
                return Event(fields["event"], json.loads(fields["data"]))

    async def events_until(self, last: str) -> list[Event]:
        found = [await self.event()]
        while found[-1].name != last:
            found.append(await self.event())
        return found


@pytest.fixture
async def agent(services: Services) -> AsyncIterator[KernelAgent]:
    fake = KernelAgent()
    await services.agents.register(fake)  # type: ignore[arg-type]
    await services.start_loops(embedded_agent=False)  # the fake stands in for it
    yield fake


@pytest.fixture
async def user(services: Services) -> Signer:
    await services.identity.create_user(email="ada@example.com", password="first-password")
    issued = await services.identity.issue_keypair(email="ada@example.com")
    return Signer(issued.keypair.access_key, issued.secret_key)


async def create(client: httpx.AsyncClient, signer: Signer, name: str) -> str:
    body = json.dumps({"name": name, "image": "python"})
    headers = signer.headers("POST", "/session", content_type="application/json")
    response = await client.post("/session", content=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["sessionId"])


async def destroy(client: httpx.AsyncClient, signer: Signer, name: str) -> None:
    target = f"/session/{name}"
    response = await client.delete(target, headers=signer.headers("DELETE", target))
    assert response.status_code == 200, response.text


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBS + slug
    return body


async def test_start_and_destroy_events_arrive_in_order(
    services: Services, client: httpx.AsyncClient, admin: Signer, agent: KernelAgent
) -> None:
    # Subscribing to a session that does not exist yet is allowed.
    async with SseStream(services, admin, "/events/session?sessionName=ev-sess") as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        session_id = await create(client, admin, "ev-sess")
        await destroy(client, admin, "ev-sess")
        received = await stream.events_until("session_terminated")
    assert [e.name for e in received] == LIFECYCLE
    for event in received:
        kernel = event.name.startswith("kernel_")
        assert set(event.data) == (KERNEL_KEYS if kernel else SESSION_KEYS)
        assert event.data["sessionName"] == "ev-sess"
        assert event.data["ownerAccessKey"] == admin.access_key
        assert event.data["sessionId"] == event.data["kernelId"] == session_id
        if kernel:
            assert (event.data["clusterRole"], event.data["clusterIdx"]) == ("main", 1)
    assert received[-1].data["reason"] == "user-requested"
    assert received[0].data["reason"] == ""


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("session", [n for n in LIFECYCLE if n.startswith("session_")]),
        ("kernel", [n for n in LIFECYCLE if n.startswith("kernel_")]),
    ],
)
async def test_scope_keeps_one_kind(
    services: Services,
    client: httpx.AsyncClient,
    admin: Signer,
    agent: KernelAgent,
    scope: str,
    expected: list[str],
) -> None:
    async with SseStream(services, admin, f"/events/session?scope={scope}") as stream:
        await create(client, admin, "scoped")
        await destroy(client, admin, "scoped")
        received = await stream.events_until(expected[-1])
    assert [e.name for e in received] == expected


async def test_name_and_id_filters(
    services: Services, client: httpx.AsyncClient, admin: Signer, agent: KernelAgent
) -> None:
    async with SseStream(services, admin, "/events/session?sessionName=second") as by_name:
        await create(client, admin, "first")
        second_id = await create(client, admin, "second")
        # first's events were published before second's: had they matched, they came first.
        assert (await by_name.event()).data["sessionName"] == "second"
    target = f"/events/session?sessionId={second_id}&scope=session"
    async with SseStream(services, admin, target) as by_id:
        await destroy(client, admin, "first")
        await destroy(client, admin, "second")
        received = await by_id.events_until("session_terminated")
    assert [e.name for e in received] == ["session_terminated"]
    assert received[0].data["sessionId"] == second_id


async def test_group_filter(
    services: Services, client: httpx.AsyncClient, admin: Signer, agent: KernelAgent
) -> None:
    other_group = uuid.uuid4()
    async with (
        SseStream(services, admin, "/events/session?group=default") as by_name,
        SseStream(services, admin, f"/events/session?group={other_group}") as by_id,
    ):
        session_id = await create(client, admin, "grouped")
        assert (await by_name.event()).data["sessionId"] == session_id
        owner = (await services.identity.credentials_for(admin.access_key)).caller.user_uuid
        sentinel = BusEvent(
            EventKind.SESSION_STARTED,
            uuid.uuid4(),
            Tenant(owner, other_group, "default"),
            SessionChange("elsewhere", admin.access_key),
            services.clock.now(),
        )
        services.bus.publish(sentinel)  # everything "grouped" sent came before this
        assert (await by_id.event()).data["sessionName"] == "elsewhere"


async def test_users_see_their_own_sessions_only(
    services: Services,
    client: httpx.AsyncClient,
    admin: Signer,
    user: Signer,
    agent: KernelAgent,
) -> None:
    async with SseStream(services, user, "/events/session") as mine:
        await create(client, admin, "admins")
        await create(client, user, "users")
        first = await mine.event()
    assert (first.name, first.data["sessionName"]) == ("session_enqueued", "users")
    assert first.data["ownerAccessKey"] == user.access_key


async def test_admin_may_watch_another_key(
    services: Services,
    client: httpx.AsyncClient,
    admin: Signer,
    user: Signer,
    agent: KernelAgent,
) -> None:
    for spelling in ("ownerAccessKey", "owner_access_key"):
        target = f"/events/session?{spelling}={user.access_key}&scope=session"
        async with SseStream(services, admin, target) as stream:
            await create(client, admin, f"admin-{spelling}")
            await create(client, user, f"user-{spelling}")
            first = await stream.event()
        assert first.data["sessionName"] == f"user-{spelling}"


async def test_user_cannot_watch_another_key(
    client: httpx.AsyncClient, admin: Signer, user: Signer
) -> None:
    for spelling in ("owner_access_key", "ownerAccessKey"):
        target = f"/events/session?{spelling}={admin.access_key}"
        response = await client.get(target, headers=user.headers("GET", target, content_type=None))
        assert_problem(response, 403, "generic-forbidden")


async def test_bad_scope_and_no_credentials(client: httpx.AsyncClient, admin: Signer) -> None:
    target = "/events/session?scope=everything"
    response = await client.get(target, headers=admin.headers("GET", target, content_type=None))
    assert_problem(response, 400, "invalid-api-params")
    assert_problem(await client.get("/events/session"), 401, "auth-failed")


async def test_idle_stream_sends_pings(
    services: Services, admin: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "PING_SECONDS", 0.01)
    async with SseStream(services, admin, "/events/session") as stream:
        assert await stream.chunk() == ": ping"


async def test_head_gets_headers_without_a_stream(client: httpx.AsyncClient, admin: Signer) -> None:
    target = "/events/session"
    response = await client.head(target, headers=admin.headers("HEAD", target, content_type=None))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b""


async def test_unknown_background_task_is_404(client: httpx.AsyncClient, admin: Signer) -> None:
    for target in (
        f"/events/background-task?task_id={uuid.uuid4()}",
        f"/events/background-task?taskId={uuid.uuid4()}",
    ):
        response = await client.get(target, headers=admin.headers("GET", target, content_type=None))
        body = assert_problem(response, 404, "object-not-found")
        assert body["title"] == "No such background task."
    target = "/events/background-task"
    response = await client.get(target, headers=admin.headers("GET", target, content_type=None))
    assert_problem(response, 400, "invalid-api-params")
