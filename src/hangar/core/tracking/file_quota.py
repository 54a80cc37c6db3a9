"""The file server's per-user quota: what a user keeps is the files of the tasks they own,
whoever uploaded them, and their own keys (``users/<user uuid>/``). Usage is measured on the
storage host at most every USAGE_TTL seconds and counts the uploads recorded between."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Collection
from typing import Protocol

from hangar.core.errors import InvalidRequest, NotFound, QuotaExceeded
from hangar.core.principal import Principal
from hangar.core.storage.backends.base import Parts, StorageBackend
from hangar.core.tracking.contracts import TaskRef

USAGE_TTL = 10.0  # seconds a measured usage is trusted (uploads added)


class OwnedTasks(Protocol):
    async def owned_by(self, user_uuid: uuid.UUID) -> list[TaskRef]: ...


class UserFileQuota:
    def __init__(
        self,
        backend: StorageBackend,
        folder_of: Callable[[str], uuid.UUID],
        quota_bytes: int,
        owned: OwnedTasks | None,
    ) -> None:
        """``quota_bytes``: what each user keeps (0, or no ``owned``: no quota)."""
        self._backend = backend
        self._folder_of = folder_of
        self.quota_bytes = quota_bytes if owned is not None else 0
        self._owned = owned
        self._used: dict[uuid.UUID, tuple[float, int]] = {}  # by user: measured at, bytes

    async def admit(
        self, principal: Principal, user: uuid.UUID, incoming: int, *, record: bool
    ) -> None:
        """Raises QuotaExceeded when ``incoming`` more bytes that ``principal`` uploads
        would bring ``user`` (the owner of the tasks they go into) past the quota;
        ``record``: count them as stored."""
        if not self.quota_bytes:
            return
        now = time.monotonic()
        at, used = self._used.get(user, (0.0, 0))
        if now - at > USAGE_TTL:
            at, used = now, await self._usage(user, principal.domain_name)
        if used + incoming > self.quota_bytes:
            whose = "yours take" if user == principal.user_uuid else "the task owner's take"
            raise QuotaExceeded(
                f"The file server keeps {self.quota_bytes} bytes per user: {whose} "
                f"{used} and this upload adds {incoming}."
            )
        self._used[user] = (at, used + incoming if record else used)

    def forget(self, owners: Collection[str]) -> None:
        """Files of these users went: measure again before their next upload."""
        for owner in owners:
            with contextlib.suppress(ValueError):
                self._used.pop(uuid.UUID(owner), None)

    async def _usage(self, user: uuid.UUID, domain_name: str) -> int:
        """Bytes of the files of the user's tasks in the domain and of their own keys."""
        assert self._owned is not None
        vfid = self._folder_of(domain_name)
        tasks = await self._owned.owned_by(user)
        places: list[Parts] = [("users", user.hex)]
        places += [("tasks", task.id) for task in tasks if task.domain_name == domain_name]
        return sum([await self._tree_size(vfid, place) for place in places])

    async def _tree_size(self, vfid: uuid.UUID, place: Parts) -> int:
        try:
            entries = await self._backend.list_files(vfid, place)
        except (NotFound, InvalidRequest):
            return 0
        total = 0
        for entry in entries:
            if entry.kind == "DIRECTORY":
                total += await self._tree_size(vfid, (*place, entry.name))
            elif entry.kind == "FILE":
                total += entry.size
        return total
