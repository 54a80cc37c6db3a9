"""Queued tasks' run directories on a remote agent.

Before the manager starts a queued task's kernel here it ships the run's directory (the
launcher, its spec with the run's credentials, the task's code) as a tar archive; the agent
unpacks it under ``<data dir>/agent-runs/<key>/`` and the kernel sees it read-only, as on
the manager's own agent. The directory's ``api.sock`` is the session's only way to the API:
each connection to it is relayed to the manager's address, the one this agent reports to.
A run's directory goes when its kernel is destroyed (or when it is shipped again). It notes
its kernel, so an agent that restarts while the kernel runs on opens the socket again
(:meth:`RunStore.resume`) and removes the copies of kernels that did not survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import shutil
import ssl
import tarfile
import uuid
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

from hangar.agent.errors import AgentError
from hangar.util.unixrelay import hold_current, listen_unix, relay_to

log = logging.getLogger("hangar.agent.runs")
SOCKET = "api.sock"
SPEC = "spec.json"  # the run's credentials: for the sandbox's user alone
KERNEL = ".kernel"  # the id of the kernel the run was shipped for (written after unpacking)


class RunRefused(AgentError):
    """The shipped run could not be unpacked (the message says why)."""


def unpack(root: Path, archive: bytes, uid: int, gid: int) -> None:
    """``archive`` (a tar) as ``root``, readable by the sandbox's user; its spec for that
    user alone (blocking). Raises RunRefused."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, mode=0o755)
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            tar.extractall(root, filter="data")  # no links out, no devices, no owners
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RunRefused(f"The run's files could not be unpacked: {exc}") from exc
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    os.chown(root, uid, gid)
    spec = root / SPEC
    if spec.is_file() and not spec.is_symlink():
        os.chown(spec, uid, gid)
        spec.chmod(0o400)


def _kernel_of(root: Path) -> uuid.UUID | None:
    """The kernel ``root`` was shipped for; None when it says none (a partial copy)."""
    note = root / KERNEL
    try:
        if root.is_symlink() or note.is_symlink():
            return None
        return uuid.UUID(note.read_text().strip())
    except (OSError, ValueError):
        return None


class RunStore:
    """The run directories this agent holds and their API relays to ``manager``."""

    def __init__(self, base: Path, manager: str, *, uid: int, gid: int) -> None:
        parts = urlsplit(manager)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._tls else 80)
        self._base, self._uid, self._gid = base, uid, gid
        self._servers: dict[str, asyncio.Server] = {}
        self._kernels: dict[uuid.UUID, str] = {}
        self._relays: set[asyncio.Task[None]] = set()  # held: a pending task is not collected

    async def put(self, key: str, kernel_id: uuid.UUID, archive: bytes) -> Path:
        """Unpack the run ``key`` for ``kernel_id`` (replacing an earlier copy) and open its
        API socket; returns its directory. Raises RunRefused."""
        await self.drop(key)
        root = self._base / key
        await asyncio.to_thread(unpack, root, archive, self._uid, self._gid)
        (root / KERNEL).write_text(str(kernel_id))
        await self._open(key, kernel_id)
        return root

    async def resume(self, kept: Collection[uuid.UUID]) -> None:
        """After a restart: open the API sockets of the runs whose kernels run on (``kept``)
        and remove the others' copies (their kernels ended while this agent was away)."""
        if not self._base.is_dir():
            return
        for root in sorted(self._base.iterdir()):
            kernel_id = _kernel_of(root)
            if kernel_id is not None and kernel_id in kept:
                await self._open(root.name, kernel_id)
                log.info("run %s: its API socket is open again", root.name)
            else:
                await self.drop(root.name)

    async def _open(self, key: str, kernel_id: uuid.UUID) -> None:
        path = self._base / key / SOCKET
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a socket of an earlier process relays nothing
        self._servers[key] = await asyncio.start_unix_server(self._relay, sock=listen_unix(path))
        path.chmod(0o666)  # the sandbox's user connects
        self._kernels[kernel_id] = key

    async def drop_kernel(self, kernel_id: uuid.UUID) -> None:
        """Remove the run directory shipped for ``kernel_id``, if any (idempotent)."""
        key = self._kernels.pop(kernel_id, None)
        if key is not None:
            await self.drop(key)

    async def drop(self, key: str) -> None:
        server = self._servers.pop(key, None)
        if server is not None:
            server.close()
        await asyncio.to_thread(shutil.rmtree, self._base / key, True)

    async def close(self) -> None:
        """Stop relaying (directories stay: the manager ships them again with the kernel)."""
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        for relay in list(self._relays):
            relay.cancel()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hold_current(self._relays)
        try:
            tls = ssl.create_default_context() if self._tls else None
            await relay_to(reader, writer, self._host, self._port, tls=tls)
        except OSError as exc:
            log.warning("a run's API connection to %s failed: %s", self._host, exc)
