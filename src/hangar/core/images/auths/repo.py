"""The only module that reads and writes the ``registry_auths`` table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from hangar.core.images.auths.models import RegistryAuth, RegistryKind
from hangar.db.engine import DbSession
from hangar.db.tables.registry_auths import RegistryAuthRow


def _auth_of(row: RegistryAuthRow) -> RegistryAuth:
    return RegistryAuth(row.id, row.owner_uuid, row.name, RegistryKind(row.kind), row.username,
                        row.created_at)  # fmt: skip


async def add(
    db: DbSession,
    *,
    owner: uuid.UUID,
    name: str,
    kind: RegistryKind,
    username: str,
    password_sealed: str,
    now: datetime,
) -> RegistryAuth:
    row = RegistryAuthRow(owner_uuid=owner, name=name, kind=kind.value, username=username,
                          password_sealed=password_sealed, created_at=now)  # fmt: skip
    db.add(row)
    await db.flush()
    return _auth_of(row)


async def owned(db: DbSession, owner: uuid.UUID) -> list[RegistryAuth]:
    stmt = select(RegistryAuthRow).where(RegistryAuthRow.owner_uuid == owner)
    return [_auth_of(r) for r in (await db.execute(stmt.order_by(RegistryAuthRow.id))).scalars()]


async def _row(db: DbSession, owner: uuid.UUID, auth_id: int) -> RegistryAuthRow | None:
    row = await db.get(RegistryAuthRow, auth_id)
    return row if row is not None and row.owner_uuid == owner else None


async def get(db: DbSession, owner: uuid.UUID, auth_id: int) -> RegistryAuth | None:
    row = await _row(db, owner, auth_id)
    return None if row is None else _auth_of(row)


async def sealed_password(db: DbSession, owner: uuid.UUID, auth_id: int) -> str | None:
    row = await _row(db, owner, auth_id)
    return None if row is None else row.password_sealed


async def update(
    db: DbSession, owner: uuid.UUID, auth_id: int, values: dict[str, str]
) -> RegistryAuth | None:
    row = await _row(db, owner, auth_id)
    if row is None:
        return None
    for key, value in values.items():
        setattr(row, key, value)
    return _auth_of(row)


async def remove(db: DbSession, owner: uuid.UUID, auth_id: int) -> bool:
    row = await _row(db, owner, auth_id)
    if row is None:
        return False
    await db.delete(row)
    return True
