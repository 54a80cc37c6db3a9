"""Finding compute sessions by id, id prefix, name or name prefix."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.compute import repo
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.states import DEAD
from hangar.core.errors import NotFound, TooManySessionsMatched
from hangar.core.principal import Principal
from hangar.db.engine import DbSession


class SessionLookup:
    def __init__(self, sessions: async_sessionmaker[DbSession]) -> None:
        self._sessions = sessions

    async def get(self, session_id: uuid.UUID) -> ComputeSession:
        async with self._sessions() as db:
            session = await repo.get(db, session_id)
        if session is None:
            raise NotFound("session")
        return session

    async def resolve_for(
        self, owner: Principal, ref: str, *, include_dead: bool
    ) -> ComputeSession:
        """The owner's session by id prefix, name, name prefix (first rule that hits).
        Raises NotFound, or TooManySessionsMatched with the candidates."""
        exact = await self._by_whole_id(owner, ref, include_dead=include_dead)
        if exact is not None:
            return exact
        async with self._sessions() as db:
            candidates = await repo.of_owner(db, owner.user_uuid, include_dead=include_dead)
        live = [s for s in candidates if s.status not in DEAD]
        ordered = live + [s for s in candidates if s.status in DEAD]
        rules: tuple[Callable[[ComputeSession], bool], ...] = (
            lambda s: str(s.id).startswith(ref) or s.id.hex.startswith(ref.replace("-", "")),
            lambda s: s.name == ref,
            lambda s: s.name.startswith(ref),
        )
        for rule in rules:
            hits = [s for s in ordered if ref and rule(s)][:10]
            if include_dead and len(hits) > 1 and any(h.status not in DEAD for h in hits):
                hits = [h for h in hits if h.status not in DEAD]
            if len(hits) == 1:
                return hits[0]
            if hits:
                raise TooManySessionsMatched(
                    [{"id": str(h.id), "name": h.name, "status": h.status.value} for h in hits]
                )
        raise NotFound("session")

    async def _by_whole_id(
        self, owner: Principal, ref: str, *, include_dead: bool
    ) -> ComputeSession | None:
        """The owner's session whose whole id is ``ref`` (one primary-key read instead of
        the owner's session list: the execute stream and destroy name sessions by id)."""
        try:
            session_id = uuid.UUID(ref)
        except ValueError:
            return None
        if ref not in (str(session_id), session_id.hex):
            return None
        async with self._sessions() as db:
            session = await repo.get(db, session_id)
        if session is None or not owner.owns(session.user_uuid):
            return None
        return session if include_dead or session.status not in DEAD else None

    async def matching(self, owner: Principal, prefix: str) -> list[ComputeSession]:
        """Live sessions of ``owner`` whose id or name starts with ``prefix`` (completion)."""
        async with self._sessions() as db:
            candidates = await repo.of_owner(db, owner.user_uuid, include_dead=False)
        return [s for s in candidates if str(s.id).startswith(prefix) or s.name.startswith(prefix)]
