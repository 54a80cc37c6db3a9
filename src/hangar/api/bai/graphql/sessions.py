"""Compute sessions and their containers (one per session: container id == session id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from hangar.api.bai import compute_wire
from hangar.api.bai.filters import parse_filter, parse_order
from hangar.api.bai.graphql.context import Info
from hangar.api.bai.graphql.scalars import BigInt, JSONString, as_json, as_json_or_none
from hangar.api.bai.stats import last_stat, stat_object
from hangar.core.compute import queries
from hangar.core.compute.queries import SESSION_FIELDS, SessionView
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import InvalidRequest

MAIN_ROLE = "main"
MAIN_HOSTNAME = "main1"
LEGACY_ROLES = frozenset({"main", "master"})


def _metric(stat: dict[str, Any] | None, name: str, key: str = "current") -> float | None:
    """A number out of a stat object (``{"cpu_used": {"current": "12"}, ...}``); ``key``
    ``stats.max`` asks for the peak, which is the current figure where none is recorded."""
    if not stat:
        return None
    entry = stat.get(name)
    value = entry.get(key, entry.get("current")) if isinstance(entry, dict) else entry
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _metric_int(stat: dict[str, Any] | None, name: str, key: str = "current") -> BigInt | None:
    value = _metric(stat, name, key)
    return None if value is None else BigInt(int(value))


@strawberry.type(description="A kernel of a session; Hangar runs one per session.")
class ComputeContainer:
    id: strawberry.ID | None
    idx: int | None
    role: str | None
    hostname: str | None
    cluster_idx: int | None
    cluster_role: str | None
    cluster_hostname: str | None
    session_id: uuid.UUID | None
    image: str | None
    architecture: str | None
    registry: str | None
    status: str | None
    status_changed: datetime | None
    status_info: str | None
    status_data: JSONString | None
    created_at: datetime | None
    terminated_at: datetime | None
    starts_at: datetime | None
    agent: str | None
    agent_addr: str | None
    container_id: str | None
    resource_opts: JSONString | None
    occupied_slots: JSONString | None  # never null in practice: the CLI parses it
    last_stat: JSONString | None
    # Legacy per-kernel numbers, taken from the last stat object.
    cpu_used: BigInt | None
    cpu_using: float | None
    mem_max_bytes: BigInt | None
    mem_cur_bytes: BigInt | None
    net_rx_bytes: BigInt | None
    net_tx_bytes: BigInt | None
    io_read_bytes: BigInt | None
    io_write_bytes: BigInt | None
    io_max_scratch_size: BigInt | None
    io_cur_scratch_size: BigInt | None

    view: strawberry.Private[SessionView]

    @strawberry.field
    async def live_stat(self, info: Info) -> JSONString | None:
        figures = await queries.live_stat(info.context.services.agents, self.view.session)
        stat = stat_object("running", figures) if figures is not None else None
        return as_json_or_none(with_cpu_util(stat, self.view, info.context.services.clock.now()))


def with_cpu_util(
    stat: dict[str, Any] | None, view: SessionView, now: datetime
) -> dict[str, Any] | None:
    """Add ``cpu_util`` (percent of one core, averaged since the start) from ``cpu_used``."""
    if not stat or "cpu_util" in stat or _metric(stat, "cpu_used") is None:
        return stat
    s = view.session
    begin = s.started_at or s.created_at
    elapsed_ms = ((s.terminated_at or now) - begin).total_seconds() * 1000
    used = _metric(stat, "cpu_used") or 0.0
    pct = f"{(used / elapsed_ms * 100) if elapsed_ms > 0 else 0.0:.1f}"
    entry = {"current": pct, "capacity": None, "pct": pct, "unit_hint": "percent"}
    return {**stat, "cpu_util": entry}


def container_of(view: SessionView) -> ComputeContainer:
    s = view.session
    stat = last_stat(s.last_stat)
    return ComputeContainer(
        id=strawberry.ID(str(s.id)),
        idx=1,
        role=MAIN_ROLE,
        hostname=MAIN_HOSTNAME,
        cluster_idx=1,
        cluster_role=MAIN_ROLE,
        cluster_hostname=MAIN_HOSTNAME,
        session_id=s.id,
        image=s.image_ref,
        architecture=view.architecture,
        registry=view.registry,
        status=s.status.value,
        status_changed=s.status_changed,
        status_info=s.status_info,
        status_data=as_json_or_none(s.status_data),
        created_at=s.created_at,
        terminated_at=s.terminated_at,
        starts_at=s.starts_at,
        agent=s.agent_id,
        agent_addr=None,
        container_id=s.id.hex if s.agent_id is not None else None,
        resource_opts=as_json(s.resource_opts),
        occupied_slots=as_json(s.occupied_slots or {}),
        last_stat=as_json_or_none(stat),
        cpu_used=_metric_int(stat, "cpu_used"),
        cpu_using=_metric(stat, "cpu_util"),
        mem_max_bytes=_metric_int(stat, "mem", "stats.max"),
        mem_cur_bytes=_metric_int(stat, "mem"),
        net_rx_bytes=_metric_int(stat, "net_rx"),
        net_tx_bytes=_metric_int(stat, "net_tx"),
        io_read_bytes=_metric_int(stat, "io_read"),
        io_write_bytes=_metric_int(stat, "io_write"),
        io_max_scratch_size=_metric_int(stat, "io_scratch_size", "stats.max"),
        io_cur_scratch_size=_metric_int(stat, "io_scratch_size"),
        view=view,
    )


@strawberry.type(description="A compute session; its id is its main kernel's id.")
class ComputeSession:
    id: strawberry.ID | None
    tag: str | None
    name: str | None
    session_name: str | None
    type: str | None
    session_id: uuid.UUID | None
    image: str | None
    architecture: str | None
    registry: str | None
    cluster_template: str | None
    cluster_mode: str | None
    cluster_size: int | None
    domain_name: str | None
    group_name: str | None
    group_id: uuid.UUID | None
    user_email: str | None
    user_id: uuid.UUID | None
    access_key: str | None
    created_user_email: str | None
    created_user_id: uuid.UUID | None
    status: str | None
    status_changed: datetime | None
    status_info: str | None
    status_data: JSONString | None
    created_at: datetime | None
    terminated_at: datetime | None
    starts_at: datetime | None
    startup_command: str | None
    result: str | None
    resource_opts: JSONString | None
    resoucre_opts: JSONString | None  # the official client's misspelling of resource_opts
    scaling_group: str | None
    mounts: list[str | None] | None
    occupied_slots: JSONString | None  # never null in practice: the CLI parses it
    num_queries: BigInt | None
    agent: str | None
    agents: list[str | None] | None
    containers: list[ComputeContainer | None] | None
    dependencies: list[ComputeSession | None] | None
    # Legacy numbers of the main kernel, taken from the last stat object.
    cpu_used: BigInt | None
    mem_max_bytes: BigInt | None
    mem_cur_bytes: BigInt | None
    net_rx_bytes: BigInt | None
    net_tx_bytes: BigInt | None
    io_read_bytes: BigInt | None
    io_write_bytes: BigInt | None

    view: strawberry.Private[SessionView]

    # CPU use in percent of one core, averaged since the start (live while running).
    @strawberry.field
    async def cpu_using(self, info: Info) -> float | None:
        now = info.context.services.clock.now()
        figures = await queries.live_stat(info.context.services.agents, self.view.session)
        stat: dict[str, Any] | None = last_stat(self.view.session.last_stat)
        if figures is not None:
            stat = stat_object("running", figures)
        return _metric(with_cpu_util(stat, self.view, now), "cpu_util")

    # The session's service apps (Service Port Objects) while it runs, as REST answers show.
    @strawberry.field
    async def service_ports(self, info: Info) -> JSONString | None:
        session = self.view.session
        if session.status != SessionStatus.RUNNING:
            return as_json([])
        apps = await info.context.services.apps.apps_of(session)
        return as_json([compute_wire.service_port(app) for app in apps])


def session_of(view: SessionView) -> ComputeSession:
    s = view.session
    container = container_of(view)
    return ComputeSession(
        id=strawberry.ID(str(s.id)),
        tag=s.tag,
        name=s.name,
        session_name=s.name,
        type=s.session_type.value.upper(),
        session_id=s.id,
        image=s.image_ref,
        architecture=view.architecture,
        registry=view.registry,
        cluster_template=None,
        cluster_mode=s.cluster_mode,
        cluster_size=s.cluster_size,
        domain_name=s.domain_name,
        group_name=view.group_name,
        group_id=s.group_id,
        user_email=view.user_email,
        user_id=s.user_uuid,
        access_key=s.access_key,
        created_user_email=view.user_email,
        created_user_id=s.user_uuid,
        status=s.status.value,
        status_changed=s.status_changed,
        status_info=s.status_info,
        status_data=as_json_or_none(s.status_data),
        created_at=s.created_at,
        terminated_at=s.terminated_at,
        starts_at=s.starts_at,
        startup_command=s.startup_command,
        result=s.result.value,
        resource_opts=as_json(s.resource_opts),
        resoucre_opts=as_json(s.resource_opts),
        scaling_group=s.scaling_group,
        mounts=list(view.mounts),
        occupied_slots=as_json(s.occupied_slots or {}),
        num_queries=BigInt(s.num_queries),
        agent=s.agent_id,
        agents=[s.agent_id] if s.agent_id is not None else [],
        containers=[container],
        dependencies=[],
        cpu_used=container.cpu_used,
        mem_max_bytes=container.mem_max_bytes,
        mem_cur_bytes=container.mem_cur_bytes,
        net_rx_bytes=container.net_rx_bytes,
        net_tx_bytes=container.net_tx_bytes,
        io_read_bytes=container.io_read_bytes,
        io_write_bytes=container.io_write_bytes,
        view=view,
    )


def _selects(selections: Any, name: str) -> bool:
    """Whether ``name`` is asked for anywhere below these selections (fragments included)."""
    for selection in selections or ():
        if getattr(selection, "name", None) == name:
            return True
        if _selects(getattr(selection, "selections", None), name):
            return True
    return False


async def sessions_of(info: Info, views: list[SessionView]) -> list[ComputeSession]:
    """The sessions of a listing, each with the sessions it depends on (one query for all,
    made only when the document asks for ``dependencies``)."""
    ctx = info.context
    found = [session_of(v) for v in views]
    if not views or not _selects(info.selected_fields, "dependencies"):
        return found
    deps = await ctx.services.reads.sessions.dependencies_of(
        ctx.caller, [v.session.id for v in views]
    )
    for item, view in zip(found, views, strict=True):
        item.dependencies = [session_of(d) for d in deps[view.session.id]]
    return found


@strawberry.type
class ComputeSessionList:
    items: list[ComputeSession | None]
    total_count: int


@strawberry.type
class ComputeContainerList:
    items: list[ComputeContainer | None]
    total_count: int


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@strawberry.type
class SessionQuery:
    @strawberry.field
    async def compute_session_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        filter: str | None = None,
        order: str | None = None,
        domain_name: str | None = None,
        group_id: str | None = None,
        access_key: str | None = None,
        status: str | None = None,
    ) -> ComputeSessionList | None:
        ctx = info.context
        page = await ctx.services.reads.sessions.session_page(
            ctx.caller,
            limit=limit,
            offset=offset,
            status=status,
            access_key=access_key,
            domain_name=domain_name,
            group_id=group_id,
            filter=parse_filter(filter, SESSION_FIELDS),
            order=parse_order(order, SESSION_FIELDS),
        )
        items: list[ComputeSession | None] = list(await sessions_of(info, page.items))
        return ComputeSessionList(items=items, total_count=page.total_count)

    @strawberry.field
    async def compute_session(self, info: Info, id: uuid.UUID) -> ComputeSession | None:
        view = await info.context.services.reads.sessions.session(info.context.caller, id)
        if view is None:
            return None
        (found,) = await sessions_of(info, [view])
        return found

    @strawberry.field
    async def compute_container(self, info: Info, id: uuid.UUID) -> ComputeContainer | None:
        view = await info.context.services.reads.sessions.session(info.context.caller, id)
        return container_of(view) if view is not None else None

    @strawberry.field
    async def compute_container_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        session_id: strawberry.ID,
        filter: str | None = None,
        order: str | None = None,
        role: str | None = None,
    ) -> ComputeContainerList | None:
        ctx = info.context
        if limit < 0 or offset < 0:
            raise InvalidRequest("limit and offset must not be negative")
        wanted = _uuid(session_id)
        view = (
            await ctx.services.reads.sessions.session(ctx.caller, wanted)
            if wanted is not None
            else None
        )
        if view is None or (role is not None and role.lower() not in LEGACY_ROLES):
            return ComputeContainerList(items=[], total_count=0)
        containers = [container_of(view)]
        return ComputeContainerList(
            items=list(containers[offset : offset + limit]), total_count=len(containers)
        )
