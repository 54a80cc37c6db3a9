"""The only module that reads and writes the ``cloud_api_keys`` table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from hangar.core.identity.apikeys.models import ApiKey
from hangar.db.engine import DbSession
from hangar.db.tables.identity import CloudApiKeyRow, KeyPairRow, UserRow


def _key_of(row: CloudApiKeyRow, email: str) -> ApiKey:
    return ApiKey(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        user_uuid=row.user_uuid,
        email=email,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


async def add(
    db: DbSession, *, user: UserRow, key_hash: str, prefix: str, name: str, now: datetime
) -> ApiKey:
    row = CloudApiKeyRow(
        key_hash=key_hash,
        prefix=prefix,
        name=name,
        user_uuid=user.uuid,
        created_at=now,
        revoked_at=None,
    )
    db.add(row)
    await db.flush()
    return _key_of(row, user.email)


async def listed(db: DbSession, user_uuid: uuid.UUID | None) -> list[ApiKey]:
    stmt = select(CloudApiKeyRow, UserRow.email).join(
        UserRow, UserRow.uuid == CloudApiKeyRow.user_uuid
    )
    if user_uuid is not None:
        stmt = stmt.where(CloudApiKeyRow.user_uuid == user_uuid)
    rows = await db.execute(stmt.order_by(CloudApiKeyRow.id))
    return [_key_of(row, email) for row, email in rows]


async def revoke(db: DbSession, key_id: int, user_uuid: uuid.UUID | None, now: datetime) -> bool:
    """Mark a key revoked; False when there is no such key (of that user, when given)."""
    row = await db.get(CloudApiKeyRow, key_id)
    if row is None or (user_uuid is not None and row.user_uuid != user_uuid):
        return False
    if row.revoked_at is None:
        row.revoked_at = now
    return True


async def holder(db: DbSession, key_hash: str) -> tuple[int, UserRow, KeyPairRow] | None:
    """For an active key: its id, its user and the user's main (oldest active) keypair,
    whose resource policy and rate limit apply to the key's calls."""
    stmt = (
        select(CloudApiKeyRow.id, UserRow, KeyPairRow)
        .join(UserRow, UserRow.uuid == CloudApiKeyRow.user_uuid)
        .join(KeyPairRow, KeyPairRow.user_uuid == UserRow.uuid)
        .where(
            CloudApiKeyRow.key_hash == key_hash,
            CloudApiKeyRow.revoked_at.is_(None),
            KeyPairRow.is_active.is_(True),
        )
        .order_by(KeyPairRow.created_at, KeyPairRow.access_key)
        .limit(1)
    )
    found = (await db.execute(stmt)).first()
    return None if found is None else (found[0], found[1], found[2])
