"""A storage host that is a directory on this machine.

Layout: ``<root>/vfolders/<id[:2]>/<id hex>`` per folder, ``<root>/.uploads/<upload id>``
for staged uploads (same file system, so completing an upload is one rename).

Every path is walked component by component from an open directory fd with
``O_NOFOLLOW``: a symlink anywhere along a path — including one planted by code running
in a session that mounts the folder — is refused, never followed. Listing and deleting
report and remove links themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import stat
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from hangar.core.errors import InvalidRequest, NotFound, StorageFailed
from hangar.core.storage.backends.base import CopyProgress, Parts
from hangar.core.storage.backends.io import Buffers, PerfCounters
from hangar.core.storage.models import FileItem, FolderUsage, PerfMetric, VolumeInfo
from hangar.util import fdtree

Owner = tuple[int, int] | None
P = ParamSpec("P")
T = TypeVar("T")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_CHUNK = 1 << 20
CAPABILITIES = ("file-ops", "quota", "metric")


def _missing(path: Parts) -> NotFound:
    return NotFound("file", f"No such file or directory: {'/'.join(path) or '.'}")


def _not_followed(path: Parts) -> InvalidRequest:
    return InvalidRequest(
        f"The path goes through a symbolic link, which is not followed: {'/'.join(path)}"
    )


async def _blocking(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``func`` in a thread; an OSError it lets out becomes StorageFailed with the error's
    text alone (its file name could be a host path), not a 500."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except OSError as exc:
        raise StorageFailed(
            f"The storage operation failed: {exc.strerror or 'I/O error'}."
        ) from None


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "SYMLINK"
    if stat.S_ISDIR(mode):
        return "DIRECTORY"
    return "FILE"


class LocalBackend:
    kind = "local"

    def __init__(self, name: str, root: Path, *, owner: Owner = None) -> None:
        self.name = name
        self.root = root
        self.owner = owner
        self._io = PerfCounters()
        (root / "vfolders").mkdir(parents=True, exist_ok=True)
        (root / ".uploads").mkdir(mode=0o700, parents=True, exist_ok=True)

    # Folders -----------------------------------------------------------------------------

    def folder_dir(self, vfid: uuid.UUID) -> Path:
        return self.root / "vfolders" / vfid.hex[:2] / vfid.hex

    def mount_path(self, vfid: uuid.UUID) -> Path | None:
        return self.folder_dir(vfid)

    async def create_folder(self, vfid: uuid.UUID) -> None:
        await _blocking(self._create_folder, vfid)

    def _create_folder(self, vfid: uuid.UUID) -> None:
        path = self.folder_dir(vfid)
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.mkdir(mode=0o755, exist_ok=True)
        self._chown_path(path)

    async def delete_folder(self, vfid: uuid.UUID) -> None:
        try:
            await asyncio.to_thread(fdtree.remove_tree, self.folder_dir(vfid))
        except fdtree.TreeError as exc:
            raise StorageFailed(f"Cannot delete the folder's files: {exc}") from None

    async def clone_folder(
        self, src: uuid.UUID, dst: uuid.UUID, progress: CopyProgress | None = None
    ) -> None:
        await self.create_folder(dst)
        await _blocking(self._clone, src, dst, progress)

    def _clone(self, src: uuid.UUID, dst: uuid.UUID, progress: CopyProgress | None) -> None:
        # Sessions may write to the source while it is copied: see hangar.util.fdtree.
        try:
            fdtree.copy_tree(
                self.folder_dir(src), self.folder_dir(dst), owner=self.owner, progress=progress
            )
        except fdtree.TreeError as exc:
            raise StorageFailed(f"Cannot clone the folder: {exc}") from None

    async def usage(self, vfid: uuid.UUID) -> FolderUsage:
        usage = await asyncio.to_thread(fdtree.measure, self.folder_dir(vfid))
        return FolderUsage(usage.files, usage.bytes)

    async def info(self) -> VolumeInfo:
        total, used, _free = await asyncio.to_thread(shutil.disk_usage, self.root)
        return VolumeInfo(
            name=self.name,
            backend="vfs",
            path=str(self.root),
            fsprefix="vfolders",
            capabilities=CAPABILITIES,
            capacity_bytes=total,
            used_bytes=used,
            hardware_metadata={"backend": "local", "path": str(self.root)},
        )

    async def perf_metric(self) -> PerfMetric:
        return self._io.snapshot()

    async def close(self) -> None:
        return None

    # Safe walking ------------------------------------------------------------------------

    def _open_folder(self, vfid: uuid.UUID) -> int:
        try:
            return os.open(self.folder_dir(vfid), _DIR)
        except FileNotFoundError:
            raise NotFound("folder", "The folder's storage is missing.") from None

    def _walk(self, vfid: uuid.UUID, parts: Parts, *, create: bool = False) -> int:
        """An fd of the directory ``parts`` (below the folder root), links refused."""
        fd = self._open_folder(vfid)
        try:
            for depth, name in enumerate(parts):
                fd = self._child_dir(fd, name, parts[: depth + 1], create)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return fd

    def _child_dir(self, fd: int, name: str, shown: Parts, create: bool) -> int:
        try:
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise _missing(shown) from None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
                    self._chown_at(fd, name)
                child = os.open(name, _DIR, dir_fd=fd)
        except OSError as exc:
            raise self._refusal(fd, name, shown, exc) from None
        finally:
            os.close(fd)
        return child

    def _refusal(self, fd: int, name: str, shown: Parts, exc: OSError) -> Exception:
        try:
            mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
        except OSError:
            return _missing(shown)
        if stat.S_ISLNK(mode) or exc.errno == errno.ELOOP:
            return _not_followed(shown)
        if not stat.S_ISDIR(mode):
            return InvalidRequest(f"Not a directory: {'/'.join(shown)}")
        return StorageFailed(f"Cannot open {'/'.join(shown)}: {exc.strerror}")

    def _chown_at(self, fd: int, name: str) -> None:
        if self.owner is not None:
            os.chown(name, *self.owner, dir_fd=fd, follow_symlinks=False)

    def _chown_path(self, path: Path) -> None:
        if self.owner is not None:
            os.chown(path, *self.owner, follow_symlinks=False)

    # Files -------------------------------------------------------------------------------

    async def list_files(self, vfid: uuid.UUID, path: Parts) -> list[FileItem]:
        return await _blocking(self._list, vfid, path)

    def _list(self, vfid: uuid.UUID, path: Parts) -> list[FileItem]:
        fd = self._walk(vfid, path)
        try:
            items = []
            with os.scandir(fd) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    items.append(
                        FileItem(
                            name=entry.name,
                            kind=_kind(st.st_mode),
                            size=st.st_size,
                            mode=st.st_mode,
                            ctime=st.st_ctime,
                            mtime=st.st_mtime,
                            atime=st.st_atime,
                        )
                    )
            return sorted(items, key=lambda item: item.name)
        finally:
            os.close(fd)

    async def mkdir(self, vfid: uuid.UUID, path: Parts, *, parents: bool, exist_ok: bool) -> None:
        await _blocking(self._mkdir, vfid, path, parents, exist_ok)

    def _mkdir(self, vfid: uuid.UUID, path: Parts, parents: bool, exist_ok: bool) -> None:
        fd = self._walk(vfid, path[:-1], create=parents)
        try:
            os.mkdir(path[-1], 0o755, dir_fd=fd)
            self._chown_at(fd, path[-1])
        except FileExistsError:
            mode = os.stat(path[-1], dir_fd=fd, follow_symlinks=False).st_mode
            if not (exist_ok and stat.S_ISDIR(mode)):
                raise InvalidRequest(f"The path already exists: {'/'.join(path)}") from None
        finally:
            os.close(fd)

    async def move(self, vfid: uuid.UUID, src: Parts, dst: Parts) -> None:
        await _blocking(self._move, vfid, src, dst)

    def _move(self, vfid: uuid.UUID, src: Parts, dst: Parts) -> None:
        if dst[: len(src)] == src:
            raise InvalidRequest("A file or directory cannot be moved onto or into itself.")
        src_fd = self._walk(vfid, src[:-1])
        try:
            dst_fd = self._walk(vfid, dst[:-1])
            try:
                try:
                    os.stat(src[-1], dir_fd=src_fd, follow_symlinks=False)
                except FileNotFoundError:
                    raise _missing(src) from None
                name = dst[-1]
                try:
                    mode: int | None = os.stat(name, dir_fd=dst_fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    mode = None
                if mode is not None and stat.S_ISDIR(mode):
                    into = self._child_dir(os.dup(dst_fd), name, dst, False)
                    os.close(dst_fd)
                    dst_fd, name = into, src[-1]
                try:
                    os.rename(src[-1], name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
                except OSError as exc:
                    raise InvalidRequest(
                        f"Cannot move {'/'.join(src)} to {'/'.join(dst)}: {exc.strerror}"
                    ) from None
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)

    async def delete(self, vfid: uuid.UUID, path: Parts, *, recursive: bool) -> None:
        await _blocking(self._delete, vfid, path, recursive)

    def _delete(self, vfid: uuid.UUID, path: Parts, recursive: bool) -> None:
        fd = self._walk(vfid, path[:-1])
        name = path[-1]
        try:
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                raise _missing(path) from None
            if not stat.S_ISDIR(mode):
                os.unlink(name, dir_fd=fd)
                return
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:
                    raise StorageFailed(f"Cannot delete {'/'.join(path)}: {exc.strerror}") from exc
                if not recursive:
                    raise InvalidRequest(
                        f"The directory is not empty (delete it recursively): {'/'.join(path)}"
                    ) from None
                try:
                    fdtree.remove_at(fd, name, shown="/".join(path))
                except fdtree.TreeError as exc:
                    raise StorageFailed(str(exc)) from None
        finally:
            os.close(fd)

    def _open_file(self, vfid: uuid.UUID, path: Parts) -> tuple[int, int]:
        """(fd, size) of the regular file at ``path``, opened without following links."""
        if not path:
            raise InvalidRequest("The file is not a regular file.")
        parent = self._walk(vfid, path[:-1])
        try:
            fd = os.open(path[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except FileNotFoundError:
            raise _missing(path) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _not_followed(path) from None
            raise StorageFailed(f"Cannot open {'/'.join(path)}: {exc.strerror}") from None
        finally:
            os.close(parent)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise InvalidRequest("The file is not a regular file.")
        return fd, st.st_size

    async def open_local(self, vfid: uuid.UUID, path: Parts) -> tuple[int, int] | None:
        return await _blocking(self._open_file, vfid, path)

    def count_read(self, nbytes: int, seconds: float) -> None:
        self._io.read(nbytes, seconds)

    async def file_size(self, vfid: uuid.UUID, path: Parts) -> int:
        fd, size = await _blocking(self._open_file, vfid, path)
        os.close(fd)
        return size

    async def read(
        self, vfid: uuid.UUID, path: Parts, start: int, end: int
    ) -> AsyncIterator[bytes | memoryview]:
        """The bytes as views of a few reused buffers (see :class:`Buffers`)."""
        fd, _size = await _blocking(self._open_file, vfid, path)
        buffers = Buffers(READ_CHUNK)
        try:
            offset = start
            while offset < end:
                # Page-cache reads of this size take less than a thread hop: read inline.
                began = time.perf_counter()
                chunk = buffers.take()[: min(READ_CHUNK, end - offset)]
                count = os.preadv(fd, [chunk], offset)
                if not count:
                    break
                self._io.read(count, time.perf_counter() - began)
                offset += count
                yield chunk[:count] if count < len(chunk) else chunk
                del chunk  # this view no longer holds the buffer
        finally:
            os.close(fd)

    # Uploads -----------------------------------------------------------------------------

    def staging_path(self, upload_id: uuid.UUID) -> Path:
        return self.root / ".uploads" / upload_id.hex

    async def commit_upload(self, upload_id: uuid.UUID, vfid: uuid.UUID, path: Parts) -> None:
        await _blocking(self._commit, upload_id, vfid, path)

    def _commit(self, upload_id: uuid.UUID, vfid: uuid.UUID, path: Parts) -> None:
        staged = self.staging_path(upload_id)
        with fdtree.opened(os.open(staged, fdtree.FILE_FLAGS)) as staged_fd:
            if self.owner is not None:
                os.fchown(staged_fd, *self.owner)
            os.fchmod(staged_fd, 0o644)
        fd = self._walk(vfid, path[:-1], create=True)
        try:
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.stat(path[-1], dir_fd=fd, follow_symlinks=False).st_mode):
                    raise InvalidRequest(f"A directory exists at {'/'.join(path)}")
            os.rename(staged, path[-1], dst_dir_fd=fd)
        finally:
            os.close(fd)

    async def discard_upload(self, upload_id: uuid.UUID) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.unlink, self.staging_path(upload_id))

    def count_write(self, nbytes: int, seconds: float) -> None:
        self._io.write(nbytes, seconds)
