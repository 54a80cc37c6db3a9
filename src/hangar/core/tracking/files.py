"""The tracking file server's store: artifacts, model weights and debug images by key.

Clients choose the keys (``<project>/<task name>.<task id>/artifacts/<name>/<file>``). Files
live on a storage host, in one folder per domain (company), below the task they belong to:
``tasks/<task id>/<key>``. The task is the key's first component that ends in ``.<task id>``
of a task the caller may read, so reading follows the task's visibility and deleting a task
deletes its files in one step. A key that names no such task is the caller's own, kept under
``users/<user uuid>/<key>``: nobody else reaches it.

Keys are checked like vfolder paths (:mod:`hangar.core.storage.paths`), stricter: any ``..``
component is refused, not resolved, so a key can never move from one task to another.
Uploads grow in the host's staging area and appear at their key only when every file of the
request has arrived (one rename or object write each).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from hangar.core.diskspace import DiskReserve
from hangar.core.errors import Forbidden, HangarError, InvalidRequest, NotFound, QuotaExceeded
from hangar.core.principal import Principal
from hangar.core.storage import paths
from hangar.core.storage.backends.base import Parts, StorageBackend
from hangar.core.tracking.contracts import KEEP_NOTHING, Cleaned, Keep, TaskAccess, TaskRef
from hangar.core.tracking.file_quota import USAGE_TTL, OwnedTasks, UserFileQuota

log = logging.getLogger("hangar.tracking.files")

TASK_COMPONENT = re.compile(r"\.([0-9a-f]{32})$")
FOLDER_NAMESPACE = uuid.UUID("4d0c8f9e-7a35-4c2b-9f61-2f3a5e1c7b80")
MAX_LISTED_KEYS = 10_000  # keys a task deletion reports at most
FILES_PATH = "/files/"  # where the file server's urls hold the key


def key_parts(key: str) -> Parts:
    """The components of a client's key. Raises InvalidRequest for absolute keys, ``..``
    components, NUL bytes, empty keys and over-long names."""
    if not isinstance(key, str) or not key:
        raise InvalidRequest("The file key is empty.")
    if key.startswith("/") or "\\" in key:
        raise InvalidRequest(f"Absolute or malformed file keys are not allowed: {key!r}")
    if ".." in key.split("/"):
        raise InvalidRequest(f"The file key leads outside its place: {key!r}")
    return paths.parts_of(key, allow_root=False)


def key_of_url(url: str) -> str | None:
    """The key of a file server url (``<server>/files/<quoted key>``); None for others."""
    path = urlsplit(url).path
    at = path.find(FILES_PATH)
    return unquote(path[at + len(FILES_PATH) :]) if at >= 0 else None


def task_candidates(parts: Parts) -> list[str]:
    """Ids of the components shaped like ``<name>.<task id>``, in order."""
    return [m.group(1) for m in map(TASK_COMPONENT.search, parts[:-1]) if m]


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a key's bytes are: the host, the domain's folder and the path in it."""

    backend: StorageBackend
    vfid: uuid.UUID
    parts: Parts
    key: str
    task: TaskRef | None

    @property
    def filename(self) -> str:
        return self.parts[-1]

    def charged_to(self, uploader: Principal) -> uuid.UUID:
        """Whose share of the per-user quota the file takes: its task's owner, else the
        uploader's (their own keys)."""
        return uuid.UUID(self.task.owner) if self.task is not None else uploader.user_uuid


@dataclass(frozen=True, slots=True)
class FileInfo:
    file: StoredFile
    size: int


@dataclass(slots=True)
class _Staged:
    file: StoredFile
    upload_id: uuid.UUID
    fd: int
    size: int = 0


@dataclass(slots=True)
class UploadBatch:
    """The files of one upload request: :meth:`add` each, write its bytes, then
    :meth:`commit` (all appear) or :meth:`discard` (none does). Not shared between tasks."""

    store: TrackingFiles
    principal: Principal
    incoming: int = 0  # the request's declared size
    _staged: list[_Staged] = field(default_factory=list)
    _current: _Staged | None = None
    _checked: set[uuid.UUID] = field(default_factory=set)  # owners whose quota was checked

    async def add(self, key: str) -> None:
        """Start the file at ``key``. Raises InvalidRequest, Forbidden, QuotaExceeded (the
        request would bring the owner of the key's task past their quota)."""
        self._close_current()
        target = await self.store.locate(self.principal, key, write=True)
        owner = target.charged_to(self.principal)
        if owner not in self._checked:
            self._checked.add(owner)
            await self.store.admit_user(self.principal, owner, self.incoming, record=False)
        upload_id = uuid.uuid4()
        path = target.backend.staging_path(upload_id)
        fd = await asyncio.to_thread(_create, path)
        self._current = _Staged(target, upload_id, fd)
        self._staged.append(self._current)

    def write(self, data: bytes | memoryview) -> None:
        """Append to the current file (small pieces: they land in the page cache)."""
        if self._current is None:
            raise InvalidRequest("File data arrived before its name.")
        view = memoryview(data)
        while view:
            view = view[os.write(self._current.fd, view) :]
        self._current.size += len(data)

    def _close_current(self) -> None:
        if self._current is not None:
            os.close(self._current.fd)
            self._current = None

    @property
    def keys(self) -> list[str]:
        return [s.file.key for s in self._staged]

    async def commit(self) -> list[str]:
        """Make every file visible at its key; returns the keys. Raises InvalidRequest (a
        directory is in the way), StorageFailed."""
        self._close_current()
        try:
            charges: dict[uuid.UUID, int] = {}
            for staged in self._staged:
                owner = staged.file.charged_to(self.principal)
                charges[owner] = charges.get(owner, 0) + staged.size
            await self.store.admit(self.principal, sum(charges.values()), charges=charges)
            for staged in self._staged:
                file = staged.file
                await self.store.ensure_folder(file.backend, file.vfid)
                await file.backend.commit_upload(staged.upload_id, file.vfid, file.parts)
                file.backend.count_write(staged.size, 0.0)
        finally:
            await self.discard()
        return [s.file.key for s in self._staged]

    async def discard(self) -> None:
        """Forget whatever was staged and not committed. Idempotent."""
        self._close_current()
        for staged in self._staged:
            await staged.file.backend.discard_upload(staged.upload_id)


class TrackingFiles:
    """The file server's operations, authorized by task visibility (see the module text)."""

    def __init__(
        self,
        backend: StorageBackend,
        access: TaskAccess,
        reserve: DiskReserve | None = None,
        quota_bytes: int = 0,
        *,
        user_quota_bytes: int = 0,
        owned: OwnedTasks | None = None,
    ) -> None:
        """``reserve``: uploads are refused when they would eat into the data dir's reserve;
        ``quota_bytes``: or when they would bring a domain's files past it (0: no quota);
        ``user_quota_bytes``: or a user's (:mod:`~hangar.core.tracking.file_quota`)."""
        self.backend = backend
        self._access = access
        self._reserve = reserve
        self._folders: set[uuid.UUID] = set()
        self.quota_bytes = quota_bytes
        self._users = UserFileQuota(backend, self.folder_of, user_quota_bytes, owned)
        self._used: dict[uuid.UUID, tuple[float, int]] = {}  # measured at, bytes

    async def admit(
        self,
        principal: Principal,
        incoming: int,
        *,
        record: bool = True,
        charges: dict[uuid.UUID, int] | None = None,
    ) -> None:
        """Raises QuotaExceeded when ``incoming`` more bytes would bring the principal's
        domain, or a user, past its quota: ``charges`` says whose share takes how many
        (default: all the principal's); ``record``: count them as stored. Usage is
        measured at most every USAGE_TTL seconds and counts the uploads recorded between."""
        charges = {principal.user_uuid: incoming} if charges is None else charges
        for owner, size in charges.items():
            await self._users.admit(principal, owner, size, record=record)
        if not self.quota_bytes:
            return
        vfid = self.folder_of(principal.domain_name)
        now = time.monotonic()
        at, used = self._used.get(vfid, (0.0, 0))
        if now - at > USAGE_TTL:
            await self.ensure_folder(self.backend, vfid)
            at, used = now, (await self.backend.usage(vfid)).used_bytes
        if used + incoming > self.quota_bytes:
            raise QuotaExceeded(
                f"The file server keeps {self.quota_bytes} bytes for domain "
                f"{principal.domain_name}: {used} are in use and this upload adds {incoming}."
            )
        self._used[vfid] = (at, used + incoming if record else used)

    def forget_usage(self, domain_name: str, owners: Collection[str] = ()) -> None:
        """Files of the domain (of these owners' tasks) went: measure again before the
        next upload."""
        self._used.pop(self.folder_of(domain_name), None)
        self._users.forget(owners)

    async def admit_user(
        self, principal: Principal, user: uuid.UUID, incoming: int, *, record: bool
    ) -> None:
        """Raises QuotaExceeded when ``incoming`` more bytes would bring ``user`` past the
        per-user quota."""
        await self._users.admit(principal, user, incoming, record=record)

    def folder_of(self, domain_name: str) -> uuid.UUID:
        return uuid.uuid5(FOLDER_NAMESPACE, f"clearml-files:{domain_name}")

    async def ensure_folder(self, backend: StorageBackend, vfid: uuid.UUID) -> None:
        if vfid not in self._folders:
            await backend.create_folder(vfid)
            self._folders.add(vfid)

    async def locate(self, principal: Principal, key: str, *, write: bool) -> StoredFile:
        """Where ``key`` lives for ``principal``. Raises InvalidRequest (bad key), Forbidden
        (``write`` to a task the principal may only read)."""
        parts = key_parts(key)
        candidates = task_candidates(parts)
        task: TaskRef | None = None
        if candidates:
            readable = await self._access.readable(principal, candidates)
            task = next((readable[c] for c in candidates if c in readable), None)
        if (
            task is not None
            and write
            and task.id not in await self._access.writable(principal, [task.id])
        ):
            raise Forbidden("You may not write files of this task.")
        if task is not None:
            place: Parts = ("tasks", task.id)
            domain = task.domain_name
        else:
            place, domain = ("users", principal.user_uuid.hex), principal.domain_name
        vfid = self.folder_of(domain)
        return StoredFile(self.backend, vfid, (*place, *parts), paths.joined(parts), task)

    async def upload(self, principal: Principal, incoming: int = 0) -> UploadBatch:
        """A batch for an upload of about ``incoming`` bytes. Raises DiskFull,
        QuotaExceeded (its files are counted again when it commits)."""
        if self._reserve is not None:
            self._reserve.check("uploads", incoming=incoming)
        await self.admit(principal, incoming, record=False, charges={})  # users: per key
        return UploadBatch(self, principal, incoming)

    async def info(self, principal: Principal, key: str) -> FileInfo:
        """The file at ``key`` and its size. Raises InvalidRequest, NotFound."""
        file = await self.locate(principal, key, write=False)
        try:
            size = await file.backend.file_size(file.vfid, file.parts)
        except NotFound:
            raise NotFound("file", f"No such file: {file.key}") from None
        return FileInfo(file, size)

    async def open_local(self, file: StoredFile) -> tuple[int, int] | None:
        return await file.backend.open_local(file.vfid, file.parts)

    def read(self, info: FileInfo) -> AsyncIterator[bytes | memoryview]:
        return info.file.backend.read(info.file.vfid, info.file.parts, 0, info.size)

    async def delete(self, principal: Principal, key: str) -> str:
        """Delete the file at ``key``; returns the key. Raises InvalidRequest, Forbidden,
        NotFound."""
        file = await self.locate(principal, key, write=True)
        try:
            await file.backend.file_size(file.vfid, file.parts)  # a file, not a directory
            await file.backend.delete(file.vfid, file.parts, recursive=False)
        except NotFound:
            raise NotFound("file", f"No such file: {file.key}") from None
        owners = [principal.user_uuid.hex, *([file.task.owner] if file.task else [])]
        self.forget_usage(principal.domain_name, owners)
        return file.key

    async def delete_many(
        self, principal: Principal, keys: list[str]
    ) -> tuple[list[str], dict[str, list[str]]]:
        """Delete each key; (deleted keys, keys by the reason they were not)."""
        deleted: list[str] = []
        errors: dict[str, list[str]] = {}
        for key in keys:
            try:
                deleted.append(await self.delete(principal, key))
            except HangarError as exc:
                errors.setdefault(exc.message, []).append(key)
        return deleted, errors

    async def tasks_deleted(self, tasks: Collection[TaskRef], keep: Keep = KEEP_NOTHING) -> Cleaned:
        """Remove the files of deleted (or reset) tasks (KeepingCleanup) but those ``keep``
        names: all with ``keep.files``, else the kept models' weights. A deleted task's kept
        files move to its owner's own keys (same url). Says the keys removed. A failure is
        logged: the task is gone either way and the files are unreachable."""
        keys: list[str] = []
        kept_models = {key for key in map(key_of_url, keep.model_uris) if key}
        for task in tasks:
            vfid = self.folder_of(task.domain_name)
            top: Parts = ("tasks", task.id)
            try:
                found = await self._keys_below(vfid, top)
                kept = set(found) if keep.files else kept_models.intersection(found)
                await self._remove(vfid, task, found, kept, gone=keep.gone)
            except NotFound:
                continue
            except HangarError:
                log.exception("cannot delete the files of task %s", task.id)
                continue
            keys.extend(key for key in found if key not in kept)
            self.forget_usage(task.domain_name, [task.owner])
        return Cleaned(files=tuple(keys))

    async def _remove(
        self, vfid: uuid.UUID, task: TaskRef, found: list[str], kept: set[str], *, gone: bool
    ) -> None:
        top: Parts = ("tasks", task.id)
        if gone:
            owner: Parts = ("users", uuid.UUID(task.owner).hex)
            for key in kept:
                parts = key_parts(key)
                await self.backend.mkdir(vfid, (*owner, *parts[:-1]), parents=True, exist_ok=True)
                await self.backend.move(vfid, (*top, *parts), (*owner, *parts))
            await self.backend.delete(vfid, top, recursive=True)
        elif not kept:
            await self.backend.delete(vfid, top, recursive=True)
        else:
            for key in found:
                if key not in kept:
                    await self.backend.delete(vfid, (*top, *key_parts(key)), recursive=False)

    async def _keys_below(self, vfid: uuid.UUID, top: Parts) -> list[str]:
        """The client keys of the files below ``top`` (a task's folder), walked breadth-first."""
        keys: list[str] = []
        pending: list[Parts] = [top]
        while pending and len(keys) < MAX_LISTED_KEYS:
            folder = pending.pop(0)
            for item in await self.backend.list_files(vfid, folder):
                if item.kind == "DIRECTORY":
                    pending.append((*folder, item.name))
                elif item.kind == "FILE":
                    keys.append("/".join((*folder, item.name)[len(top) :]))
        return keys


def _create(path: os.PathLike[str]) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
