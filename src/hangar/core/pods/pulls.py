"""A pod's registry credential (``containerRegistryAuthId``) is the login its image pull
uses: the compute lifecycle's :class:`~hangar.core.compute.kernel_request.PullCredentials`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.compute.models import ComputeSession, OriginKind
from hangar.core.errors import NotFound
from hangar.core.images.auths.service import RegistryAuthService
from hangar.core.pods import repo
from hangar.db.engine import DbSession
from hangar.util.oci.distribution import Credentials


class PodPullCredentials:
    def __init__(self, sessions: async_sessionmaker[DbSession], auths: RegistryAuthService) -> None:
        self._sessions, self._auths = sessions, auths

    async def pull_credentials(self, session: ComputeSession) -> Credentials | None:
        """The credential the session's pod names (found by the session's origin, which is
        there before the pod records its session); None for other sessions or none named."""
        origin = session.origin
        if origin.kind is not OriginKind.POD or not (origin.ref or "").isdigit():
            return None
        async with self._sessions() as db:
            record = await repo.get(db, session.user_uuid, int(origin.ref or "0"))
        if record is None or record.spec.registry_auth_id is None:
            return None
        try:
            return await self._auths.credentials(session.user_uuid, record.spec.registry_auth_id)
        except NotFound:  # deleted meanwhile (a live pod holds it, so only in a race)
            return None
