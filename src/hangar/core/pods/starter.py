"""A pod's initialization command runs each time its session starts (created or resumed):
as a run in the session, followed until it ends (a server it starts keeps the run going);
its output goes to the session's console, which is the pod's log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.agent.models import BatchSteps
from hangar.core.compute.lifecycle import SessionLifecycle
from hangar.core.compute.models import ComputeSession, OriginKind
from hangar.core.compute.service import ComputeService
from hangar.core.compute.states import SessionStatus
from hangar.core.errors import HangarError
from hangar.core.events import Event, EventBus, EventKind, Matcher
from hangar.core.pods import repo
from hangar.db.engine import DbSession

log = logging.getLogger("hangar.core.pods")


class PodStarter:
    def __init__(
        self,
        sessions: async_sessionmaker[DbSession],
        bus: EventBus,
        compute: ComputeService,
        lifecycle: SessionLifecycle,
    ) -> None:
        self._sessions, self._bus = sessions, bus
        self._compute, self._lifecycle = compute, lifecycle
        self._runs: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Follow session starts until cancelled; the runs it began end with it."""
        matcher = Matcher(frozenset({EventKind.SESSION_STARTED}))
        try:
            async with self._bus.subscribe(matcher) as queue:
                await self._restart_running()
                while True:
                    event: Event = await queue.get()
                    try:
                        await self._started(event.subject)
                    except Exception:  # one pod's failure must not stop the others'
                        log.exception("init command of session %s", event.subject)
        finally:
            for task in self._runs.values():
                task.cancel()

    async def _restart_running(self) -> None:
        """Runs die with the server that followed them: a restarted server runs the init
        commands of the pods that are still running again."""
        async with self._sessions() as db:
            records = await repo.started(db)
        for record in records:
            if record.session_id is None or not record.spec.init_command.strip():
                continue
            try:
                session = await self._compute.get(record.session_id)
            except HangarError:
                continue
            if session.status is SessionStatus.RUNNING:
                self._follow_in_background(session, record.spec.init_command)

    async def _started(self, session_id: uuid.UUID) -> None:
        # The pod's small row first: most sessions are no pod, and loading the whole
        # session here ran on the loop just as a plain session's first run starts.
        async with self._sessions() as db:
            record = await repo.by_session(db, session_id)
        if record is None or not record.spec.init_command.strip():
            return
        session = await self._compute.get(session_id)
        if session.origin.kind is not OriginKind.POD:
            return
        self._follow_in_background(session, record.spec.init_command)

    def _follow_in_background(self, session: ComputeSession, command: str) -> None:
        session_id = session.id
        old = self._runs.pop(session_id, None)
        if old is not None:
            old.cancel()
        task = asyncio.create_task(self._follow(session, command))
        self._runs[session_id] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._runs.get(session_id) is done:
                del self._runs[session_id]

        task.add_done_callback(forget)

    async def _follow(self, session: ComputeSession, command: str) -> None:
        steps = BatchSteps(exec=command)
        with contextlib.suppress(HangarError):
            async for _ in self._lifecycle.stream_batch(session, steps):
                pass  # the node writes the output to the session's console
