"""A worker's session: started as the endpoint's owner (origin kind endpoint worker, named
``ep<endpoint>-w<worker>``), its init command (else its image's own command) followed with
the output kept as the worker's log, its port health-checked, and removed."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import BatchSteps
from hangar.core.agents.service import AgentService
from hangar.core.clock import Clock
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.models import ComputeSession, CreateRequest, Origin, OriginKind
from hangar.core.compute.ports import FIRST_SPEC_PORT, RESERVED_PORTS, PortProtocol
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import SessionType
from hangar.core.endpoints import repo
from hangar.core.endpoints.httpwire import exchange
from hangar.core.endpoints.logbuffer import MAX_LINES_KEPT, LogBuffer
from hangar.core.endpoints.models import EndpointSpec, LogEntry, Placement, Worker
from hangar.core.endpoints.owners import owner_from_json
from hangar.core.endpoints.placement import choose_placement
from hangar.core.endpoints.repo import EndpointRecord
from hangar.core.endpoints.signals import Signals
from hangar.core.errors import HangarError
from hangar.core.images.service import ImageService
from hangar.core.pods.models import PodPort, PodSpec, ResourceKind
from hangar.core.pods.service import session_spec
from hangar.core.resources.accelerators import Accelerators
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.endpoints")
PROBE_SECONDS = 3.0
TRIM_EVERY = 1000


def worker_session_name(endpoint_id: int, worker_id: int) -> str:
    return f"ep{endpoint_id}-w{worker_id}"


def pod_spec(spec: EndpointSpec, placement: Placement) -> PodSpec:
    """The session a worker runs, in the pods' terms (the same kind of container)."""
    gpu = placement.device is not None and placement.gpu_count > 0
    port = spec.port or 0
    listed = port >= FIRST_SPEC_PORT and port not in RESERVED_PORTS  # others are reached too
    ports = (PodPort(port, spec.protocol),) if listed else ()
    return PodSpec(
        image=spec.image, image_registry=spec.image_registry,
        registry_auth_id=spec.registry_auth_id,
        resource=ResourceKind.GPU if gpu else ResourceKind.CPU, gpu_type=placement.gpu_type,
        gpu_count=placement.gpu_count if gpu else 0,
        device_model=placement.device.model if gpu and placement.device else "",
        cpu=spec.cpu, memory_gb=spec.memory_gb, disk_gb=spec.disk_gb, env=spec.env,
        ports=ports,
    )  # fmt: skip


class WorkerRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        clock: Clock,
        *,
        compute: ComputeService,
        lifecycle: SessionLifecycle,
        agents: AgentService,
        accelerators: Accelerators,
        images: ImageService,
        signals: Signals,
    ) -> None:
        self._sessions, self._clock, self._images = sessions, clock, images
        self._signals = signals
        self._compute, self._lifecycle, self._agents = compute, lifecycle, agents
        self._accelerators = accelerators
        self._runs: dict[int, asyncio.Task[None]] = {}
        self._followed: set[int] = set()  # workers whose init command this process ran
        self.exited: dict[int, str] = {}  # worker id -> why its init command failed
        self._written: dict[int, int] = {}  # lines written since the last trim

    async def start(self, ep: EndpointRecord) -> tuple[Worker, str | None]:
        """A new worker of the endpoint's current generation and its session (queued for
        the scheduler); the reason when the session could not be created."""
        placement = choose_placement(await self._accelerators.groups(), ep.spec.placements)
        async with self._sessions() as db, db.begin():
            worker = await repo.add_worker(
                db, endpoint_id=ep.id, generation=ep.generation,
                scaling_group=placement.scaling_group, gpu_type=placement.gpu_type,
                gpu_count=placement.gpu_count, now=self._clock.now(),
            )  # fmt: skip
        owner = owner_from_json(ep.owner)
        request = CreateRequest(
            name=worker_session_name(ep.id, worker.id),
            spec=session_spec(pod_spec(ep.spec, placement)),
            origin=Origin(OriginKind.ENDPOINT_WORKER, str(ep.id)),
            session_type=SessionType.INTERACTIVE, domain_name=owner.domain_name,
            scaling_group=placement.scaling_group, enqueue_only=True, reuse_if_exists=False,
        )  # fmt: skip
        try:
            session = (await self._compute.create(owner, request)).session
        except HangarError as exc:
            return worker, f"could not be created: {exc.message}"
        async with self._sessions() as db, db.begin():
            await repo.set_worker(db, worker.id, session_id=session.id)
        return worker, None

    async def lost_session(self, ep: EndpointRecord, worker_id: int) -> ComputeSession | None:
        """The live session of a worker whose row never got its id (the server stopped
        between creating the session and writing it down), bound to the worker now; None
        when there is none (it would otherwise run on, owned by no worker)."""
        name = worker_session_name(ep.id, worker_id)
        try:
            session = await self._compute.resolve(owner_from_json(ep.owner), name)
        except HangarError:
            return None
        if session.name != name or session.origin != Origin(OriginKind.ENDPOINT_WORKER, str(ep.id)):
            return None  # a name prefix matched, or a session the user named so
        async with self._sessions() as db, db.begin():
            await repo.set_worker(db, worker_id, session_id=session.id)
        log.warning("worker %s: found its session %s again", worker_id, session.id)
        return session

    def follow(self, worker: Worker, session: ComputeSession, command: str, offset: int) -> None:
        """Run the init command (none: the image's own Entrypoint + Cmd) in the worker's
        running session once (per server process), keeping its output as the worker's log."""
        if worker.id in self._followed:
            return
        self._followed.add(worker.id)
        task = asyncio.create_task(self._follow(worker.id, session, command, offset))
        self._runs[worker.id] = task
        task.add_done_callback(lambda done: self._runs.pop(worker.id, None))

    async def _write(self, worker_id: int, entries: list[LogEntry], offset: int) -> None:
        if not entries:
            return
        async with self._sessions() as db, db.begin():
            await repo.append_log(db, worker_id, entries, offset)
        self._written[worker_id] = self._written.get(worker_id, 0) + len(entries)
        if self._written[worker_id] >= TRIM_EVERY:  # keep the newest lines only
            self._written[worker_id] = 0
            async with self._sessions() as db, db.begin():
                await repo.trim_log(db, worker_id, MAX_LINES_KEPT)

    async def _follow(
        self, worker_id: int, session: ComputeSession, command: str, offset: int
    ) -> None:
        buffer, code, error = LogBuffer(offset), None, None
        command = command.strip() or await self._image_command(session)
        if not command:
            return
        try:
            async for out in self._lifecycle.stream_batch(session, BatchSteps(exec=command)):
                if out.kind in ("stdout", "stderr"):
                    await self._write(
                        worker_id, buffer.feed(out.text, self._clock.now()), buffer.offset
                    )
                elif out.kind == "finished":
                    code = out.exit_code
        except HangarError as exc:
            error = exc.message
        except Exception as exc:  # the worker's log must not take the loop down
            log.exception("worker %s: following its init command", worker_id)
            error = repr(exc)
        now = self._clock.now()
        tail = buffer.flush(now)
        if code not in (0, None) or error:
            why = f"exited with code {code}" if error is None else f"ended: {error}"
            self.exited[worker_id] = f"its initialization command {why}"
            tail.append(buffer.note(f"the initialization command {why}", now))
            self._signals.suspect(worker_id)  # the loop replaces it now, not at its next tick
        with contextlib.suppress(HangarError):
            await self._write(worker_id, tail, buffer.offset)

    async def _image_command(self, session: ComputeSession) -> str:
        try:
            return (await self._images.get(session.image_id)).provider.command or ""
        except HangarError:
            return ""

    async def probe(self, session: ComputeSession, spec: EndpointSpec) -> bool:
        """Whether the worker's exposed port answers: HTTP (a 2xx on the health path when
        one is set), or for a ``tcp`` port a connection it accepts."""
        port = spec.port
        if session.agent_id is None or port is None:
            return port is None
        try:
            stream = await self._agents.client(session.agent_id).open_app(session.id, str(port))
            if spec.protocol is not PortProtocol.HTTP:
                await stream.close()
                return True
            answer = await exchange(stream, "GET", spec.health_path or "/", port=port,
                                    seconds=PROBE_SECONDS)  # fmt: skip
        except (HangarError, OSError, TimeoutError):
            return False
        return 200 <= answer.status < 300 if spec.health_path else True

    async def stop(self, worker_id: int, session: ComputeSession | None, reason: str) -> None:
        """End the worker's init run and its session (idempotent)."""
        task = self._runs.pop(worker_id, None)
        if task is not None:
            task.cancel()
        self.exited.pop(worker_id, None)
        if session is not None:
            with contextlib.suppress(HangarError):
                await self._lifecycle.terminate(session, reason=reason)

    def touch(self, session: ComputeSession) -> None:
        """A worker is never idle in the sessions' sense: it waits for requests."""
        self._lifecycle.touch(session.id)

    async def close(self) -> None:
        for task in list(self._runs.values()):
            task.cancel()
        self._runs.clear()
