"""Creating compute sessions: validate the request, write the PENDING row, nudge the
lifecycle and wait for the outcome when asked to."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import uuid
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.compute import repo
from hangar.core.compute.events import session_event
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.lookup import SessionLookup
from hangar.core.compute.models import (
    ComputeSession,
    CreateOutcome,
    CreateRequest,
    Origin,
    SessionSpec,
)
from hangar.core.compute.options import parse_resource_opts, parse_starts_at
from hangar.core.compute.placement import refuse_impossible
from hangar.core.compute.ports import check_spec_ports
from hangar.core.compute.restarts import check_restart_policy
from hangar.core.compute.states import SessionStatus, SessionType
from hangar.core.diskspace import DiskReserve
from hangar.core.errors import (
    InsufficientPrivilege,
    InvalidRequest,
    InvalidValue,
    NotFound,
    ServerFrozen,
    SessionAlreadyExists,
)
from hangar.core.events import EventBus, EventKind, Matcher
from hangar.core.identity.service import IdentityService
from hangar.core.images.models import Image
from hangar.core.images.service import ImageService
from hangar.core.manager.service import ManagerService, ManagerStatus
from hangar.core.principal import Principal
from hangar.core.scheduler import ResourceSlots
from hangar.core.scheduler.feasibility import human_amount
from hangar.db.engine import DbSession
from hangar.db.sqlite_inline import inline_writes

MAX_DEPENDENCIES = 64
NAME_RE = re.compile(r"^(?=.{4,64}$)\w[\w.-]*\w$", re.ASCII)
RESERVED_NAMES = frozenset({"from-template"})
SETTLED = frozenset(
    {
        SessionStatus.RUNNING,
        SessionStatus.ERROR,
        SessionStatus.CANCELLED,
        SessionStatus.TERMINATED,
        SessionStatus.TERMINATING,
    }
)


# Events after which a waiting create looks at the session again (the others, such as
# SESSION_SCHEDULED or SESSION_PREPARING, never leave it in a SETTLED status).
SETTLING_EVENTS = frozenset(
    {
        EventKind.SESSION_STARTED,
        EventKind.SESSION_FAILED,
        EventKind.SESSION_CANCELLED,
        EventKind.SESSION_TERMINATED,
        EventKind.SESSION_TERMINATING,
    }
)


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name in RESERVED_NAMES:
        raise InvalidRequest(
            "Session names are 4-64 ASCII letters, digits, '_', '-' or '.', "
            "starting and ending with a letter or digit."
        )
    return name


def default_slots(
    image_min: dict[str, str], image_max: dict[str, str], memory: int
) -> dict[str, str]:
    """The slots of a session whose request names none: the image's minimum, with at least
    ``memory`` bytes of memory (never above the image's maximum)."""
    defaults = dict(image_min)
    low = ResourceSlots.parse(image_min).amount("mem")
    high = ResourceSlots.parse(image_max).amount("mem") if "mem" in image_max else None
    wanted = Decimal(memory) if high is None else min(Decimal(memory), high)
    if wanted > low:
        defaults["mem"] = str(int(wanted))
    return defaults


def with_image_command(req: CreateRequest, image: Image) -> CreateRequest:
    """``req`` with the image's own command (Entrypoint + Cmd, in its WorkingDir) for a batch
    session that names none."""
    if req.session_type != SessionType.BATCH or (req.spec.command or "").strip():
        return req
    if not image.provider.command:
        return req
    spec = dataclasses.replace(req.spec, command=image.provider.command)
    return dataclasses.replace(req, spec=spec)


class SessionAdmission(Protocol):
    """Refuses a new session its owner may not start now (billing's daily cost limits):
    raises a HangarError (QuotaExceeded) saying why."""

    async def admit_session(
        self, owner: Principal, origin: Origin, *, project: str, domain: str
    ) -> None: ...


class SessionMounts(Protocol):
    """Checks the folders a new session asks to mount against its owner's access (the storage
    plane); returns them as the session records them."""

    async def mounts_for(
        self, owner: Principal, names: tuple[str, ...], mount_map: dict[str, str]
    ) -> list[dict[str, Any]]: ...


class SessionCreator:
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
        lookup: SessionLookup,
        default_memory: int = 0,
        disk: DiskReserve | None = None,
        mounts: SessionMounts | None = None,
        admission: SessionAdmission | None = None,
    ) -> None:
        self._sessions = sessions
        self._admission = admission
        self._clock = clock
        self._identity = identity
        self._images = images
        self._manager = manager
        self._lifecycle = lifecycle
        self._agents = agents
        self.bus = bus
        self._lookup = lookup
        self._default_memory = default_memory
        self._disk = disk
        self._mount_source = mounts

    async def create(
        self, caller: Principal, owner: Principal, req: CreateRequest
    ) -> CreateOutcome:
        """Create a session of ``owner`` (or reuse its live one of the same name) and wait as
        asked. Raises InvalidRequest, NotFound (image, group), SessionAlreadyExists,
        ServerFrozen.
        """
        check_name(req.name)
        if req.agent_list and not caller.is_admin:
            raise InsufficientPrivilege("Only administrators may assign sessions to agents.")
        async with self._sessions() as db:
            existing = await repo.find_live_by_name(db, owner.user_uuid, req.name)
        image = await self._images.resolve(req.spec.image, req.spec.architecture)
        if existing is not None:
            if req.reuse_if_exists and existing.image_id == image.id:
                return CreateOutcome(existing, False, existing.status)
            raise SessionAlreadyExists(existing_id=existing.id)
        if await self._manager.status() == ManagerStatus.FROZEN:
            raise ServerFrozen()
        if self._disk is not None:
            self._disk.check("new sessions")
        if self._admission is not None:
            await self._admission.admit_session(
                owner, req.origin, project=req.group_name, domain=req.domain_name
            )
        req = with_image_command(req, image)  # a batch session in an image: its Entrypoint/Cmd
        image_min = image.min_slots()
        defaults = default_slots(image_min, image.max_slots(), self._default_memory)
        session = await self._add(owner, req, image.id, image.short_ref, image_min, defaults)
        self.bus.publish(session_event(EventKind.SESSION_ENQUEUED, session, self._clock.now()))
        if req.enqueue_only:
            self._lifecycle.nudge()
            return CreateOutcome(session, True, SessionStatus.PENDING)
        return await self._wait_started(session, req.max_wait_seconds)

    async def _add(
        self,
        owner: Principal,
        req: CreateRequest,
        image_id: uuid.UUID,
        image_ref: str,
        image_min: dict[str, str],
        defaults: dict[str, str],
    ) -> ComputeSession:
        self._validate(req)
        now = self._clock.now()
        starts_at = parse_starts_at(req.starts_at, now)
        spec = req.spec
        requested = ResourceSlots.parse({**defaults, **spec.resources})
        resource_opts = parse_resource_opts(spec.resource_opts, requested.get("mem"))
        dependencies = await self._dependencies(owner, req.dependencies)
        minimum = ResourceSlots.parse(image_min)
        short = [name for name in minimum if requested.amount(name) < minimum.amount(name)]
        if short:
            raise InvalidRequest(
                f"The image {image_ref} needs at least "
                + ", ".join(
                    f"{name}={human_amount(name, minimum.amount(name))} (asked: "
                    f"{human_amount(name, requested.amount(name))})"
                    for name in short
                )
            )
        scaling_group = req.scaling_group or "default"
        agent_list = list(dict.fromkeys(req.agent_list)) or None
        agents = await self._agents.alive(anywhere=True)  # also other servers' agents
        refuse_impossible(requested, agents, scaling_group, agent_list)
        group_id = await self._identity.group_id_for(owner, req.domain_name, req.group_name)
        values: dict[str, Any] = dict(
            id=uuid.uuid4(),
            name=req.name,
            access_key=owner.access_key,
            credential_kind=owner.credential.kind.value,
            credential_id=owner.credential.id,
            user_uuid=owner.user_uuid,
            domain_name=owner.domain_name,
            group_id=group_id,
            scaling_group=scaling_group,
            agent_id=None,
            image_id=image_id,
            image_ref=image_ref,
            session_type=req.session_type.value,
            status=SessionStatus.PENDING.value,
            status_info=None,
            status_data=None,
            status_history={SessionStatus.PENDING.value: now.isoformat()},
            status_changed=now,
            result="UNDEFINED",
            requested_slots=requested.to_wire(),
            occupied_slots={},
            device_allocations=[],
            environ=dict(spec.env),
            mounts=await self._mounts(owner, spec),
            bootstrap_script=spec.bootstrap_script,
            startup_command=spec.command,
            tag=req.tag,
            callback_url=req.callback_url,
            cluster_size=req.cluster_size,
            cluster_mode=req.cluster_mode,
            created_at=now,
            starts_at=starts_at,
            started_at=None,
            terminated_at=None,
            num_queries=0,
            last_stat=None,
            resource_opts=resource_opts or None,
            agent_list=agent_list,
            preopen_ports=[p.number for p in check_spec_ports(spec.ports)] or None,
            origin_kind=req.origin.kind.value,
            origin_ref=req.origin.ref,
            restart_policy=spec.restart.value,
        )
        with inline_writes():  # a row or a few: a short write, on the loop's thread (SQLite)
            async with self._sessions() as db, db.begin():
                if not await repo.scaling_group_exists(db, scaling_group):
                    raise NotFound("scaling group")
                await self._check_agents(db, agent_list or [], scaling_group)
                return await repo.add(db, values, [d.id for d in dependencies])

    async def _dependencies(self, owner: Principal, refs: tuple[str, ...]) -> list[ComputeSession]:
        """The owner's sessions named by ``refs`` (ids, id prefixes or names, dead ones
        included). Raises NotFound naming the first unknown one (another user's session is
        unknown too), InvalidRequest for too many."""
        if len(refs) > MAX_DEPENDENCIES:
            raise InvalidRequest(f"dependencies: at most {MAX_DEPENDENCIES} sessions")
        found: dict[uuid.UUID, ComputeSession] = {}
        for ref in refs:
            if not isinstance(ref, str) or not ref.strip():
                raise InvalidValue("dependencies", "session ids or names expected")
            try:
                session = await self._lookup.resolve_for(owner, ref.strip(), include_dead=True)
            except NotFound as exc:
                raise NotFound("session", f"No such session to depend on: {ref}") from exc
            found[session.id] = session
        return list(found.values())

    async def _check_agents(self, db: DbSession, agent_ids: list[str], scaling_group: str) -> None:
        """Every assigned agent is registered and serves ``scaling_group``."""
        groups = await repo.agent_groups(db, agent_ids) if agent_ids else {}
        for agent_id in agent_ids:
            if agent_id not in groups:
                raise NotFound("agent", ref=agent_id)
            if groups[agent_id] != scaling_group:
                raise InvalidValue(
                    "agents", f"agent {agent_id} is not in scaling group {scaling_group!r}"
                )

    def _validate(self, req: CreateRequest) -> None:
        if req.session_type == SessionType.BATCH and not (req.spec.command or "").strip():
            raise InvalidRequest("Batch sessions need a startup command.")
        if req.starts_at is not None and req.session_type != SessionType.BATCH:
            raise InvalidRequest("starts_at is only for batch sessions.")
        if req.cluster_size != 1:
            raise InvalidValue("cluster_size", "only single-container sessions are supported")
        check_restart_policy(req.spec.restart, req.session_type)

    async def _mounts(self, owner: Principal, spec: SessionSpec) -> list[dict[str, Any]]:
        """The vfolders the session mounts, checked against the owner's access."""
        if self._mount_source is None:
            if spec.mounts:
                raise InvalidRequest("This server has no storage to mount folders from.")
            return []
        names = tuple(mount.folder for mount in spec.mounts)
        paths = {mount.folder: mount.path for mount in spec.mounts if mount.path}
        return await self._mount_source.mounts_for(owner, names, paths)

    async def _wait_started(self, session: ComputeSession, max_wait: float) -> CreateOutcome:
        # Subscribed before the lifecycle is woken, so no settling event is missed and the
        # session, just written as PENDING, is read again only when one came (or every second).
        settling = Matcher(SETTLING_EVENTS, session.id, everywhere=True)  # any server's events
        async with self.bus.subscribe(settling) as queue:
            self._lifecycle.nudge()
            deadline = None if max_wait <= 0 else asyncio.get_running_loop().time() + max_wait
            while True:
                timeout = None if deadline is None else deadline - asyncio.get_running_loop().time()
                if timeout is None or timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(queue.get(), timeout=min(timeout or 1.0, 1.0))
                current = await self._lookup.get(session.id)
                if current.status in SETTLED:
                    return CreateOutcome(current, True, current.status)
                if deadline is not None and deadline <= asyncio.get_running_loop().time():
                    return CreateOutcome(current, True, current.status, timed_out=True)
