"""Scaling group rows and their links to domains, groups and keypairs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, union, update

from hangar.db.engine import DbSession
from hangar.db.tables.agents import AgentRow
from hangar.db.tables.compute import SessionRow
from hangar.db.tables.identity import DomainRow, GroupRow, KeyPairRow
from hangar.db.tables.scaling import (
    ScalingGroupDomainRow,
    ScalingGroupGroupRow,
    ScalingGroupKeyPairRow,
    ScalingGroupRow,
)


@dataclass(frozen=True, slots=True)
class ScalingGroup:
    name: str
    description: str
    is_active: bool
    created_at: datetime
    wsproxy_addr: str | None
    driver: str
    driver_opts: dict[str, Any]
    scheduler: str
    scheduler_opts: dict[str, Any]


def _view(row: ScalingGroupRow) -> ScalingGroup:
    return ScalingGroup(
        name=row.name,
        description=row.description,
        is_active=row.is_active,
        created_at=row.created_at,
        wsproxy_addr=row.wsproxy_addr,
        driver=row.driver,
        driver_opts=dict(row.driver_opts or {}),
        scheduler=row.scheduler,
        scheduler_opts=dict(row.scheduler_opts or {}),
    )


async def find(
    db: DbSession, *, name: str | None = None, is_active: bool | None = None
) -> list[ScalingGroup]:
    """Scaling groups by name (of that name only, if given; active or not, if given)."""
    stmt = select(ScalingGroupRow).order_by(ScalingGroupRow.name)
    if name is not None:
        stmt = stmt.where(ScalingGroupRow.name == name)
    if is_active is not None:
        stmt = stmt.where(ScalingGroupRow.is_active.is_(is_active))
    return [_view(r) for r in (await db.execute(stmt)).scalars()]


async def get(db: DbSession, name: str) -> ScalingGroup | None:
    row = await db.get(ScalingGroupRow, name)
    return _view(row) if row is not None else None


def _linked_names(domain: str | None, group: uuid.UUID | None, access_key: str | None) -> list[Any]:
    parts: list[Any] = []
    if domain is not None:
        parts.append(select(ScalingGroupDomainRow.scaling_group)
                     .where(ScalingGroupDomainRow.domain == domain))  # fmt: skip
    if access_key is not None:
        parts.append(select(ScalingGroupKeyPairRow.scaling_group)
                     .where(ScalingGroupKeyPairRow.access_key == access_key))  # fmt: skip
    if group is not None:
        parts.append(select(ScalingGroupGroupRow.scaling_group)
                     .where(ScalingGroupGroupRow.group == group))  # fmt: skip
    return parts


async def linked(
    db: DbSession,
    *,
    domain: str | None = None,
    group: uuid.UUID | None = None,
    access_key: str | None = None,
    is_active: bool | None = None,
) -> list[ScalingGroup]:
    """The scaling groups linked to the one domain, group or keypair given, by name."""
    (names,) = _linked_names(domain, group, access_key)
    query = select(ScalingGroupRow).where(ScalingGroupRow.name.in_(names))
    if is_active is not None:
        query = query.where(ScalingGroupRow.is_active.is_(is_active))
    rows = (await db.execute(query.order_by(ScalingGroupRow.name))).scalars()
    return [_view(r) for r in rows]


async def available(
    db: DbSession, domain: str, access_key: str | None, group: uuid.UUID | None
) -> list[str]:
    """Names of the active scaling groups linked to the domain, the keypair or the group."""
    stmt = (
        select(ScalingGroupRow.name)
        .where(
            ScalingGroupRow.name.in_(union(*_linked_names(domain, group, access_key))),
            ScalingGroupRow.is_active.is_(True),
        )
        .order_by(ScalingGroupRow.name)
    )
    return list((await db.execute(stmt)).scalars())


def add(db: DbSession, group: ScalingGroup) -> None:
    db.add(
        ScalingGroupRow(
            name=group.name, description=group.description, is_active=group.is_active,
            created_at=group.created_at, driver=group.driver, driver_opts=group.driver_opts,
            scheduler=group.scheduler, scheduler_opts=group.scheduler_opts,
            wsproxy_addr=group.wsproxy_addr,
        )
    )  # fmt: skip


async def change(db: DbSession, name: str, values: dict[str, Any]) -> None:
    await db.execute(update(ScalingGroupRow).where(ScalingGroupRow.name == name).values(**values))


async def in_use(db: DbSession, name: str) -> bool:
    """Whether agents or sessions belong to the scaling group."""
    for table, column in ((AgentRow, AgentRow.scaling_group),
                          (SessionRow, SessionRow.scaling_group)):  # fmt: skip
        count = select(func.count()).select_from(table).where(column == name)
        if int((await db.execute(count)).scalar_one()):
            return True
    return False


async def remove(db: DbSession, name: str) -> None:
    """Delete the scaling group. Raises IntegrityError while links still need it."""
    row = await db.get(ScalingGroupRow, name)
    if row is not None:
        await db.delete(row)
        await db.flush()


async def domain_exists(db: DbSession, name: str) -> bool:
    return await db.get(DomainRow, name) is not None


async def group_exists(db: DbSession, group_id: uuid.UUID) -> bool:
    return await db.get(GroupRow, group_id) is not None


async def keypair_exists(db: DbSession, access_key: str) -> bool:
    return await db.get(KeyPairRow, access_key) is not None


async def link(
    db: DbSession,
    scaling_group: str,
    *,
    domain: str | None = None,
    group: uuid.UUID | None = None,
    access_key: str | None = None,
    remove: bool = False,
) -> None:
    """Link (or, with ``remove``, unlink) the scaling group and the one domain, group or
    keypair given (idempotent)."""
    row: Any
    key: Any
    if domain is not None:
        row, key = ScalingGroupDomainRow(scaling_group=scaling_group, domain=domain), domain
    elif group is not None:
        row, key = ScalingGroupGroupRow(scaling_group=scaling_group, group=group), group
    else:
        row = ScalingGroupKeyPairRow(scaling_group=scaling_group, access_key=access_key)
        key = access_key
    existing = await db.get(type(row), (scaling_group, key))
    if remove and existing is not None:
        await db.delete(existing)
    elif not remove and existing is None:
        db.add(row)


async def unlink_all(
    db: DbSession, *, domain: str | None = None, group: uuid.UUID | None = None
) -> None:
    """Remove every scaling group link of the domain (or of the group)."""
    if domain is not None:
        await db.execute(
            delete(ScalingGroupDomainRow).where(ScalingGroupDomainRow.domain == domain)
        )
    else:
        await db.execute(delete(ScalingGroupGroupRow).where(ScalingGroupGroupRow.group == group))
