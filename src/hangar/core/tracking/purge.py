"""A purged user's files on the tracking file server.

Purging a user deletes their tasks' rows (the tables cascade) but the files live on a
storage host: identity asks this part before the purge (:meth:`UserFilesPurge.user_purging`)
and gets back what to run once the purge has committed, which removes the files of the
tasks the user owned (``tasks/<task id>``) and the user's own keys (``users/<user uuid>``).
A purge that fails leaves every file in place.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from hangar.core.errors import HangarError, NotFound
from hangar.core.tracking.contracts import TaskRef
from hangar.core.tracking.file_quota import OwnedTasks
from hangar.core.tracking.files import TrackingFiles

log = logging.getLogger("hangar.tracking.purge")


class UserFilesPurge:
    """Implements identity's ``UserPurgeHook`` for the tracking file server."""

    def __init__(self, files: TrackingFiles, tasks: OwnedTasks) -> None:
        self._files = files
        self._tasks = tasks

    async def user_purging(
        self, user_uuid: uuid.UUID, domain_name: str
    ) -> Callable[[], Awaitable[None]]:
        """Note the user's tasks now (their rows go with the purge); the returned callable
        removes their files and the user's own, to be awaited after the purge commits."""
        tasks = await self._tasks.owned_by(user_uuid)

        async def purged() -> None:
            await self._remove(user_uuid, domain_name, tasks)

        return purged

    async def _remove(
        self, user_uuid: uuid.UUID, domain_name: str, tasks: Sequence[TaskRef]
    ) -> None:
        await self._files.tasks_deleted(tasks)  # logs its own failures
        files = self._files
        try:
            vfid = files.folder_of(domain_name)
            await files.backend.delete(vfid, ("users", user_uuid.hex), recursive=True)
        except NotFound:
            return
        except HangarError:
            log.exception("cannot delete the files of purged user %s", user_uuid)
        files.forget_usage(domain_name)
