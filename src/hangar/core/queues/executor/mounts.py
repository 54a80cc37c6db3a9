"""What a queued task's session sees besides its owner's folders: its run directory, the
clearml SDK and the shared wheels, each read-only under /home/work.

On a remote agent the run directory is the copy shipped to that agent just before its kernel
starts (the agent relays the run's API socket to the manager); the SDK and the wheels are
expected at the same paths on the agent's machine.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Protocol

from hangar.agent.models import HomeFile, MountRequest
from hangar.core.compute.models import ComputeSession, OriginKind
from hangar.core.errors import Unavailable
from hangar.core.queues.executor import workspace as ws
from hangar.settings import Settings


class KernelExtras(Protocol):
    """What a kernel gets besides its image (the compute lifecycle's protocol)."""

    async def kernel_extras(
        self, session: ComputeSession
    ) -> tuple[tuple[MountRequest, ...], tuple[HomeFile, ...]]: ...


class RemoteRuns(Protocol):
    """Remote agents as the executor needs them (the manager's links to them)."""

    def is_remote(self, agent_id: str) -> bool: ...

    async def ship_run(
        self, agent_id: str, key: str, kernel_id: uuid.UUID, archive: bytes
    ) -> Path: ...


class TaskMounts:
    """``KernelExtras`` that adds a task run's binds to those of ``inner`` (the storage's)."""

    def __init__(
        self, inner: KernelExtras, settings: Settings, remote: RemoteRuns | None = None
    ) -> None:
        """``remote``: ships run directories to remote agents (None: runs stay local)."""
        self._inner, self._remote = inner, remote
        self._base = settings.data_dir / "executor"
        self._shared = tuple(
            (path.expanduser().resolve(), target)
            for path, target in (
                (settings.executor.sdk_path, ws.SDK_IN_SESSION),
                (settings.executor.wheel_dir, ws.WHEELS_IN_SESSION),
            )
            if path is not None
        )

    async def kernel_extras(
        self, session: ComputeSession
    ) -> tuple[tuple[MountRequest, ...], tuple[HomeFile, ...]]:
        mounts, files = await self._inner.kernel_extras(session)
        task_id = session.origin.ref
        if session.origin.kind is not OriginKind.EXPERIMENT_TASK or not task_id:
            return mounts, files
        run = ws.run_files(self._base, task_id)
        extra = [MountRequest(await self._run_root(session, run), ws.IN_SESSION)]
        extra += [MountRequest(Path(path), target) for path, target in self._shared]
        return (*mounts, *extra), files

    async def _run_root(self, session: ComputeSession, run: ws.RunFiles) -> Path:
        """The run directory as the session's agent sees it: shipped to a remote agent."""
        agent = session.agent_id
        if self._remote is None or agent is None or not self._remote.is_remote(agent):
            return run.root
        if not run.root.is_dir():  # another server process on the database took the task
            raise Unavailable(
                "The run's files are with the server process that took the task from its "
                f"queue, and agent {agent} reports to this one: have all agents of the "
                "queue's scaling group report to one server process."
            )
        archive = await asyncio.to_thread(ws.archive, run)
        return await self._remote.ship_run(agent, run.root.name, session.id, archive)
