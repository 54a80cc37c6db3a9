"""Endpoints and registry credentials: a credential is held by each of its owner's
endpoints that is not deleted (a stopped one pulls again when started), besides what the
other holders count; a worker's image pull uses its endpoint's credential."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.compute.kernel_request import PullCredentials
from hangar.core.compute.models import ComputeSession, OriginKind
from hangar.core.endpoints import repo
from hangar.core.errors import NotFound
from hangar.core.images.auths.service import AuthHolders, RegistryAuthService
from hangar.db.engine import DbSession
from hangar.util.oci.distribution import Credentials


class EndpointAuthHolders:
    """:class:`AuthHolders` counting endpoints, then ``others`` (pods, VMs)."""

    def __init__(self, sessions: async_sessionmaker[DbSession], others: AuthHolders) -> None:
        self._sessions, self._others = sessions, others

    async def holders(self, owner: uuid.UUID, auth_id: int) -> int:
        async with self._sessions() as db:
            records = await repo.using_auth(db, owner, auth_id)
        held = sum(r.deleted_at is None for r in records)
        return held + await self._others.holders(owner, auth_id)


class EndpointPullCredentials:
    """:class:`PullCredentials` for endpoint workers, then ``others`` for other sessions."""

    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        auths: RegistryAuthService,
        others: PullCredentials,
    ) -> None:
        self._sessions, self._auths, self._others = sessions, auths, others

    async def pull_credentials(self, session: ComputeSession) -> Credentials | None:
        origin = session.origin
        if origin.kind is not OriginKind.ENDPOINT_WORKER:
            return await self._others.pull_credentials(session)
        if not (origin.ref or "").isdigit():
            return None
        async with self._sessions() as db:
            record = await repo.load(db, int(origin.ref or "0"))
        if record is None or record.spec.registry_auth_id is None:
            return None
        try:
            return await self._auths.credentials(session.user_uuid, record.spec.registry_auth_id)
        except NotFound:
            return None
