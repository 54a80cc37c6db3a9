"""The credential labels table: the only module that touches it."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hangar.db.tables.tracking_tasks import TrackingCredentialLabelRow as Row


async def labels(conn: AsyncConnection, keys: Collection[str]) -> dict[str, str]:
    rows = await conn.execute(select(Row.access_key, Row.label).where(Row.access_key.in_(keys)))
    return {key: label for key, label in rows}


async def put(conn: AsyncConnection, key: str, label: str) -> None:
    await conn.execute(delete(Row).where(Row.access_key == key))
    await conn.execute(insert(Row).values(access_key=key, label=label))
