"""Resource presets, what a caller may still launch, usage over a period, inventories.

Presets are named slot sets (``{"cpu": "2", "mem": "4g"}`` plus optional shared memory);
everyone may read them, superadmins change them. :meth:`Resources.check_presets` answers
what the caller may still launch: the keypair's policy totals minus what its sessions hold,
the group's totals minus what the group's sessions hold, and the free capacity of the
schedulable agents in the scaling groups available to the caller.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import AlreadyExists, InvalidRequest, NotFound
from hangar.core.identity import repo as identity_repo
from hangar.core.identity.directory import require_admin, require_superadmin
from hangar.core.identity.models import Group
from hangar.core.identity.queries import Scope
from hangar.core.principal import Principal
from hangar.core.resources import repo
from hangar.core.resources.repo import Preset as Preset  # the presets' type, for faces
from hangar.core.resources.usage import (
    AgentDevice,
    Budget,
    GroupUse,
    Headroom,
    Inventory,
    PresetFit,
    SessionUse,
    StorageCapacity,
    group_use,
    session_use,
)
from hangar.core.scaling.service import ScalingGroups
from hangar.core.scheduler.slots import ResourceSlots
from hangar.db.engine import DbSession

INFINITY = Decimal("Infinity")
Slots = dict[str, Decimal]


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
            return await repo.presets(db)

    async def preset(self, name: str) -> Preset | None:
        async with self._sessions() as db:
            return await repo.preset(db, name)

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
            current = await repo.preset(db, name)
            if create:
                if current is not None:
                    raise AlreadyExists("A resource preset with this name already exists.")
                if not slots:
                    raise InvalidRequest("resource_slots must name at least one slot")
                created = Preset(name, slots, shmem)
                repo.add_preset(db, created, self._clock.now())
                return created
            if current is None:
                raise NotFound("resource preset")
            values: dict[str, Any] = {}
            if slots is not None:
                values["resource_slots"] = slots
            if shared_memory is not None:
                values["shared_memory"] = shmem
            if values:
                await repo.change_preset(db, name, values)
            return dataclasses.replace(current, **values)

    async def delete_preset(self, caller: Principal, name: str) -> None:
        require_superadmin(caller)
        async with self._sessions() as db, db.begin():
            if not await repo.remove_preset(db, name):
                raise NotFound("resource preset")

    # What the caller may still launch ------------------------------------------------------

    async def check_presets(
        self, caller: Principal, *, group: str = "default", scaling_group: str | None = None
    ) -> Headroom:
        """What the caller may still launch in ``group`` (and ``scaling_group``): limits,
        use and what remains (Infinity: unlimited), and which presets fit."""
        async with self._sessions() as db:
            policy = await repo.policy_totals(db, caller.resource_policy)
            group_row, group_slots = await self._group(db, caller, group)
        sgroups = await self._scaling.available(caller, str(group_row.id))
        if scaling_group is not None:
            if scaling_group not in sgroups:
                raise InvalidRequest(f"Scaling group not available to you: {scaling_group}")
            sgroups = [scaling_group]
        async with self._sessions() as db:
            if caller.access_key is not None:
                kp_using = _sum(await repo.held(db, access_key=caller.access_key))
            else:
                kp_using = _sum(await repo.held(db, user_uuid=caller.user_uuid))
            group_using = _sum(await repo.held(db, group_id=group_row.id))
            per_sgroup = {name: await self._sgroup_free(db, name) for name in sgroups}
            presets = await repo.presets(db)
        kp_limits = _policy_limits(policy)
        group_limits = dict(ResourceSlots.parse(group_slots, allow_unlimited=True))
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
        fits = [
            PresetFit(
                p,
                _fits(
                    ResourceSlots.parse(p.resource_slots), kp_remaining, group_remaining, sg_total
                ),
            )
            for p in presets
        ]
        return Headroom(
            own=Budget(
                {n: kp_limits.get(n, INFINITY) for n in names},
                {n: kp_using.get(n, Decimal(0)) for n in names},
                kp_remaining,
            ),
            group=Budget(
                {n: group_limits.get(n, INFINITY) for n in names},
                {n: group_using.get(n, Decimal(0)) for n in names},
                group_remaining,
            ),
            scaling_group_remaining=sg_total,
            scaling_groups=dict(per_sgroup),
            presets=fits,
        )

    async def _group(
        self, db: DbSession, caller: Principal, group: str
    ) -> tuple[Group, dict[str, Any]]:
        found = await identity_repo.find_group(db, caller.domain_name, group)
        if found is None:
            try:
                import uuid

                found = await identity_repo.find_group_by_id(db, uuid.UUID(group))
            except ValueError:
                found = None
        if found is None:
            raise InvalidRequest(f"Invalid group: {group}")
        member = caller.is_superadmin or await identity_repo.is_group_member(
            db, caller.user_uuid, found.domain_name, str(found.id)
        )
        if not member:
            raise InvalidRequest(f"Invalid group: {group}")
        return found, await repo.group_totals(db, found.id)

    async def _sgroup_free(self, db: DbSession, name: str) -> tuple[Slots, Slots]:
        rows = await repo.schedulable_agents(db, name)
        capacity = _sum(r.available_slots for r in rows)
        using = _sum(await repo.held(db, agent_ids=[r.id for r in rows]))
        names = set(capacity) | set(using)
        free = {
            n: max(Decimal(0), capacity.get(n, Decimal(0)) - using.get(n, Decimal(0)))
            for n in names
        }
        return using, free

    # Usage over a period -----------------------------------------------------------------

    async def usage(
        self, caller: Principal, *, group_ids: list[str], start: date, end: date
    ) -> list[GroupUse]:
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
            domain = caller.domain_name if scope == Scope.DOMAIN else None
            groups = await repo.groups(db, ids, domain)
            rows = await repo.sessions_within(db, [g.id for g in groups], begin, finish)
        now = self._clock.now()
        by_group: dict[Any, list[SessionUse]] = defaultdict(list)
        for session in rows:
            by_group[session.group_id].append(session_use(session, now))
        return [group_use(g, by_group.get(g.id, [])) for g in groups]

    # Inventory ---------------------------------------------------------------------------

    async def inventory(self, caller: Principal, data_dir: Path) -> Inventory:
        """Accelerators per agent and the local storage's capacity (superadmins)."""
        require_superadmin(caller)
        async with self._sessions() as db:
            agents = await repo.agents(db)
            busy = _sum(await repo.held(db, agent_ids=[a.id for a in agents]))
        devices = [AgentDevice(a.id, a.status, dict(d)) for a in agents for d in (a.devices or [])]
        try:
            disk = shutil.disk_usage(data_dir)
            storage = StorageCapacity("local", disk.total, disk.used)
        except OSError:
            storage = StorageCapacity("local", None, None)
        capacity = _sum(a.available_slots for a in agents)
        return Inventory(len(agents), capacity, busy, devices, [storage])


def _policy_limits(policy: tuple[dict[str, Any], str] | None) -> Slots:
    if policy is None:
        return {}
    totals, default_for_unspecified = policy
    limits = dict(ResourceSlots.parse(totals, allow_unlimited=True))
    if default_for_unspecified == "LIMITED":
        for name in ("cpu", "mem"):
            limits.setdefault(name, Decimal(0))
    return limits


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
