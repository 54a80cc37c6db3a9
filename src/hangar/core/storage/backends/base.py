"""What a storage host does, whatever keeps the bytes.

Folders are addressed by id; paths are tuples of plain components already checked by
:mod:`hangar.core.storage.paths`. Backends raise InvalidRequest / NotFound (kind "file")
for bad or missing paths and OperationFailed for storage faults. Uploads grow in a
staging area and become visible at their path only when complete (one rename or one
object write), so a partial upload is never seen as a file.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

from hangar.core.storage.models import FileItem, FolderUsage, PerfMetric, VolumeInfo

Parts = tuple[str, ...]
CopyProgress = Callable[[int], None]


class StorageBackend(Protocol):
    name: str
    kind: str

    async def info(self) -> VolumeInfo: ...

    async def perf_metric(self) -> PerfMetric: ...

    async def create_folder(self, vfid: uuid.UUID) -> None:
        """Create the folder's root. Idempotent."""

    async def delete_folder(self, vfid: uuid.UUID) -> None:
        """Delete the folder and everything in it. Idempotent."""

    async def clone_folder(
        self, src: uuid.UUID, dst: uuid.UUID, progress: CopyProgress | None = None
    ) -> None:
        """Copy every file of ``src`` into the new folder ``dst`` (symlinks are skipped),
        calling ``progress`` (possibly from a worker thread) with the bytes copied so far."""

    async def usage(self, vfid: uuid.UUID) -> FolderUsage: ...

    async def list_files(self, vfid: uuid.UUID, path: Parts) -> list[FileItem]:
        """Entries of the directory ``path``; raises NotFound("file") if it is not one."""
        ...

    async def mkdir(self, vfid: uuid.UUID, path: Parts, *, parents: bool, exist_ok: bool) -> None:
        """Create a directory. Raises AlreadyExists-like InvalidRequest, NotFound."""

    async def move(self, vfid: uuid.UUID, src: Parts, dst: Parts) -> None:
        """Rename ``src`` to ``dst``; into ``dst`` when it is an existing directory."""

    async def delete(self, vfid: uuid.UUID, path: Parts, *, recursive: bool) -> None:
        """Delete a file, a link or a directory (non-empty ones need ``recursive``)."""

    async def file_size(self, vfid: uuid.UUID, path: Parts) -> int:
        """Size of the regular file at ``path``. Raises NotFound, InvalidRequest (not a file)."""
        ...

    def read(
        self, vfid: uuid.UUID, path: Parts, start: int, end: int
    ) -> AsyncIterator[bytes | memoryview]:
        """Bytes ``start`` to ``end`` (exclusive) of the file at ``path``. A chunk may be a
        view of a buffer the backend reuses once no view of it is left: hold it, or copy
        it, but do not keep a pointer into it some other way."""
        ...

    async def open_local(self, vfid: uuid.UUID, path: Parts) -> tuple[int, int] | None:
        """(descriptor, size) of the regular file at ``path`` when it is a local file a
        server may send with ``sendfile(2)`` (the caller closes it); None for stores without
        local files. Raises NotFound, InvalidRequest (not a file)."""
        ...

    def count_read(self, nbytes: int, seconds: float) -> None:
        """Account a download sent without :meth:`read` in the host's performance counters."""

    def staging_path(self, upload_id: uuid.UUID) -> Path:
        """Where an upload's bytes grow (a local file, private to the server)."""
        ...

    async def commit_upload(self, upload_id: uuid.UUID, vfid: uuid.UUID, path: Parts) -> None:
        """Make the staged file visible at ``path`` (replacing a file there), atomically."""

    async def discard_upload(self, upload_id: uuid.UUID) -> None:
        """Forget a staged upload. Idempotent."""

    def count_write(self, nbytes: int, seconds: float) -> None:
        """Account an upload write in the host's performance counters."""

    def mount_path(self, vfid: uuid.UUID) -> Path | None:
        """The folder's directory on this machine for bind mounts; None if it has none."""
        ...

    async def close(self) -> None: ...
