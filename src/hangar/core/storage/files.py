"""Files inside folders: listing and changes, and the token flow of transfers.

Uploads are resumable (tus): ``request_upload`` checks permission, path and quota and hands
out a token; each ``append`` adds bytes at the current offset of the staging file; when it
reaches the declared size the file appears at its path in one step. Downloads get a
token bound to one file. Tokens are the only credential of the transfer URLs: random,
stored hashed in the database (so they survive restarts and work on every server
process), valid for ``storage_token_seconds``. :meth:`Files.sweep` forgets expired tokens
and removes the staging files of expired uploads and those no upload owns any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from hangar.core.diskspace import DiskReserve
from hangar.core.errors import InvalidRequest, NotFound, QuotaExceeded
from hangar.core.principal import Principal
from hangar.core.storage import paths, repo
from hangar.core.storage.access import Need
from hangar.core.storage.backends.base import Parts, StorageBackend
from hangar.core.storage.models import FileItem, UploadState, VFolder
from hangar.core.storage.repo import transfers
from hangar.core.storage.service import StorageService
from hangar.util import fdtree

WRITE_BUFFER = 4 << 20
ORPHAN_SECONDS = 3600.0


class ByteStream(Protocol):
    def __aiter__(self) -> AsyncIterator[bytes]: ...


class UploadGone(NotFound):
    """The upload token is unknown, expired or its upload already finished."""

    def __init__(self) -> None:
        super().__init__("upload session", "No such upload session")


class OffsetMismatch(InvalidRequest):
    def __init__(self, offset: int) -> None:
        super().__init__(f"The upload is at offset {offset}.")
        self.offset = offset


class UploadTooLarge(InvalidRequest):
    pass


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    backend: StorageBackend
    vfid: uuid.UUID
    parts: Parts
    size: int

    @property
    def filename(self) -> str:
        return self.parts[-1]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Files:
    def __init__(
        self, storage: StorageService, token_seconds: float, reserve: DiskReserve | None = None
    ) -> None:
        """``reserve``: uploads are refused when they would eat into the data dir's reserve."""
        self._reserve = reserve
        self._storage = storage
        self._sessions = storage._sessions
        self._clock = storage._clock
        self._token_seconds = token_seconds
        self._locks: dict[str, _Held] = {}

    async def _folder(self, caller: Principal, name: str, need: Need) -> VFolder:
        if need is not Need.READ:
            await self._storage.writable()
        return (await self._storage.get(caller, name, need)).folder

    def _backend(self, folder: VFolder) -> StorageBackend:
        return self._storage.hosts.get(folder.host)

    # Operations ---------------------------------------------------------------------------

    async def list_files(self, caller: Principal, name: str, path: str) -> list[FileItem]:
        folder = await self._folder(caller, name, Need.READ)
        return await self._backend(folder).list_files(folder.id, paths.parts_of(path or "."))

    async def mkdir(
        self,
        caller: Principal,
        name: str,
        path: str,
        *,
        parents: bool = True,
        exist_ok: bool = False,
    ) -> None:
        folder = await self._folder(caller, name, Need.WRITE)
        parts = paths.parts_of(path, allow_root=False)
        await self._backend(folder).mkdir(folder.id, parts, parents=parents, exist_ok=exist_ok)

    async def rename_file(
        self, caller: Principal, name: str, target_path: str, new_name: str
    ) -> None:
        folder = await self._folder(caller, name, Need.WRITE)
        src = paths.parts_of(target_path, allow_root=False)
        dst = (*src[:-1], paths.plain_name(new_name))
        if dst != src:
            await self._backend(folder).move(folder.id, src, dst)

    async def move_file(self, caller: Principal, name: str, src: str, dst: str) -> None:
        folder = await self._folder(caller, name, Need.WRITE)
        src_parts = paths.parts_of(src, allow_root=False)
        dst_parts = paths.parts_of(dst, allow_root=False)
        await self._backend(folder).move(folder.id, src_parts, dst_parts)

    async def delete_files(
        self, caller: Principal, name: str, files: list[str], *, recursive: bool
    ) -> None:
        folder = await self._folder(caller, name, Need.WRITE)
        targets = [paths.parts_of(f, allow_root=False) for f in files]
        if not targets:
            raise InvalidRequest("Name at least one file to delete.")
        for parts in targets:
            await self._backend(folder).delete(folder.id, parts, recursive=recursive)

    # Uploads ------------------------------------------------------------------------------

    async def request_upload(self, caller: Principal, name: str, path: str, size: int) -> str:
        """A token for uploading ``size`` bytes to ``path``. Raises InvalidRequest,
        QuotaExceeded, NotFound, Forbidden. An empty file is created at once."""
        folder = await self._folder(caller, name, Need.WRITE)
        parts = paths.parts_of(path, allow_root=False)
        if size < 0:
            raise InvalidRequest("The size must not be negative.")
        if self._reserve is not None:
            self._reserve.check("uploads", incoming=size)
        backend = self._backend(folder)
        async with self._sessions() as db:
            _count, max_size = await repo.policy_limits(db, caller)
        limits = [q for q in (folder.quota_bytes, max_size) if q > 0]
        if limits:
            used = (await backend.usage(folder.id)).used_bytes
            if used >= min(limits):
                raise QuotaExceeded(
                    f"The folder is over its quota ({used} of {min(limits)} bytes used): "
                    "delete files to make room."
                )
            if used + size > min(limits):
                raise QuotaExceeded(
                    f"The upload of {size} bytes exceeds the folder's quota "
                    f"({used} of {min(limits)} bytes used)."
                )
        token = secrets.token_urlsafe(32)
        upload_id = uuid.uuid4()
        now = self._clock.now()
        await asyncio.to_thread(_create_empty, backend.staging_path(upload_id))
        if size == 0:
            await backend.commit_upload(upload_id, folder.id, parts)
            return token
        expires = now + timedelta(seconds=self._token_seconds)
        async with self._sessions() as db, db.begin():
            transfers.add_upload(
                db, upload_id, _hash(token), folder.id, paths.joined(parts), size, now, expires
            )
        return token

    async def upload_state(self, token: str) -> UploadState:
        """Where the upload of ``token`` stands. Raises UploadGone."""
        state, backend = await self._upload(_hash(token))
        offset = await asyncio.to_thread(_size_of, backend.staging_path(state.upload_id))
        return replace(state, offset=offset)

    async def _upload(self, token_hash: str) -> tuple[UploadState, StorageBackend]:
        """The live upload of a token (its offset not read yet: 0) and its host, in one
        query. Raises UploadGone."""
        async with self._sessions() as db:
            state = await transfers.live_upload(db, token_hash, self._clock.now())
        if state is None:
            raise UploadGone()
        return state, self._storage.hosts.get(state.host)

    async def append(
        self, token: str, offset: int, body: ByteStream, length: int | None
    ) -> UploadState:
        """Add the bytes of ``body`` at ``offset``; completes the file at the declared size.

        Bytes received before a broken connection are kept (the next request resumes after
        them). Raises UploadGone, OffsetMismatch, UploadTooLarge.

        One request of an upload at a time (the others wait); each costs one query and one
        thread hop before its bytes are written, as tus clients send many of them.
        """
        key = _hash(token)
        async with self._exclusive(key):
            state, backend = await self._upload(key)
            path = backend.staging_path(state.upload_id)
            fd, current = await asyncio.to_thread(_open_for_append, path)
            try:
                if offset != current:
                    raise OffsetMismatch(current)
                room = state.size - current
                if length is not None and length > room:
                    raise UploadTooLarge(
                        f"The request carries {length} bytes but only {room} remain of the upload."
                    )
                written = await _write(backend, fd, body, room)
            finally:
                os.close(fd)
            state = replace(state, offset=current + written)
            if state.offset == state.size:
                await self._complete(backend, state)
        return state

    @contextlib.asynccontextmanager
    async def _exclusive(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of ``key``; it is forgotten when nobody holds or awaits it."""
        held = self._locks.get(key)
        if held is None:
            held = self._locks[key] = _Held(asyncio.Lock())
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if not held.users:
                del self._locks[key]

    async def _complete(self, backend: StorageBackend, state: UploadState) -> None:
        await backend.commit_upload(
            state.upload_id, state.vfolder_id, paths.parts_of(state.relpath, allow_root=False)
        )
        async with self._sessions() as db, db.begin():
            await transfers.remove_upload(db, state.upload_id)

    # Downloads ----------------------------------------------------------------------------

    async def request_download(self, caller: Principal, name: str, path: str) -> str:
        """A token for downloading the file at ``path``. Raises NotFound, InvalidRequest."""
        folder = await self._folder(caller, name, Need.READ)
        parts = paths.parts_of(path, allow_root=False)
        await self._backend(folder).file_size(folder.id, parts)  # exists and is a file
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires = now + timedelta(seconds=self._token_seconds)
        async with self._sessions() as db, db.begin():
            transfers.add_download(db, _hash(token), folder.id, paths.joined(parts), now, expires)
        return token

    async def download_target(self, token: str) -> DownloadTarget:
        """What the download ``token`` names. Raises NotFound (token or file gone)."""
        async with self._sessions() as db:
            found = await transfers.live_download(db, _hash(token), self._clock.now())
        if found is None:
            raise NotFound("download", "No such download session")
        vfid, relpath, host = found
        backend = self._storage.hosts.get(host)
        parts = paths.parts_of(relpath, allow_root=False)
        return DownloadTarget(backend, vfid, parts, await backend.file_size(vfid, parts))

    # Housekeeping -------------------------------------------------------------------------

    async def sweep(self) -> SweepResult:
        """Forget expired transfer tokens and remove staging files no live upload owns
        (expired uploads, and files older than ORPHAN_SECONDS left by a crash)."""
        now = self._clock.now()
        async with self._sessions() as db, db.begin():
            expired, downloads, live = await transfers.forget_expired(db, now)
        for upload_id, host in expired:
            with contextlib.suppress(InvalidRequest):  # a host removed from the settings
                await self._storage.hosts.get(host).discard_upload(upload_id)
        orphans = 0
        for backend in self._storage.hosts:
            staging = backend.staging_path(uuid.UUID(int=0)).parent
            orphans += await asyncio.to_thread(
                _remove_orphans, staging, live, self._clock.time() - ORPHAN_SECONDS
            )
        return SweepResult(len(expired), downloads, orphans)


@dataclass(slots=True)
class _Held:
    lock: asyncio.Lock
    users: int = 0


@dataclass(frozen=True, slots=True)
class SweepResult:
    uploads: int
    downloads: int
    orphans: int


def _remove_orphans(staging: Path, live: set[uuid.UUID], before: float) -> int:
    """Delete staging files of no live upload last written before ``before`` (epoch)."""
    removed = 0
    try:
        fd = fdtree.open_root(staging)
    except FileNotFoundError:
        return 0
    with fdtree.opened(fd):
        for name in os.listdir(fd):
            try:
                upload_id = uuid.UUID(hex=name)
            except ValueError:
                continue
            with contextlib.suppress(FileNotFoundError):
                if (
                    upload_id in live
                    or os.stat(name, dir_fd=fd, follow_symlinks=False).st_mtime >= before
                ):
                    continue
                os.unlink(name, dir_fd=fd)
                removed += 1
    return removed


def _create_empty(path: os.PathLike[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.close(fd)


def _size_of(path: os.PathLike[str]) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        raise UploadGone() from None


def _open_for_append(path: os.PathLike[str]) -> tuple[int, int]:
    """(fd, size) of the staging file, opened for appending. Raises UploadGone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UploadGone() from None
    return fd, os.fstat(fd).st_size


async def _write(backend: StorageBackend, fd: int, body: ByteStream, room: int) -> int:
    """Append ``body`` to the staging file open at ``fd``; returns the bytes kept (all
    received ones, up to ``room``). Raises UploadTooLarge when the body holds more than
    ``room``.

    Pieces are written as they arrive: they are small (the server's read size) and land in
    the page cache, so a thread hop per piece would cost more than the write itself.
    """
    written = 0
    began = time.perf_counter()
    try:
        async for chunk in body:
            if written + len(chunk) > room:
                _write_all(fd, chunk[: room - written])
                written = room
                raise UploadTooLarge("The upload is larger than the size it declared.")
            if len(chunk) > WRITE_BUFFER:
                await asyncio.to_thread(_write_all, fd, chunk)
            else:
                _write_all(fd, chunk)
            written += len(chunk)
    finally:
        backend.count_write(written, time.perf_counter() - began)
    return written


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]
