"""Resource presets, what a caller may still launch, usage over a period, inventories.

Presets are named slot sets (``{"cpu": "2", "mem": "4g"}`` plus optional shared memory);
everyone may read them, superadmins change them. :meth:`Resources.check_presets` answers
what the caller may still launch: the keypair's policy totals minus what its sessions hold,
the group's totals minus what the group's sessions hold, and the free capacity of the
schedulable agents in the scaling groups available to the caller.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import ContainerStats
from hangar.core.clock import Clock
from hangar.core.compute.states import HOLDS_RESOURCES
from hangar.core.compute.stats import stats_of
from hangar.core.errors import AlreadyExists, InvalidRequest, NotFound
from hangar.core.identity import repo
from hangar.core.identity.directory import require_admin, require_superadmin
from hangar.core.identity.queries import Scope
from hangar.core.principal import Principal
from hangar.core.scaling.service import ScalingGroups
from hangar.core.scheduler.slots import ResourceSlots, format_amount
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import GroupRow, KeyPairRow, ResourcePolicyRow, UserRow
from hangar.db.tables.resources import ResourcePresetRow

INFINITY = Decimal("Infinity")
Slots = dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    resource_slots: dict[str, str]
    shared_memory: int | None


def _preset(row: ResourcePresetRow) -> Preset:
    return Preset(row.name, dict(row.resource_slots), row.shared_memory)


def _wire(slots: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: format_amount(v) if not v.is_nan() else "NaN" for k, v in slots.items()}


def _sum(rows: Iterable[Mapping[str, Any]]) -> Slots:
    total: Slots = defaultdict(Decimal)
    for raw in rows:
        try:
            parsed = ResourceSlots.parse(raw or {})
        except InvalidRequest:
            continue
        for name, amount in parsed.items():
            total[name] += amount
    return dict(total)


def _minus(limits: Slots, using: Slots, names: Iterable[str]) -> Slots:
    return {n: limits.get(n, INFINITY) - using.get(n, Decimal(0)) for n in names}


def _fits(wanted: Mapping[str, Decimal], *remaining: Slots) -> bool:
    return all(
        amount <= budget.get(name, INFINITY)
        for budget in remaining
        for name, amount in wanted.items()
    )


class Resources:
    def __init__(
        self, sessions: async_sessionmaker[DbSession], clock: Clock, scaling: ScalingGroups
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._scaling = scaling

    # Presets -----------------------------------------------------------------------------

    async def presets(self) -> list[Preset]:
        async with self._sessions() as db:
            rows = await db.execute(select(ResourcePresetRow).order_by(ResourcePresetRow.name))
            return [_preset(r) for r in rows.scalars()]

    async def preset(self, name: str) -> Preset | None:
        async with self._sessions() as db:
            row = await db.get(ResourcePresetRow, name)
            return _preset(row) if row is not None else None

    async def save_preset(
        self,
        caller: Principal,
        name: str,
        *,
        resource_slots: Mapping[str, Any] | None,
        shared_memory: Any = None,
        create: bool,
    ) -> Preset:
        """Create (``create``) or change a preset. AlreadyExists / NotFound otherwise."""
        require_superadmin(caller)
        if not name or len(name) > 256:
            raise InvalidRequest("name must be 1 to 256 characters")
        slots = (
            ResourceSlots.parse(resource_slots).to_wire() if resource_slots is not None else None
        )
        shmem = None
        if shared_memory not in (None, ""):
            shmem = int(ResourceSlots.parse({"mem": shared_memory})["mem"])
        async with self._sessions() as db, db.begin():
            row = await db.get(ResourcePresetRow, name)
            if create:
                if row is not None:
                    raise AlreadyExists("A resource preset with this name already exists.")
                if not slots:
                    raise InvalidRequest("resource_slots must name at least one slot")
                row = ResourcePresetRow(
                    name=name,
                    resource_slots=slots,
                    shared_memory=shmem,
                    created_at=self._clock.now(),
                )
                db.add(row)
            else:
                if row is None:
                    raise NotFound("resource preset")
                if slots is not None:
                    row.resource_slots = slots
                if shared_memory is not None:
                    row.shared_memory = shmem
            return _preset(row)

    async def delete_preset(self, caller: Principal, name: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            row = await db.get(ResourcePresetRow, name)
            if row is None:
                raise NotFound("resource preset")
            await db.delete(row)

    # What the caller may still launch ------------------------------------------------------

    async def _held(self, db: DbSession, *conditions: ColumnElement[bool]) -> Slots:
        stmt = select(SessionRow.occupied_slots).where(
            SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]), *conditions
        )
        return _sum((await db.execute(stmt)).scalars())

    async def check_presets(
        self, caller: Principal, *, group: str = "default", scaling_group: str | None = None
    ) -> dict[str, Any]:
        """The ``/resource/check-presets`` answer (amounts as strings, "Infinity" unlimited)."""
        async with self._sessions() as db:
            policy = await db.get(ResourcePolicyRow, caller.resource_policy)
            group_row = await self._group(db, caller, group)
        sgroups = await self._scaling.available(caller, str(group_row.id))
        if scaling_group is not None:
            if scaling_group not in sgroups:
                raise InvalidRequest(f"Scaling group not available to you: {scaling_group}")
            sgroups = [scaling_group]
        async with self._sessions() as db:
            mine = (
                SessionRow.access_key == caller.access_key
                if caller.access_key is not None
                else SessionRow.user_uuid == caller.user_uuid
            )
            kp_using = await self._held(db, mine)
            group_using = await self._held(db, SessionRow.group_id == group_row.id)
            per_sgroup = {name: await self._sgroup_free(db, name) for name in sgroups}
            presets = [
                _preset(r)
                for r in (
                    await db.execute(select(ResourcePresetRow).order_by(ResourcePresetRow.name))
                ).scalars()
            ]
        kp_limits = _policy_limits(policy)
        group_limits = dict(
            ResourceSlots.parse(group_row.total_resource_slots or {}, allow_unlimited=True)
        )
        names = sorted(
            {"cpu", "mem"}
            | set(kp_limits)
            | set(group_limits)
            | set(kp_using)
            | {n for using, free in per_sgroup.values() for n in (*using, *free)}
        )
        kp_remaining = _minus(kp_limits, kp_using, names)
        group_remaining = _minus(group_limits, group_using, names)
        sg_remaining: Slots = defaultdict(Decimal)
        for _, free in per_sgroup.values():
            for name, amount in free.items():
                sg_remaining[name] += amount
        sg_total = {n: sg_remaining.get(n, Decimal(0)) for n in names}
        checked = []
        for preset in presets:
            wanted = ResourceSlots.parse(preset.resource_slots)
            checked.append(
                {
                    "name": preset.name,
                    "resource_slots": preset.resource_slots,
                    "shared_memory": str(preset.shared_memory) if preset.shared_memory else None,
                    "allocatable": _fits(wanted, kp_remaining, group_remaining, sg_total),
                }
            )
        return {
            "keypair_limits": _wire({n: kp_limits.get(n, INFINITY) for n in names}),
            "keypair_using": _wire({n: kp_using.get(n, Decimal(0)) for n in names}),
            "keypair_remaining": _wire(kp_remaining),
            "group_limits": _wire({n: group_limits.get(n, INFINITY) for n in names}),
            "group_using": _wire({n: group_using.get(n, Decimal(0)) for n in names}),
            "group_remaining": _wire(group_remaining),
            "scaling_group_remaining": _wire(sg_total),
            "scaling_groups": {
                name: {"using": _wire(using), "remaining": _wire(free)}
                for name, (using, free) in per_sgroup.items()
            },
            "presets": checked,
        }

    async def _group(self, db: DbSession, caller: Principal, group: str) -> GroupRow:
        found = await repo.find_group(db, caller.domain_name, group)
        if found is None:
            try:
                import uuid

                found = await repo.find_group_by_id(db, uuid.UUID(group))
            except ValueError:
                found = None
        if found is None:
            raise InvalidRequest(f"Invalid group: {group}")
        member = caller.is_superadmin or await repo.is_group_member(
            db, caller.user_uuid, found.domain_name, str(found.id)
        )
        if not member:
            raise InvalidRequest(f"Invalid group: {group}")
        row = await db.get(GroupRow, found.id)
        assert row is not None
        return row

    async def _sgroup_free(self, db: DbSession, name: str) -> tuple[Slots, Slots]:
        agents = select(AgentRow).where(
            AgentRow.scaling_group == name,
            AgentRow.status == "ALIVE",
            AgentRow.schedulable.is_(True),
        )
        rows = list((await db.execute(agents)).scalars())
        capacity = _sum(r.available_slots for r in rows)
        using = await self._held(db, SessionRow.agent_id.in_([r.id for r in rows]))
        names = set(capacity) | set(using)
        free = {
            n: max(Decimal(0), capacity.get(n, Decimal(0)) - using.get(n, Decimal(0)))
            for n in names
        }
        return using, free

    # Usage over a period -----------------------------------------------------------------

    async def usage(
        self, caller: Principal, *, group_ids: list[str], start: date, end: date
    ) -> list[dict[str, Any]]:
        """Per group, the sessions that lived within [start, end) with what they used.

        Domain admins see the groups of their domain only (Forbidden otherwise).
        """
        scope = require_admin(caller)
        if end <= start:
            raise InvalidRequest("end date must be after start date")
        begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
        finish = datetime(end.year, end.month, end.day, tzinfo=UTC)
        import uuid

        try:
            ids = [uuid.UUID(str(g)) for g in group_ids]
        except ValueError as exc:
            raise InvalidRequest("group ids must be UUIDs") from exc
        async with self._sessions() as db:
            stmt = select(GroupRow).where(GroupRow.id.in_(ids)) if ids else select(GroupRow)
            if scope == Scope.DOMAIN:
                stmt = stmt.where(GroupRow.domain_name == caller.domain_name)
            groups = list((await db.execute(stmt.order_by(GroupRow.name))).scalars())
            sessions_stmt = (
                select(SessionRow, KeyPairRow.access_key, UserRow.email)
                .outerjoin(KeyPairRow, KeyPairRow.access_key == SessionRow.access_key)
                .join(UserRow, UserRow.uuid == SessionRow.user_uuid)
                .where(
                    SessionRow.group_id.in_([g.id for g in groups]),
                    SessionRow.created_at < finish,
                    (SessionRow.terminated_at.is_(None)) | (SessionRow.terminated_at >= begin),
                )
                .order_by(SessionRow.created_at)
            )
            rows = (await db.execute(sessions_stmt)).all()
        now = self._clock.now()
        by_group: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for session, access_key, _email in rows:
            by_group[session.group_id].append(_usage_item(session, access_key, now))
        return [_group_usage(g, by_group.get(g.id, [])) for g in groups]

    # Inventory ---------------------------------------------------------------------------

    async def inventory(self, caller: Principal, data_dir: Path) -> dict[str, Any]:
        """Accelerators per agent and the local storage's capacity (superadmins)."""
        require_superadmin(caller)
        async with self._sessions() as db:
            agents = list((await db.execute(select(AgentRow).order_by(AgentRow.id))).scalars())
            busy = await self._held(db, SessionRow.agent_id.in_([a.id for a in agents]))
        gpus = [
            {"agent": a.id, "status": a.status, **{k: v for k, v in d.items()}}
            for a in agents
            for d in (a.devices or [])
        ]
        try:
            disk = shutil.disk_usage(data_dir)
            storage = {"host": "local", "capacity_bytes": disk.total, "used_bytes": disk.used}
        except OSError:
            storage = {"host": "local", "capacity_bytes": None, "used_bytes": None}
        return {
            "agents": len(agents),
            "capacity": _wire(_sum(a.available_slots for a in agents)),
            "using": _wire(busy),
            "gpus": gpus,
            "gpu_count": len(gpus),
            "storage": [storage],
        }


def _policy_limits(policy: ResourcePolicyRow | None) -> Slots:
    if policy is None:
        return {}
    limits = dict(ResourceSlots.parse(policy.total_resource_slots or {}, allow_unlimited=True))
    if policy.default_for_unspecified == "LIMITED":
        for name in ("cpu", "mem"):
            limits.setdefault(name, Decimal(0))
    return limits


def _usage_item(session: SessionRow, access_key: str | None, now: datetime) -> dict[str, Any]:
    ended = session.terminated_at or now
    days = max(1, (ended.date() - session.created_at.date()).days + 1)
    occupied = session.occupied_slots or {}
    figures = stats_of(session.last_stat) or ContainerStats()
    return {
        "name": session.name,
        "access_key": access_key,
        "image_name": session.image_ref,
        "used_days": days,
        "used_seconds": max(
            0.0, (ended - (session.started_at or session.created_at)).total_seconds()
        ),
        "created_at": str(session.created_at),
        "terminated_at": str(session.terminated_at) if session.terminated_at else None,
        "status": session.status,
        "smp": float(Decimal(str(occupied.get("cpu", "0")))),
        "mem_allocated": int(Decimal(str(occupied.get("mem", "0")))),
        "cpu_used": str(figures.cpu_used),
        "mem_used": str(max(figures.mem_max_bytes, figures.mem_cur_bytes)),  # the peak
        "io_read": str(figures.io_read_bytes),
        "io_write": str(figures.io_write_bytes),
        "nfs": list(session.mounts or []),
        "device_type": "cuda" if any(k.startswith("cuda.") for k in occupied) else "cpu",
    }


def _group_usage(group: GroupRow, items: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> Decimal:
        return sum((Decimal(str(i[key])) for i in items), Decimal(0))

    return {
        "g_id": str(group.id),
        "g_name": group.name,
        "domain_name": group.domain_name,
        "g_smp": float(total("smp")),
        "g_cpu_used": format_amount(total("cpu_used")),
        "g_mem_allocated": int(total("mem_allocated")),
        "g_mem_used": format_amount(total("mem_used")),
        "g_io_read": format_amount(total("io_read")),
        "g_io_write": format_amount(total("io_write")),
        "g_device_type": sorted({i["device_type"] for i in items}),
        "c_infos": items,
    }


def month_range(month: str) -> tuple[date, date]:
    """``"202203"`` -> (2022-03-01, 2022-04-01). Raises InvalidRequest."""
    try:
        first = datetime.strptime(month, "%Y%m").date()
    except ValueError as exc:
        raise InvalidRequest("month must be YYYYMM") from exc
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following


def parse_day(value: str, what: str) -> date:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidRequest(f"{what} must be YYYYMMDD") from exc
