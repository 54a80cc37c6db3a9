"""Compute sessions: create or reuse, look up, rename, restart, destroy.

Scheduling and kernel start/stop happen in :mod:`.lifecycle`; creating (validation, the
PENDING row, waiting for the outcome) in :mod:`.creation`; finding sessions by reference in
:mod:`.lookup`.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import FileEntry
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.compute import repo
from hangar.core.compute.creation import (
    SessionAdmission,
    SessionCreator,
    SessionMounts,
    check_name,
)
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.lookup import SessionLookup
from hangar.core.compute.models import ComputeSession, CreateOutcome, CreateRequest
from hangar.core.compute.states import SessionStatus
from hangar.core.compute.stats import Ended
from hangar.core.diskspace import DiskReserve
from hangar.core.errors import (
    Conflict,
    Forbidden,
    InsufficientPrivilege,
    InvalidRequest,
)
from hangar.core.events import EventBus
from hangar.core.identity.service import IdentityService
from hangar.core.images.service import ImageService
from hangar.core.manager.service import ManagerService
from hangar.core.principal import Principal
from hangar.db.engine import DbSession


class ComputeService:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        identity: IdentityService,
        images: ImageService,
        manager: ManagerService,
        lifecycle: SessionLifecycle,
        agents: AgentService,
        bus: EventBus,
        default_memory: int = 0,
        disk: DiskReserve | None = None,
        mounts: SessionMounts | None = None,
        admission: SessionAdmission | None = None,
    ) -> None:
        """``default_memory``: bytes of memory for sessions that request none (at least the
        image's minimum, at most its maximum; 0: the image's minimum). ``disk``: new sessions
        are refused while the data dir's free-space reserve is reached."""
        self._sessions = sessions
        self._lookup = SessionLookup(sessions)
        self._creator = SessionCreator(
            sessions, clock, identity=identity, images=images, manager=manager,
            lifecycle=lifecycle, agents=agents, bus=bus, lookup=self._lookup,
            default_memory=default_memory, disk=disk, mounts=mounts, admission=admission,
        )  # fmt: skip
        self._lifecycle = lifecycle
        self._agents = agents
        self.bus = bus
        self._query_counts: dict[uuid.UUID, int] = {}  # execute calls not yet written

    # Owners ----------------------------------------------------------------------------

    def acting(self, caller: Principal, owner: Principal | None) -> Principal:
        """The caller, or the user it acts for (``owner``, which a face resolved from its own
        wire id). Raises Forbidden when the caller may not act for ``owner``."""
        if owner is None or owner == caller:
            return caller
        if not caller.may_act_for(owner):
            raise Forbidden("You may only act for users of your own domain.")
        return owner

    # Create ----------------------------------------------------------------------------

    async def create(self, caller: Principal, req: CreateRequest) -> CreateOutcome:
        """Create a session (or reuse the live one of the same name) and wait as asked.

        Raises InvalidRequest, NotFound (image, group), SessionAlreadyExists, ServerFrozen.
        """
        return await self._creator.create(caller, self.acting(caller, req.owner), req)

    # Look-ups --------------------------------------------------------------------------

    async def get(self, session_id: uuid.UUID) -> ComputeSession:
        """The session by id. Raises NotFound."""
        return await self._lookup.get(session_id)

    async def resolve(
        self,
        caller: Principal,
        ref: str,
        *,
        owner: Principal | None = None,
        include_dead: bool = False,
    ) -> ComputeSession:
        """Find the session of the caller (or of ``owner``, whom the caller acts for) by id
        prefix, name, name prefix (first rule that hits).

        Raises Forbidden, NotFound, or TooManySessionsMatched with the candidates.
        """
        owner = self.acting(caller, owner)
        return await self._lookup.resolve_for(owner, ref, include_dead=include_dead)

    async def matching(self, caller: Principal, prefix: str) -> list[ComputeSession]:
        """Live sessions of the caller whose id or name starts with ``prefix`` (completion)."""
        return await self._lookup.matching(caller, prefix)

    # Control ---------------------------------------------------------------------------

    async def destroy(
        self,
        caller: Principal,
        ref: str,
        *,
        forced: bool = False,
        owner: Principal | None = None,
    ) -> Ended:
        """Cancel a pending session or terminate a live one; returns how it ended."""
        if forced and not caller.is_admin:
            raise InsufficientPrivilege("Forced termination needs administrator privilege.")
        session = await self.resolve(caller, ref, owner=owner)
        return await self._lifecycle.terminate(session, reason="user-requested", forced=forced)

    async def restart(self, caller: Principal, ref: str, *, owner: Principal | None = None) -> None:
        session = await self.resolve(caller, ref, owner=owner)
        await self._lifecycle.restart(session)

    async def suspend(
        self, caller: Principal, ref: str, *, owner: Principal | None = None
    ) -> ComputeSession:
        """Stop the caller's running session, releasing its slots and keeping its scratch
        dir. Raises NotFound, InvalidRequest (not running, or not interactive), AgentError."""
        session = await self.resolve(caller, ref, owner=owner)
        try:
            await self._lifecycle.suspend(session)
        except Conflict as exc:
            raise InvalidRequest(exc.message) from exc
        return await self.get(session.id)

    async def resume(
        self, caller: Principal, ref: str, *, owner: Principal | None = None
    ) -> ComputeSession:
        """Place the caller's suspended session again (PENDING, then RUNNING on its agent
        with its scratch dir as it was). Raises NotFound, InvalidRequest (not suspended)."""
        session = await self.resolve(caller, ref, owner=owner)
        try:
            await self._lifecycle.resume(session)
        except Conflict as exc:
            raise InvalidRequest(exc.message) from exc
        return await self.get(session.id)

    async def rename(
        self, caller: Principal, ref: str, new_name: str, *, owner: Principal | None = None
    ) -> None:
        session = await self.resolve(caller, ref, owner=owner)
        check_name(new_name)
        if session.status != SessionStatus.RUNNING:
            raise InvalidRequest("Only running sessions can be renamed.")
        async with self._sessions() as db, db.begin():
            if await repo.find_live_by_name(db, session.user_uuid, new_name) is not None:
                raise InvalidRequest(f"A session named {new_name} already exists.")
            await repo.rename(db, session.id, new_name)

    async def logs(self, caller: Principal, ref: str, *, owner: Principal | None = None) -> str:
        session = await self.resolve(caller, ref, owner=owner, include_dead=True)
        return await self._lifecycle.logs(session)

    async def interrupt(self, caller: Principal, ref: str) -> None:
        session = await self.resolve(caller, ref)
        await self._lifecycle.interrupt(session)

    # Files -----------------------------------------------------------------------------

    async def running(
        self, caller: Principal, ref: str, *, owner: Principal | None = None
    ) -> ComputeSession:
        """A running session of the caller. Raises NotFound / InvalidRequest."""
        session = await self.resolve(caller, ref, owner=owner)
        if session.status != SessionStatus.RUNNING or session.agent_id is None:
            raise InvalidRequest(f"The session is {session.status.value}, not RUNNING.")
        self._lifecycle.touch(session.id)
        return session

    async def upload(
        self,
        caller: Principal,
        ref: str,
        files: list[tuple[str, bytes]],
        *,
        owner: Principal | None = None,
    ) -> None:
        session = await self.running(caller, ref, owner=owner)
        assert session.agent_id is not None
        await self._agents.client(session.agent_id).upload(session.id, files)

    async def download(
        self, caller: Principal, ref: str, paths: list[str], *, owner: Principal | None = None
    ) -> list[bytes]:
        """Tar archives of ``paths``; a missing one is InvalidRequest "The file is not found."."""
        session = await self.running(caller, ref, owner=owner)
        assert session.agent_id is not None
        return await self._agents.client(session.agent_id).download(session.id, paths)

    async def list_files(
        self, caller: Principal, ref: str, path: str, *, owner: Principal | None = None
    ) -> tuple[str, list[FileEntry]]:
        session = await self.running(caller, ref, owner=owner)
        assert session.agent_id is not None
        return await self._agents.client(session.agent_id).list_files(session.id, path)

    async def count_query(self, session: ComputeSession) -> None:
        """Count one execute call. Counters are written by :meth:`flush_query_counts`, as
        keypair counters are: no database write on the execute path."""
        self._query_counts[session.id] = self._query_counts.get(session.id, 0) + 1

    async def flush_query_counts(self) -> None:
        """Add the counted execute calls to the sessions' ``num_queries`` (one statement
        per session). On failure the counts are kept for the next flush."""
        if not self._query_counts:
            return
        counts, self._query_counts = self._query_counts, {}
        try:
            async with self._sessions() as db, db.begin():
                for session_id, count in counts.items():
                    await repo.count_queries(db, session_id, count)
        except BaseException:
            for session_id, count in counts.items():
                self._query_counts[session_id] = self._query_counts.get(session_id, 0) + count
            raise
