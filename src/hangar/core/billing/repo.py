"""Billing's tables (the only module that imports them): prices, meters, limits."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from hangar.core.billing.models import DailyLimit, LimitScope, Meter, MeterKind, Resources
from hangar.db.engine import DbSession
from hangar.db.tables.billing import BillingLimitRow, BillingMeterRow, BillingPriceRow
from hangar.db.tables.identity import GroupRow, UserRow


async def prices(db: DbSession) -> dict[str, Decimal]:
    rows = (await db.execute(select(BillingPriceRow))).scalars()
    return {row.key: Decimal(row.per_hour) for row in rows}


async def set_price(db: DbSession, key: str, per_hour: Decimal | None, now: datetime) -> None:
    """Set (or, with None, remove) one price."""
    row = await db.get(BillingPriceRow, key)
    if per_hour is None:
        if row is not None:
            await db.delete(row)
        return
    if row is None:
        db.add(BillingPriceRow(key=key, per_hour=str(per_hour), updated_at=now))
    else:
        row.per_hour, row.updated_at = str(per_hour), now


def _limit(row: BillingLimitRow) -> DailyLimit:
    scope = LimitScope(row.scope)
    return DailyLimit(scope, row.subject, Decimal(row.amount), row.automatic)


async def limits(db: DbSession) -> list[DailyLimit]:
    stmt = select(BillingLimitRow).order_by(BillingLimitRow.scope, BillingLimitRow.subject)
    return [_limit(row) for row in (await db.execute(stmt)).scalars()]


async def set_limit(db: DbSession, limit: DailyLimit, now: datetime) -> None:
    row = await db.get(BillingLimitRow, (limit.scope.value, limit.subject))
    if row is None:
        db.add(
            BillingLimitRow(
                scope=limit.scope.value,
                subject=limit.subject,
                amount=str(limit.amount),
                automatic=limit.automatic,
                updated_at=now,
            )  # fmt: skip
        )
    else:
        row.amount, row.automatic, row.updated_at = str(limit.amount), limit.automatic, now


async def remove_limit(db: DbSession, scope: LimitScope, subject: uuid.UUID) -> bool:
    stmt = delete(BillingLimitRow).where(
        BillingLimitRow.scope == scope.value, BillingLimitRow.subject == subject
    )
    return bool((await db.execute(stmt)).rowcount)  # type: ignore[attr-defined]


def _meter(row: BillingMeterRow) -> Meter:
    return Meter(
        kind=MeterKind(row.subject_kind), subject_id=row.subject_id,
        origin_kind=row.origin_kind, origin_ref=row.origin_ref, user_uuid=row.user_uuid,
        group_id=row.group_id, rate=Decimal(row.rate),
        resources=Resources.from_record(row.detail), started_at=row.started_at,
        ended_at=row.ended_at, id=row.id,
    )  # fmt: skip


async def open_meters(db: DbSession, kinds: Collection[MeterKind]) -> list[Meter]:
    stmt = select(BillingMeterRow).where(
        BillingMeterRow.ended_at.is_(None),
        BillingMeterRow.subject_kind.in_([k.value for k in kinds]),
    )
    return [_meter(row) for row in (await db.execute(stmt)).scalars()]


async def last_ends(
    db: DbSession, kind: MeterKind, subject_ids: Collection[str]
) -> dict[str, datetime]:
    """When each subject's latest closed meter of ``kind`` ended (absent: never metered)."""
    if not subject_ids:
        return {}
    stmt = (
        select(BillingMeterRow.subject_id, func.max(BillingMeterRow.ended_at))
        .where(
            BillingMeterRow.subject_kind == kind.value,
            BillingMeterRow.subject_id.in_(list(subject_ids)),
            BillingMeterRow.ended_at.is_not(None),
        )
        .group_by(BillingMeterRow.subject_id)
    )
    return {sid: end for sid, end in (await db.execute(stmt)).all() if end is not None}


async def add_meter(db: DbSession, meter: Meter) -> bool:
    """Open ``meter``; False when the subject already has an open meter of that kind (another
    pass opened it first). Runs in a savepoint: the caller's transaction goes on."""
    row = BillingMeterRow(
        subject_kind=meter.kind.value, subject_id=meter.subject_id,
        origin_kind=meter.origin_kind, origin_ref=meter.origin_ref, user_uuid=meter.user_uuid,
        group_id=meter.group_id, rate=str(meter.rate), detail=meter.resources.to_record(),
        started_at=meter.started_at, ended_at=meter.ended_at,
    )  # fmt: skip
    try:
        async with db.begin_nested():
            db.add(row)
            await db.flush()
    except IntegrityError:
        return False
    return True


async def close_meter(db: DbSession, meter_id: int, at: datetime) -> None:
    stmt = (
        update(BillingMeterRow)
        .where(BillingMeterRow.id == meter_id, BillingMeterRow.ended_at.is_(None))
        .values(ended_at=at)
    )
    await db.execute(stmt)


async def meters_of(
    db: DbSession,
    *,
    subjects: Mapping[MeterKind, Collection[str]] | None = None,
    origin: tuple[str, Collection[str]] | None = None,
) -> list[Meter]:
    """The meters of those subjects (by kind and id) or of sessions of that origin."""
    clauses = []
    for kind, ids in (subjects or {}).items():
        if ids:
            clauses.append(
                (BillingMeterRow.subject_kind == kind.value)
                & BillingMeterRow.subject_id.in_(list(ids))
            )
    if origin is not None and origin[1]:
        clauses.append(
            (BillingMeterRow.origin_kind == origin[0])
            & BillingMeterRow.origin_ref.in_(list(origin[1]))
        )
    if not clauses:
        return []
    stmt = select(BillingMeterRow).where(or_(*clauses))
    return [_meter(row) for row in (await db.execute(stmt)).scalars()]


async def meters_between(
    db: DbSession,
    start: datetime,
    end: datetime,
    *,
    user_uuid: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
) -> list[Meter]:
    """Meters that ran for some of [start, end), of that user or project when given."""
    stmt = select(BillingMeterRow).where(
        BillingMeterRow.started_at < end,
        or_(BillingMeterRow.ended_at.is_(None), BillingMeterRow.ended_at > start),
    )
    if user_uuid is not None:
        stmt = stmt.where(BillingMeterRow.user_uuid == user_uuid)
    if group_id is not None:
        stmt = stmt.where(BillingMeterRow.group_id == group_id)
    return [_meter(row) for row in (await db.execute(stmt)).scalars()]


async def user_ids(db: DbSession, emails: Collection[str]) -> dict[str, uuid.UUID]:
    stmt = select(UserRow.email, UserRow.uuid).where(UserRow.email.in_(list(emails)))
    return {email: uid for email, uid in (await db.execute(stmt)).all()}


async def project_id(db: DbSession, name: str, domain: str | None) -> uuid.UUID | None:
    """The project (group) of that name, in ``domain`` when given; None when there is none
    or the name is ambiguous across domains."""
    stmt = select(GroupRow.id).where(GroupRow.name == name)
    if domain is not None:
        stmt = stmt.where(GroupRow.domain_name == domain)
    found = list((await db.execute(stmt)).scalars())
    return found[0] if len(found) == 1 else None


async def labels(
    db: DbSession, users: Collection[uuid.UUID], groups: Collection[uuid.UUID]
) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, str]]:
    """Users' emails and projects' names by id (absent: deleted since)."""
    emails: dict[uuid.UUID, str] = {}
    names: dict[uuid.UUID, str] = {}
    if users:
        stmt = select(UserRow.uuid, UserRow.email).where(UserRow.uuid.in_(list(users)))
        emails = {uid: email for uid, email in (await db.execute(stmt)).all()}
    if groups:
        query = select(GroupRow.id, GroupRow.name).where(GroupRow.id.in_(list(groups)))
        names = {gid: name for gid, name in (await db.execute(query)).all()}
    return emails, names
