"""The registry credentials' :class:`~hangar.core.images.auths.service.AuthHolders` for
pods: a credential is held by each of its owner's pods that is not terminated."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.compute.service import ComputeService
from hangar.core.errors import NotFound
from hangar.core.pods import repo
from hangar.core.pods.models import PodStatus
from hangar.core.pods.states import pod_status
from hangar.db.engine import DbSession


class PodAuthHolders:
    def __init__(self, sessions: async_sessionmaker[DbSession], compute: ComputeService) -> None:
        self._sessions, self._compute = sessions, compute

    async def holders(self, owner: uuid.UUID, auth_id: int) -> int:
        async with self._sessions() as db:
            records = await repo.using_auth(db, owner, auth_id)
        held = 0
        for record in records:
            status = None
            if record.session_id is not None:
                try:
                    status = (await self._compute.get(record.session_id)).status
                except NotFound:
                    status = None
            deleted = record.deleted_at is not None
            if pod_status(status, deleted=deleted) is not PodStatus.TERMINATED:
                held += 1
        return held
