"""A user's registry credentials: created, listed, renamed or given new secrets, removed
(refused while something that pulls with them is alive), and handed to pulls as the
username and password the registry client needs. Passwords are sealed with the server key
(the same sealing as the container registries' passwords) and never leave the core except
to a pull."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.clock import Clock
from hangar.core.errors import Conflict, NotFound
from hangar.core.identity.secrets import SecretBox
from hangar.core.images.auths import repo
from hangar.core.images.auths.models import RegistryAuth, RegistryKind
from hangar.db.engine import DbSession
from hangar.util.oci.distribution import Credentials


class AuthHolders(Protocol):
    """Tells how many live workloads (pods, VMs, endpoint workers) pull with a credential."""

    async def holders(self, owner: uuid.UUID, auth_id: int) -> int: ...


class NoHolders:
    """Until pods, VMs and endpoints name credentials, nothing holds one."""

    async def holders(self, owner: uuid.UUID, auth_id: int) -> int:
        return 0


def _missing(auth_id: int) -> NotFound:
    return NotFound("registry credential", f"No registry credential with id {auth_id}.")


class RegistryAuthService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        box: SecretBox,
        clock: Clock,
        holders: AuthHolders | None = None,
    ) -> None:
        self._sessions, self._box, self._clock = sessions, box, clock
        self._holders = holders or NoHolders()

    async def create(
        self, owner: uuid.UUID, *, name: str, kind: RegistryKind, username: str, password: str
    ) -> RegistryAuth:
        async with self._sessions() as db, db.begin():
            return await repo.add(db, owner=owner, name=name, kind=kind, username=username,
                                  password_sealed=self._box.encrypt(password),
                                  now=self._clock.now())  # fmt: skip

    async def owned(self, owner: uuid.UUID) -> list[RegistryAuth]:
        async with self._sessions() as db:
            return await repo.owned(db, owner)

    async def get(self, owner: uuid.UUID, auth_id: int) -> RegistryAuth:
        """One of the owner's credentials; NotFound for another user's or none."""
        async with self._sessions() as db:
            found = await repo.get(db, owner, auth_id)
        if found is None:
            raise _missing(auth_id)
        return found

    async def update(
        self,
        owner: uuid.UUID,
        auth_id: int,
        *,
        name: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> RegistryAuth:
        """Change what is given; the kind never changes."""
        values = {k: v for k, v in (("name", name), ("username", username)) if v is not None}
        if password is not None:
            values["password_sealed"] = self._box.encrypt(password)
        async with self._sessions() as db, db.begin():
            found = await repo.update(db, owner, auth_id, values)
        if found is None:
            raise _missing(auth_id)
        return found

    async def remove(self, owner: uuid.UUID, auth_id: int) -> None:
        """Delete the credential; Conflict while a live workload pulls with it."""
        await self.get(owner, auth_id)
        if await self._holders.holders(owner, auth_id):
            raise Conflict(f"Registry credential {auth_id} is in use.")
        async with self._sessions() as db, db.begin():
            if not await repo.remove(db, owner, auth_id):
                raise _missing(auth_id)

    async def credentials(self, owner: uuid.UUID, auth_id: int) -> Credentials:
        """What a pull for the owner's workload logs in with."""
        async with self._sessions() as db:
            found = await repo.get(db, owner, auth_id)
            sealed = await repo.sealed_password(db, owner, auth_id)
        if found is None or sealed is None:
            raise _missing(auth_id)
        return Credentials(found.username, self._box.decrypt(sealed))
