"""Manager-wide settings (key -> JSON object): the only module that touches their table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hangar.db.engine import DbSession
from hangar.db.tables.manager import SettingRow


async def get(db: DbSession, key: str) -> dict[str, Any] | None:
    row = await db.get(SettingRow, key)
    return dict(row.value) if row is not None else None


async def put(db: DbSession, key: str, value: dict[str, Any], now: datetime) -> None:
    """Set ``key`` to ``value`` (added or replaced; the caller commits)."""
    row = await db.get(SettingRow, key)
    if row is None:
        db.add(SettingRow(key=key, value=value, modified_at=now))
    else:
        row.value = value
        row.modified_at = now
