"""Private networks of kernels: one persistent network namespace per kernel.

Every process of a kernel joins the kernel's namespace (``nsenter --net=PATH`` in front of
the sandbox command), so a session sees only its own loopback: not the host's (the server's
API, PostgreSQL, other users' daemons) and not other sessions' (Jupyter kernels' ports).
The namespace is a file in ``/run/netns`` (``ip netns`` lists it), made in-process (a
thread unshares, the namespace is bind-mounted, loopback is brought up: ~0.6 ms) and found
again by the kernel id alone through a link in the runtime's state dir, so nothing depends
on the agent process that made it: kernels and their networks outlive a restarted agent.

Policies: ``none`` (loopback only) and ``egress``: pasta (Debian ``passt``) gives the
namespace a copy of the host's address and routes outbound connections through its own
sockets; ``-T none -U none`` and ``--no-map-gw`` stop it from reaching the host's loopback
or the host itself. pasta is a daemon of its own (not a child of the agent); it ends when
the kernel is destroyed, or by itself when the namespace file goes away.

The agent reaches into a namespace by creating sockets in a thread that has joined it
(:func:`run_in_netns`): a socket stays in the namespace it was created in.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import struct
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

log = logging.getLogger("hangar.agent.network")
T = TypeVar("T")

NETNS_DIR = Path("/run/netns")
NETNS_PREFIX = "hangar-"
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
PASTA_ARGS = (
    "--config-net", "--no-map-gw", "--quiet",
    "-t", "none", "-u", "none", "-T", "none", "-U", "none",
    "--runas", "0",  # as root pasta must stay root to enter the namespace
)  # fmt: skip
_libc = ctypes.CDLL(None, use_errno=True)


class NetworkPolicy(StrEnum):
    """What a session's network reaches besides its own loopback."""

    NONE = "none"
    EGRESS = "egress"


class NetworkUnavailable(OSError):
    """A kernel's namespace could not be made or joined; the message says why."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise NetworkUnavailable(errno, f"{what}: {os.strerror(errno)}")


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def _in_thread(action: Callable[[], T]) -> T:
    """Run ``action`` in a new thread and return its result: a thread that changes its
    namespace must never run anything else (it would, if it were a pool's)."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def body() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=body, name="hangar-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def run_in_netns(path: Path, action: Callable[[], T]) -> T:
    """Run ``action`` in a new thread that has joined the network namespace at ``path``:
    sockets it creates (and threads it starts) belong to that namespace. Blocks for the
    thread's life; raises NetworkUnavailable, or what ``action`` raised."""

    def joined() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(fd)
        finally:
            os.close(fd)
        return action()  # the thread ends here, in the namespace

    return _in_thread(joined)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(probe, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(probe, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def make_netns(path: Path) -> None:
    """Create a network namespace with loopback up, kept alive by a bind mount on ``path``
    (which must not exist). Raises NetworkUnavailable or OSError."""

    def make() -> None:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0))
        try:
            source = b"/proc/thread-self/ns/net"
            _check(_libc.mount(source, bytes(path), None, MS_BIND, None), "bind mount")
            _loopback_up()
        except BaseException:
            remove_netns(path)
            raise

    _in_thread(make)


def remove_netns(path: Path) -> None:
    """Unmount and remove a namespace file. Idempotent."""
    _libc.umount2(bytes(path), MNT_DETACH)  # EINVAL: not mounted (any more)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _kill_daemon(pidfile: Path, mark: str) -> None:
    """SIGTERM the daemon whose pid ``pidfile`` holds, if that pid's command line still
    holds ``mark`` (the pid was not reused)."""
    try:
        pid = int(pidfile.read_text().strip())
        if mark.encode() in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass  # gone already, or never started
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()


class KernelNetworks:
    """The namespaces of one runtime's kernels. ``state_dir/<kernel id>`` links to the
    namespace file (``/run/netns/hangar-<id the kernel was created with>``); adopting a
    kernel renames only the link, so pasta keeps watching the same file."""

    def __init__(
        self,
        state_dir: Path,
        policy: NetworkPolicy,
        *,
        pasta: str = "/usr/bin/pasta",
        nsenter: str = "/usr/bin/nsenter",
        netns_dir: Path = NETNS_DIR,
    ) -> None:
        self.state_dir, self.policy, self.netns_dir = state_dir, policy, netns_dir
        self.pasta, self.nsenter = pasta, nsenter

    def prepare(self) -> None:
        """Make the directories and check that a namespace can be made here. Raises
        NetworkUnavailable or OSError."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.netns_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        probe = self.netns_dir / f"{NETNS_PREFIX}probe-{os.getpid()}"
        remove_netns(probe)
        make_netns(probe)
        remove_netns(probe)

    def path(self, kernel_id: str) -> Path | None:
        """The kernel's namespace file, or None when it has none."""
        try:
            target = Path(os.readlink(self.state_dir / kernel_id))
        except OSError:
            return None
        return target if target.parent == self.netns_dir else None

    def join_argv(self, kernel_id: str) -> list[str]:
        """The command prefix that runs a process in the kernel's namespace. Raises
        NetworkUnavailable when the kernel has none (it would otherwise get the host's)."""
        path = self.path(kernel_id)
        if path is None:
            raise NetworkUnavailable(f"kernel {kernel_id} has no network namespace")
        return [self.nsenter, f"--net={path}", "--"]

    async def create(self, kernel_id: str) -> None:
        """Make the kernel's namespace and, with ``egress``, start pasta on it. Raises
        NetworkUnavailable or OSError (nothing is left behind)."""
        path = self.netns_dir / f"{NETNS_PREFIX}{kernel_id}"
        link = self.state_dir / kernel_id
        await self.destroy(kernel_id)  # a leftover of an earlier life of this id
        await asyncio.to_thread(make_netns, path)
        try:
            link.symlink_to(path)
            if self.policy is NetworkPolicy.EGRESS:
                await self._start_pasta(path)
        except BaseException:
            await self.destroy(kernel_id)
            raise

    async def _start_pasta(self, path: Path) -> None:
        log_file = self._pasta_file(path, "log")
        with log_file.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                self.pasta, *PASTA_ARGS, "--netns", str(path), "-P",
                str(self._pasta_file(path, "pid")),
                stdin=asyncio.subprocess.DEVNULL, stdout=errors, stderr=errors,
            )  # fmt: skip
            code = await process.wait()  # pasta forks its daemon once the network is set up
        if code != 0:
            detail = log_file.read_text(errors="replace").strip()[-500:]
            raise NetworkUnavailable(f"pasta exited with {code}: {detail}")
        log_file.unlink()

    def _pasta_file(self, path: Path, suffix: str) -> Path:
        return self.state_dir / f".{path.name}.pasta.{suffix}"

    async def move(self, source_id: str, target_id: str) -> None:
        """Give ``source_id``'s namespace to ``target_id`` (adopting a pooled kernel).
        Raises OSError."""
        (self.state_dir / source_id).rename(self.state_dir / target_id)

    async def destroy(self, kernel_id: str) -> None:
        """Stop pasta and remove the kernel's namespace. Idempotent; needs only the id."""
        link = self.state_dir / kernel_id
        path = self.path(kernel_id)
        if path is None:
            path = self.netns_dir / f"{NETNS_PREFIX}{kernel_id}"
        _kill_daemon(self._pasta_file(path, "pid"), str(path))
        with contextlib.suppress(FileNotFoundError):
            self._pasta_file(path, "log").unlink()
        await asyncio.to_thread(remove_netns, path)
        with contextlib.suppress(FileNotFoundError):
            link.unlink()

    async def open_connection(
        self, kernel_id: str, port: int, host: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``host:port`` as seen from inside the kernel's namespace.
        Raises NetworkUnavailable, OSError (ConnectionRefusedError: nothing listens)."""
        path = self.path(kernel_id)
        if path is None:
            raise NetworkUnavailable(f"kernel {kernel_id} has no network namespace")
        return await open_connection_in(path, host, port)


async def open_connection_in(
    path: Path | None, host: str, port: int, *, limit: int = 64 * 1024
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``host:port`` from the network namespace at ``path`` (None: this
    process's own). Raises OSError."""
    if path is None:
        return await asyncio.open_connection(host, port, limit=limit)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def new_socket() -> socket.socket:
        return socket.socket(family, socket.SOCK_STREAM)

    sock = await asyncio.to_thread(run_in_netns, path, new_socket)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=limit)


SHARED_NETWORK_NOTE = (
    "sessions share the host's network ({reason}): they reach its loopback services and "
    "each other's ports"
)


def open_networks(
    state_dir: Path,
    policy: NetworkPolicy,
    privileged: bool,
    notes: list[str],
    *,
    pasta: str = "/usr/bin/pasta",
) -> KernelNetworks | None:
    """Private networks where the agent may make them (root), else None with a note in
    ``notes``; ``egress`` without pasta falls back to ``none``, also with a note."""
    if not privileged or os.geteuid() != 0:
        notes.append(SHARED_NETWORK_NOTE.format(reason="the agent does not run as root"))
        return None
    if policy is NetworkPolicy.EGRESS and shutil.which(pasta) is None:
        notes.append(f"{pasta} not found (Debian: apt-get install passt): sessions have no egress")
        policy = NetworkPolicy.NONE
    networks = KernelNetworks(state_dir, policy, pasta=pasta)
    try:
        networks.prepare()
    except OSError as exc:
        notes.append(SHARED_NETWORK_NOTE.format(reason=f"no network namespace: {exc}"))
        return None
    return networks
