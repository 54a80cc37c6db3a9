"""What a queued task's session sees besides its owner's folders: its run directory, the
clearml SDK and the shared wheels, each read-only under /home/work."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hangar.agent.models import HomeFile, MountRequest
from hangar.core.compute.models import ComputeSession, OriginKind
from hangar.core.queues.executor import workspace as ws
from hangar.settings import Settings


class KernelExtras(Protocol):
    """What a kernel gets besides its image (the compute lifecycle's protocol)."""

    async def kernel_extras(
        self, session: ComputeSession
    ) -> tuple[tuple[MountRequest, ...], tuple[HomeFile, ...]]: ...


class TaskMounts:
    """``KernelExtras`` that adds a task run's binds to those of ``inner`` (the storage's)."""

    def __init__(self, inner: KernelExtras, settings: Settings) -> None:
        self._inner = inner
        self._base = settings.data_dir / "executor"
        self._shared = tuple(
            (path.expanduser().resolve(), target)
            for path, target in (
                (settings.executor_sdk_path, ws.SDK_IN_SESSION),
                (settings.executor_wheel_dir, ws.WHEELS_IN_SESSION),
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
        extra = [MountRequest(run.root, ws.IN_SESSION)]
        extra += [MountRequest(Path(path), target) for path, target in self._shared]
        return (*mounts, *extra), files
