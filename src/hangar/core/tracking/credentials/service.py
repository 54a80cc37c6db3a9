"""Labels of credentials. The caller checks that the credential is the principal's own (the
identity reads say which are); a credential's label goes with it when it is deleted."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.tracking.credentials import repo
from hangar.db.engine import DbSession, engine_of

MAX_LABEL = 256


class CredentialLabels:
    def __init__(self, sessions: async_sessionmaker[DbSession]) -> None:
        self._engine = engine_of(sessions)

    async def labels(self, keys: Collection[str]) -> dict[str, str]:
        """The labels of those of ``keys`` that have one."""
        if not keys:
            return {}
        async with self._engine.connect() as conn:
            return await repo.labels(conn, list(keys))

    async def label(self, key: str, label: str) -> None:
        """Give credential ``key`` its (new) label."""
        async with self._engine.begin() as conn:
            await repo.put(conn, key, label[:MAX_LABEL])
