"""Files in a kernel's /home/work, reached from the host through its scratch dir.

Sandboxed code owns that directory and may plant symlinks, FIFOs or swap directories at any
time, while the node works as root. So: a path is first normalised lexically (absolute only
under /home/work, no ``..`` past it), then its symlinks are followed *as the sandbox sees
them* (an absolute target is a sandbox path; anything leading out is refused), and finally
the symlink-free result is opened one component at a time from the scratch dir with
``O_NOFOLLOW``, so a swap after the check fails instead of escaping. Regular files are opened
with ``O_NONBLOCK`` and checked with ``fstat`` (a FIFO cannot stall the node).
All functions are blocking; call them in a thread.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from hangar.agent.models import FileEntry
from hangar.agent.node_errors import (
    FileAccessFailed,
    FileMissing,
    FileTooLarge,
    IsADirectory,
    NotADirectory,
    PathEscapes,
)
from hangar.agent.runtimes.base import HOME
from hangar.util import fdtree

ESCAPES = f"Path escapes {HOME}"
MISSING = "No such file or directory."
MISSING_DOWNLOAD = "The file is not found."  # the Backend.AI wording for downloads
OUTPUT_DIR = ".output"
_MAX_LINKS = 40
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
Owner = tuple[int, int] | None


def _push(stack: list[str], name: str) -> None:
    if name == "..":
        if not stack:
            raise PathEscapes(ESCAPES)
        stack.pop()
    elif name not in ("", "."):
        stack.append(name)


def parse_path(path: str) -> tuple[str, ...]:
    """Path components relative to /home/work of ``path`` (relative to it, or absolute
    inside it). Raises PathEscapes for anything that leads out of it lexically."""
    if "\0" in path:
        raise PathEscapes(ESCAPES)
    stack: list[str] = []
    for name in path.split("/"):
        _push(stack, name)
    if not path.startswith("/"):
        return tuple(stack)
    home = HOME.strip("/").split("/")
    if stack[: len(home)] != home:
        raise PathEscapes(ESCAPES)
    return tuple(stack[len(home) :])


def resolve(scratch: Path, parts: Sequence[str]) -> tuple[str, ...]:
    """Follow the symlinks along ``parts`` as the sandbox would; returns symlink-free parts.

    Missing components are kept as they are. Raises PathEscapes when a link leads outside
    /home/work, FileAccessFailed for a symlink loop.
    """
    done: list[str] = []
    pending = list(parts)
    links = 0
    while pending:
        name = pending.pop(0)
        if name in ("..", ".", ""):
            _push(done, name)
            continue
        try:
            target = os.readlink(scratch.joinpath(*done, name))
        except OSError:  # not a link, or missing: kept as it is
            done.append(name)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise FileAccessFailed("Too many levels of symbolic links.")
        if target.startswith("/"):
            done, pending = [], [*parse_path(target), *pending]
        else:
            pending = [*target.split("/"), *pending]
    return tuple(done)


def _refusal(dir_fd: int, name: str) -> Exception:
    """Why ``name`` could not be opened as a directory without following links."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return FileMissing(MISSING)
    except OSError as exc:
        return FileAccessFailed(f"{exc.strerror}.")
    return PathEscapes(ESCAPES) if stat.S_ISLNK(mode) else NotADirectory("Not a directory.")


def _open_child_dir(dir_fd: int, name: str, create: bool, owner: Owner) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise FileMissing(MISSING) from None
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise _refusal(dir_fd, name) from None
        raise FileAccessFailed(f"{exc.strerror}.") from None
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=dir_fd)
    fd = _open_child_dir(dir_fd, name, False, owner)
    if owner is not None:
        os.fchown(fd, *owner)
    return fd


def open_dir(
    scratch: Path, parts: Sequence[str], *, create: bool = False, owner: Owner = None
) -> int:
    """Open the directory ``parts`` below ``scratch`` without following any link; returns an
    fd the caller closes. ``create`` makes missing directories (owned by ``owner``)."""
    fd = os.open(scratch, _DIR_FLAGS)
    try:
        for name in parts:
            child = _open_child_dir(fd, name, create, owner)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _opened(fd: int) -> Iterator[int]:
    try:
        yield fd
    finally:
        os.close(fd)


def _open_file(dir_fd: int, name: str, flags: int, mode: int = 0o644) -> int:
    try:
        fd = os.open(name, flags, mode, dir_fd=dir_fd)
    except FileNotFoundError:
        raise FileMissing(MISSING) from None
    except IsADirectoryError:
        raise IsADirectory("Is a directory.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PathEscapes(ESCAPES) from None
        if exc.errno == errno.ENXIO:  # a FIFO without a reader, opened for writing
            raise FileAccessFailed("Not a regular file.") from None
        raise FileAccessFailed(f"{exc.strerror}.") from None
    return fd


def write_file(
    scratch: Path,
    path: str,
    data: bytes,
    *,
    owner: Owner,
    max_bytes: int,
    mode: int | None = None,
) -> None:
    """Write ``data`` at ``path`` (parents created, an existing file overwritten), owned by
    ``owner`` when given, with permission bits ``mode`` when given. Raises FileError
    subclasses (PathEscapes, FileTooLarge, ...)."""
    if len(data) > max_bytes:
        raise FileTooLarge("Too large file")
    parts = resolve(scratch, parse_path(path))
    if not parts:
        raise IsADirectory("Is a directory.")
    with _opened(open_dir(scratch, parts[:-1], create=True, owner=owner)) as dir_fd:
        fd = _open_file(dir_fd, parts[-1], _WRITE_FLAGS)
        with open(fd, "wb", closefd=True) as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FileAccessFailed("Not a regular file.")
            os.set_blocking(fd, True)
            stream.truncate(0)
            if owner is not None:
                os.fchown(fd, *owner)
            if mode is not None:
                os.fchmod(fd, mode)
            stream.write(data)


def _tar_info(name: str, st: os.stat_result, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.size = st.st_size if kind == tarfile.REGTYPE else 0
    return info


class _Archive:
    """A tar archive in memory, refusing regular-file content past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.TarFile(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)
        self.left = max_bytes

    def add_file(self, name: str, fd: int) -> None:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return  # FIFOs, sockets: not archived
        self.left -= st.st_size
        if self.left < 0:
            raise FileTooLarge("Too large file")
        os.set_blocking(fd, True)
        with open(fd, "rb", closefd=False) as stream:
            self.tar.addfile(_tar_info(name, st, tarfile.REGTYPE), stream)

    def add_entry(self, dir_fd: int, name: str, arcname: str) -> None:
        """Add ``name`` in ``dir_fd``: a file, a symlink (as a link) or nothing."""
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            link = os.readlink(name, dir_fd=dir_fd)
            self.tar.addfile(_tar_info(arcname, st, tarfile.SYMTYPE, link))
        elif stat.S_ISREG(st.st_mode):
            with _opened(_open_file(dir_fd, name, _READ_FLAGS)) as fd:
                self.add_file(arcname, fd)

    def add_tree(self, dir_fd: int, top: str, arcname: str) -> None:
        """Add the directory ``top`` in ``dir_fd`` recursively; links are archived as links
        and never followed, even when sandboxed code swaps a directory for one meanwhile."""
        for rel, fd, _dirnames, others in fdtree.walk(dir_fd, top):
            base = arcname if rel == "." else f"{arcname}/{rel}"
            self.tar.addfile(_tar_info(base, os.fstat(fd), tarfile.DIRTYPE))
            for name, _st in others:
                self.add_entry(fd, name, f"{base}/{name}")

    def close(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()


def archive(scratch: Path, path: str, *, max_bytes: int) -> bytes:
    """An uncompressed tar holding ``path`` under its basename (a directory recursively,
    like ``docker cp``). Raises FileMissing, PathEscapes, FileTooLarge, FileAccessFailed."""
    lexical = parse_path(path)
    basename = lexical[-1] if lexical else HOME.rsplit("/", 1)[-1]
    try:
        parts = resolve(scratch, lexical)
        dir_fd = open_dir(scratch, parts[:-1])
    except FileMissing:
        raise FileMissing(MISSING_DOWNLOAD) from None
    result = _Archive(max_bytes)
    with _opened(dir_fd):
        name = parts[-1] if parts else "."
        try:
            fd = _open_file(dir_fd, name, _READ_FLAGS)
        except FileMissing:
            raise FileMissing(MISSING_DOWNLOAD) from None
        with _opened(fd):
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                result.add_tree(dir_fd, name, basename)
            elif stat.S_ISREG(mode):
                result.add_file(basename, fd)
            else:
                raise FileAccessFailed("Not a regular file.")
    return result.close()


def sandbox_path(parts: Sequence[str]) -> str:
    """The absolute path inside the sandbox of ``parts``."""
    return "/".join([HOME, *parts])


def list_dir(scratch: Path, path: str) -> tuple[str, list[FileEntry]]:
    """(absolute sandbox path, entries sorted by name) of the directory ``path``; not
    recursive. Raises FileMissing, NotADirectory, PathEscapes."""
    lexical = parse_path(path)
    parts = resolve(scratch, lexical)
    entries: list[FileEntry] = []
    with _opened(open_dir(scratch, parts)) as fd, os.scandir(fd) as scan:
        for entry in scan:
            st = entry.stat(follow_symlinks=False)
            mode = stat.filemode(st.st_mode)
            entries.append(
                FileEntry(entry.name, st.st_size, mode, st.st_ctime, st.st_mtime, st.st_atime)
            )
    entries.sort(key=lambda e: e.filename)
    return sandbox_path(lexical), entries


def output_names(scratch: Path) -> list[str]:
    """Regular files under /home/work/.output, relative to it, sorted; [] when the
    directory is missing, not a directory or leads outside /home/work."""
    try:
        parts = resolve(scratch, (OUTPUT_DIR,))
        fd = open_dir(scratch, parts)
    except (FileMissing, NotADirectory, PathEscapes, FileAccessFailed):
        return []
    names: list[str] = []
    with _opened(fd):
        for rel, _fd, _dirs, others in fdtree.walk(fd):
            prefix = "" if rel == "." else rel + "/"
            names.extend(prefix + name for name, st in others if stat.S_ISREG(st.st_mode))
    return sorted(names)
