"""Manager-wide state that admins change at run time: the frozen flag and the announcement."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import InvalidRequest
from hangar.core.manager import repo
from hangar.db.engine import DbSession

ANNOUNCEMENT_KEY = "manager/announcement"
STATUS_KEY = "manager/status"


class ManagerStatus(StrEnum):
    RUNNING = "running"
    FROZEN = "frozen"


@dataclass(frozen=True, slots=True)
class Announcement:
    enabled: bool
    message: str


class ManagerService:
    def __init__(self, sessions: async_sessionmaker[DbSession], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def _get(self, key: str) -> dict[str, Any] | None:
        async with self._sessions() as db:
            return await repo.get(db, key)

    async def _put(self, key: str, value: dict[str, Any]) -> None:
        async with self._sessions() as db, db.begin():
            await repo.put(db, key, value, self._clock.now())

    async def status(self) -> ManagerStatus:
        value = await self._get(STATUS_KEY)
        return ManagerStatus(value["status"]) if value else ManagerStatus.RUNNING

    async def set_status(self, status: str) -> ManagerStatus:
        """Freeze or unfreeze; the value is accepted in any case. Raises InvalidRequest."""
        try:
            new = ManagerStatus(status.lower())
        except ValueError as exc:
            raise InvalidRequest("status must be 'running' or 'frozen'") from exc
        await self._put(STATUS_KEY, {"status": new.value})
        return new

    async def announcement(self) -> Announcement:
        value = await self._get(ANNOUNCEMENT_KEY)
        if not value:
            return Announcement(False, "")
        return Announcement(bool(value.get("enabled")), value.get("message") or "")

    async def set_announcement(self, *, enabled: bool, message: str | None) -> None:
        """Publish or withdraw the announcement. Enabling with no message is refused."""
        if enabled and not (message or "").strip():
            raise InvalidRequest("An enabled announcement needs a message.")
        await self._put(ANNOUNCEMENT_KEY, {"enabled": enabled, "message": message or ""})
