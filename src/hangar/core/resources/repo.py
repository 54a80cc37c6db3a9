"""Resource presets, and the slots, policies, groups and agents the resource answers read."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select, update

from hangar.core.compute.states import HOLDS_RESOURCES
from hangar.core.identity.models import Group
from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import GroupRow, KeyPairRow, ResourcePolicyRow, UserRow
from hangar.db.tables.resources import ResourcePresetRow


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    resource_slots: dict[str, str]
    shared_memory: int | None


@dataclass(frozen=True, slots=True)
class AgentCapacity:
    id: str
    status: str
    available_slots: dict[str, Any]
    devices: list[dict[str, Any]]


def _preset(row: ResourcePresetRow) -> Preset:
    return Preset(row.name, dict(row.resource_slots), row.shared_memory)


async def presets(db: DbSession) -> list[Preset]:
    rows = await db.execute(select(ResourcePresetRow).order_by(ResourcePresetRow.name))
    return [_preset(r) for r in rows.scalars()]


async def preset(db: DbSession, name: str) -> Preset | None:
    row = await db.get(ResourcePresetRow, name)
    return _preset(row) if row is not None else None


def add_preset(db: DbSession, item: Preset, now: datetime) -> None:
    db.add(ResourcePresetRow(name=item.name, resource_slots=item.resource_slots,
                             shared_memory=item.shared_memory, created_at=now))  # fmt: skip


async def change_preset(db: DbSession, name: str, values: Mapping[str, Any]) -> None:
    await db.execute(
        update(ResourcePresetRow).where(ResourcePresetRow.name == name).values(**values)
    )


async def remove_preset(db: DbSession, name: str) -> bool:
    """Delete the preset; False when there is none of that name."""
    result = await db.execute(delete(ResourcePresetRow).where(ResourcePresetRow.name == name))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def held(
    db: DbSession,
    *,
    access_key: str | None = None,
    user_uuid: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
    agent_ids: Collection[str] | None = None,
) -> list[Any]:
    """The occupied slots of each session that holds resources, narrowed by what is given."""
    conditions: list[ColumnElement[bool]] = []
    if access_key is not None:
        conditions.append(SessionRow.access_key == access_key)
    if user_uuid is not None:
        conditions.append(SessionRow.user_uuid == user_uuid)
    if group_id is not None:
        conditions.append(SessionRow.group_id == group_id)
    if agent_ids is not None:
        conditions.append(SessionRow.agent_id.in_(list(agent_ids)))
    stmt = select(SessionRow.occupied_slots).where(
        SessionRow.status.in_([s.value for s in HOLDS_RESOURCES]), *conditions
    )
    return list((await db.execute(stmt)).scalars())


async def policy_totals(db: DbSession, name: str | None) -> tuple[dict[str, Any], str] | None:
    """(total resource slots, default for unspecified) of a resource policy, if it exists."""
    policy = await db.get(ResourcePolicyRow, name) if name is not None else None
    if policy is None:
        return None
    return dict(policy.total_resource_slots or {}), str(policy.default_for_unspecified)


async def group_totals(db: DbSession, group_id: uuid.UUID) -> dict[str, Any]:
    """The group's total resource slots (empty: unlimited)."""
    row = await db.get(GroupRow, group_id)
    assert row is not None
    return dict(row.total_resource_slots or {})


async def schedulable_agents(db: DbSession, scaling_group: str) -> list[AgentCapacity]:
    """The ALIVE, schedulable agents of a scaling group."""
    stmt = select(AgentRow).where(
        AgentRow.scaling_group == scaling_group,
        AgentRow.status == "ALIVE",
        AgentRow.schedulable.is_(True),
    )
    return [_capacity(r) for r in (await db.execute(stmt)).scalars()]


async def agents(db: DbSession) -> list[AgentCapacity]:
    """Every agent, by id."""
    return [
        _capacity(r) for r in (await db.execute(select(AgentRow).order_by(AgentRow.id))).scalars()
    ]


def _capacity(row: AgentRow) -> AgentCapacity:
    return AgentCapacity(row.id, row.status, dict(row.available_slots or {}),
                         list(row.devices or []))  # fmt: skip


async def groups(db: DbSession, ids: Collection[uuid.UUID], domain_name: str | None) -> list[Group]:
    """Groups by name: those of ``ids`` (all if empty), of ``domain_name`` if given."""
    stmt = select(GroupRow).where(GroupRow.id.in_(list(ids))) if ids else select(GroupRow)
    if domain_name is not None:
        stmt = stmt.where(GroupRow.domain_name == domain_name)
    rows = (await db.execute(stmt.order_by(GroupRow.name))).scalars()
    return [
        Group(
            id=r.id,
            name=r.name,
            domain_name=r.domain_name,
            description=r.description,
            is_active=r.is_active,
            created_at=r.created_at,
        )  # fmt: skip
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class SessionUsage:
    """A session's figures for usage reports, as stored."""

    group_id: uuid.UUID
    name: str
    image_ref: str
    status: str
    created_at: datetime
    started_at: datetime | None
    terminated_at: datetime | None
    occupied_slots: dict[str, Any] | None
    last_stat: dict[str, Any] | None
    mounts: list[Any] | None
    access_key: str | None  # its keypair's (None: another credential, or the keypair is gone)


async def sessions_within(
    db: DbSession, group_ids: Collection[uuid.UUID], begin: datetime, finish: datetime
) -> list[SessionUsage]:
    """The groups' sessions that lived within [begin, finish), oldest first."""
    stmt = (
        select(SessionRow, KeyPairRow.access_key)
        .outerjoin(KeyPairRow, KeyPairRow.access_key == SessionRow.access_key)
        .join(UserRow, UserRow.uuid == SessionRow.user_uuid)
        .where(
            SessionRow.group_id.in_(list(group_ids)),
            SessionRow.created_at < finish,
            (SessionRow.terminated_at.is_(None)) | (SessionRow.terminated_at >= begin),
        )
        .order_by(SessionRow.created_at)
    )
    return [
        SessionUsage(
            group_id=row.group_id,
            name=row.name,
            image_ref=row.image_ref,
            status=row.status,
            created_at=row.created_at,
            started_at=row.started_at,
            terminated_at=row.terminated_at,
            occupied_slots=row.occupied_slots,
            last_stat=row.last_stat,
            mounts=row.mounts,
            access_key=key,
        )  # fmt: skip
        for row, key in (await db.execute(stmt)).all()
    ]
