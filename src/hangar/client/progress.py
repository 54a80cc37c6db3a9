"""Progress bars for transfers (drawn on stderr with rich, only when asked for)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class Advance(Protocol):
    def __call__(self, n: int) -> None: ...


@contextmanager
def transfer_bar(description: str, total: int | None, *, show: bool) -> Iterator[Advance]:
    """Yield a function that advances a bytes progress bar (a no-op when ``show`` is false)."""
    if not show:
        yield lambda n: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            progress.update(task, advance=n)

        yield advance


class ReportingReader:
    """A binary file wrapper that reports how many bytes were read."""

    def __init__(self, fileobj: Any, report: Advance) -> None:
        self._f = fileobj
        self._report = report

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._f.read(n)
        self._report(len(data))
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(65536):
            yield chunk

    def fileno(self) -> int:
        fd: int = self._f.fileno()
        return fd

    def seek(self, offset: int, whence: int = 0) -> int:
        pos: int = self._f.seek(offset, whence)
        return pos

    def tell(self) -> int:
        pos: int = self._f.tell()
        return pos

    def close(self) -> None:
        self._f.close()
