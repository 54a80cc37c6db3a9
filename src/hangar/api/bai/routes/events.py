"""``/events``: session lifecycle events as Server-Sent Events (spec §6.1-6.3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hangar.api.bai.auth import user
from hangar.api.bai.owners import acting_as
from hangar.api.bai.params import Params, raw_params
from hangar.api.bai.routes import bgtask
from hangar.api.common.context import services_of
from hangar.api.common.params import validate
from hangar.api.common.routing import Router
from hangar.core.errors import InvalidRequest, NotFound
from hangar.core.events import (
    Event,
    EventBus,
    EventKind,
    Matcher,
    SessionChange,
    Subscription,
    Tenant,
)
from hangar.core.principal import Principal

router = Router(prefix="/events")

PING_SECONDS = 15.0
PING = b": ping\n\n"
SCOPES = frozenset({"*", "session", "kernel"})

# Backend.AI's event names for each kind, in the order they are sent. A session has one
# kernel here, so a kind may be both a kernel's and the session's event.
WIRE_NAMES: dict[EventKind, tuple[str, ...]] = {
    EventKind.SESSION_ENQUEUED: ("session_enqueued",),
    EventKind.SESSION_SCHEDULED: ("session_scheduled",),
    EventKind.SESSION_PREPARING: ("kernel_preparing", "kernel_creating"),
    EventKind.SESSION_STARTED: ("kernel_started", "session_started"),
    EventKind.SESSION_RESTARTING: ("kernel_restarting",),
    EventKind.SESSION_RESTARTED: ("kernel_started",),
    EventKind.SESSION_TERMINATING: ("kernel_terminating",),
    EventKind.SESSION_TERMINATED: ("kernel_terminated", "session_terminated"),
    EventKind.SESSION_CANCELLED: ("kernel_cancelled", "session_cancelled"),
    EventKind.SESSION_SUCCEEDED: ("session_success",),
    EventKind.SESSION_FAILED: ("session_failure",),
}


class SessionEventParams(Params):
    session_id: uuid.UUID | None = Field(
        None, validation_alias=AliasChoices("sessionId", "session_id")
    )
    session_name: str = Field("*", validation_alias=AliasChoices("sessionName", "session_name"))
    owner_access_key: str | None = Field(
        None, validation_alias=AliasChoices("owner_access_key", "ownerAccessKey")
    )
    scope: str = "*"
    group: str = Field("*", validation_alias=AliasChoices("group", "groupName", "group_name"))

    @field_validator("session_id", "owner_access_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("session_name", "scope", "group", mode="before")
    @classmethod
    def _blank_is_all(cls, value: Any) -> Any:
        return "*" if value == "" else value


def event_kinds(scope: str) -> frozenset[str]:
    """``*``, ``session``, ``kernel`` or a comma-separated mix -> the event name prefixes."""
    names = {part.strip() for part in scope.split(",") if part.strip()} or {"*"}
    if not names <= SCOPES:
        raise InvalidRequest("scope: must be *, session or kernel")
    if "*" in names:
        return frozenset({"session", "kernel"})
    return frozenset(names)


def wire_names(kind: EventKind, scopes: frozenset[str]) -> tuple[str, ...]:
    """The names ``kind`` is sent under to a subscriber of ``scopes`` (see event_kinds);
    none for kinds Backend.AI has no word for (a suspended session)."""
    names = WIRE_NAMES.get(kind, ())
    return tuple(name for name in names if name.partition("_")[0] in scopes)


def event_data(name: str, event: Event) -> dict[str, Any]:
    session_id = str(event.subject)
    change = event.payload
    assert isinstance(change, SessionChange)  # only session kinds have wire names
    data: dict[str, Any] = {
        "reason": change.reason,
        "sessionName": change.session_name,
        "ownerAccessKey": change.credential,
        "sessionId": session_id,
        "kernelId": session_id,  # single-container sessions: main kernel id == session id
    }
    if name.startswith("kernel_"):
        data["clusterRole"] = "main"
        data["clusterIdx"] = 1
    if change.exit_code is not None:
        data["exitCode"] = change.exit_code
    return data


def frames(event: Event, scopes: frozenset[str]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(event_data(name, event))}\n\n".encode()
        for name in wire_names(event.kind, scopes)
    )


def session_matcher(
    caller: Principal,
    owner: Principal,
    params: SessionEventParams,
    group_id: uuid.UUID | None,
) -> Matcher:
    """Which events this subscriber sees: the owner's sessions by name (``*`` = all), or one
    session by id, which an admin may also watch for users of the domain (a superadmin: of
    any domain). Sessions are the owner's when they belong to the owner's keypair."""
    scopes = event_kinds(params.scope)
    by_id = params.session_id is not None

    def tenant(t: Tenant) -> bool:
        if group_id is not None and t.project_id != group_id:
            return False
        if t.user_id == owner.user_uuid or (by_id and caller.is_superadmin):
            return True
        return by_id and caller.is_admin and t.domain == caller.domain_name

    def where(event: Event) -> bool:
        change = event.payload
        if not isinstance(change, SessionChange):
            return False
        if change.credential == owner.access_key:
            return by_id or params.session_name in ("*", change.session_name)
        return by_id and (caller.is_superadmin or caller.is_admin)

    kinds = frozenset(kind for kind in WIRE_NAMES if wire_names(kind, scopes))
    return Matcher(kinds, params.session_id, tenant, where, everywhere=True)


class EventStream(Response):
    """An endless ``text/event-stream`` of bus events with ``: ping`` keep-alives.

    The subscription exists before the response head is sent, so a client that has the head
    misses nothing published afterwards; the stream ends when the client disconnects, or
    (with a complete response) when the bus closes because the server shuts down.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        bus: EventBus,
        matcher: Matcher,
        scopes: frozenset[str],
        ping_seconds: float | None = None,
    ):
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._bus = bus
        self._matcher = matcher
        self._scopes = scopes
        self._ping_seconds = PING_SECONDS if ping_seconds is None else ping_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":  # headers only: an endless body would never end
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b""})
            return
        async with self._bus.subscribe(self._matcher) as events:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            pump = asyncio.create_task(self._pump(events, send))
            watch = asyncio.create_task(_disconnected(receive))
            closing = asyncio.create_task(self._bus.wait_closed())
            tasks = (pump, watch, closing)
            finished: set[asyncio.Task[None]] = set()
            try:
                finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, OSError):
                raise result  # OSError: the client went away while we were sending
        if finished == {closing}:
            with contextlib.suppress(OSError):  # end the body: the connection can close
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, events: Subscription, send: Send) -> None:
        while True:
            try:
                event = await asyncio.wait_for(events.get(), self._ping_seconds)
                chunk = frames(event, self._scopes)
            except TimeoutError:
                chunk = PING
            await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _group_filter(request: Request, owner: Principal, group: str) -> uuid.UUID | None:
    """The group to filter by: an id as given, or a name resolved for the owner; ``*`` and
    names that resolve to nothing filter nothing."""
    if group == "*":
        return None
    with contextlib.suppress(ValueError):
        return uuid.UUID(group)
    try:
        return await services_of(request).identity.group_id_for(owner, owner.domain_name, group)
    except (InvalidRequest, NotFound):
        return None


@router.get("/session")
async def session_events(request: Request) -> Response:
    caller = user(request)
    params = validate(SessionEventParams, await raw_params(request))
    services = services_of(request)
    owner = await acting_as(request, params.owner_access_key)
    group_id = await _group_filter(request, owner, params.group)
    matcher = session_matcher(caller, owner, params, group_id)
    return EventStream(services.bus, matcher, event_kinds(params.scope))


router.get("/background-task")(bgtask.background_task_events)
