"""Private networks of kernels: one persistent network namespace per kernel.

Every process of a kernel joins the kernel's namespace (``nsenter --net=PATH`` in front of
the sandbox command), so a session sees only its own loopback: not the host's (the server's
API, PostgreSQL, other users' daemons) and not other sessions' (Jupyter kernels' ports).

A namespace is held by a *holder*: ``sleep infinity`` started, in a session of its own, by
a thread that has just unshared its network and brought loopback up (~1 ms). Its pid and
the namespace's inode are recorded in ``<state dir>/<kernel id>``, so the namespace is found
again by the kernel id alone (``/proc/<pid>/ns/net``, checked against the inode), also by a
later agent: kernels and their networks outlive a restarted agent. No bind mount is made:
every sandbox copies the host's mount table, and a namespace file unmounted while a
sandbox starts would make bwrap fail.

Policies: ``none`` (loopback only) and ``egress``: pasta (Debian ``passt``) gives the
namespace a copy of the host's address and routes outbound connections through its own
sockets; ``-T none -U none`` and ``--no-map-gw`` stop it from reaching the host's loopback
or the host itself. pasta is a daemon of its own (not a child of the agent); it ends when
the kernel is destroyed.

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
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from hangar.agent.errors import KernelNotFound
from hangar.agent.runtimes.piped import wait_exit

log = logging.getLogger("hangar.agent.network")
T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# Holds the namespace while the runtime's state dir ($1) exists; once it is gone (deleted
# with a data dir: no agent could ever find the kernel again) it ends, and ends pasta,
# whose pid file ($2) it read while it could.
HOLDER_SCRIPT = (
    'sleep 1; while [ -d "$1" ]; do read p <"$2"; sleep 10; done; '
    'case "$(cat /proc/"$p"/cmdline)" in *"$2"*) kill "$p";; esac'
)
PASTA_ARGS = (
    "--config-net", "--no-map-gw", "--quiet", "--no-netns-quit",
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


@dataclass(frozen=True, slots=True)
class Holder:
    """The process that keeps a kernel's namespace; ``token`` names its pasta files."""

    pid: int
    inode: int
    token: str

    @property
    def path(self) -> Path:
        return Path(f"/proc/{self.pid}/ns/net")

    def alive(self) -> bool:
        """Whether ``pid`` is still this holder (not a reused pid)."""
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def record(self) -> str:
        return f"{self.pid} {self.inode} {self.token}\n"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            pid, inode, token = text.split()
            return cls(int(pid), int(inode), token)
        except ValueError:
            return None


def host_addresses() -> list[str]:
    """This host's own addresses (IPv4 and IPv6, loopback excepted), as its kernel lists
    them for the agent's network."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        last = ""
        for line in Path("/proc/net/fib_trie").read_text().splitlines():
            text = line.strip()
            if text.startswith("|-- "):
                last = text[4:]
            elif text == "/32 host LOCAL" and not last.startswith("127.") and last not in found:
                found.append(last)
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            packed = bytes.fromhex(line.split()[0])
            address = socket.inet_ntop(socket.AF_INET6, packed)
            if address != "::1" and address not in found:
                found.append(address)
    return found


def _unreachable(addresses: list[str]) -> None:
    """Routes in this thread's namespace that make ``addresses`` unreachable (pasta would
    otherwise connect to the host's other addresses for the session)."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE) as nl:
        for seq, address in enumerate(addresses, 1):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            packed = socket.inet_pton(family, address)
            rtmsg = struct.pack("BBBBBBBBI", family, len(packed) * 8, 0, 0, 254, 4, 0, 7, 0)
            attr = struct.pack("HH", 4 + len(packed), 1) + packed  # RTA_DST
            body = rtmsg + attr
            flags = 0x1 | 0x4 | 0x400 | 0x200  # REQUEST, ACK, CREATE, EXCL
            nl.send(struct.pack("IHHII", 16 + len(body), 24, flags, seq, 0) + body)
            reply = nl.recv(4096)
            error = struct.unpack("i", reply[16:20])[0] if len(reply) >= 20 else 0
            if error != 0:
                raise NetworkUnavailable(-error, f"route to {address}: {os.strerror(-error)}")


def pasta_pidfile(state_dir: Path, token: str) -> Path:
    return state_dir / f".{token}.pasta.pid"


def start_holder(
    token: str, state_dir: Path, blocked: list[str] | None = None
) -> tuple[Holder, subprocess.Popen[bytes]]:
    """A new network namespace with loopback up and ``blocked`` addresses unreachable,
    held by a process of its own session while ``state_dir`` exists (see HOLDER_SCRIPT).
    Raises NetworkUnavailable or OSError."""

    pidfile = pasta_pidfile(state_dir, token)

    def make() -> tuple[Holder, subprocess.Popen[bytes]]:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        _loopback_up()
        _unreachable(blocked or [])
        process = subprocess.Popen(
            ["/bin/sh", "-c", HOLDER_SCRIPT, "hangar-netns", str(state_dir), str(pidfile)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True, cwd="/",
        )  # fmt: skip
        inode = os.stat(f"/proc/{process.pid}/ns/net").st_ino
        return Holder(process.pid, inode, token), process

    return _in_thread(make)


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
    """The namespaces of one runtime's kernels, each found through the record
    ``state_dir/<kernel id>``; adopting a kernel renames only the record."""

    def __init__(
        self,
        state_dir: Path,
        policy: NetworkPolicy,
        *,
        pasta: str = "/usr/bin/pasta",
        nsenter: str = "/usr/bin/nsenter",
    ) -> None:
        self.state_dir, self.policy = state_dir, policy
        self.pasta, self.nsenter = pasta, nsenter
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # holders this agent started

    def prepare(self) -> None:
        """Make the state dir and check that a namespace can be made here. Raises
        NetworkUnavailable or OSError."""
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _, process = start_holder("probe", self.state_dir)
        process.kill()
        process.wait()

    def holder(self, kernel_id: str) -> Holder | None:
        """The live holder of the kernel's namespace, or None."""
        try:
            holder = Holder.parse((self.state_dir / kernel_id).read_text())
        except OSError:
            return None
        return holder if holder is not None and holder.alive() else None

    def path(self, kernel_id: str) -> Path | None:
        """The kernel's namespace (a ``/proc/<pid>/ns/net`` path), or None when it has none."""
        holder = self.holder(kernel_id)
        return holder.path if holder is not None else None

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
        await self.destroy(kernel_id)  # a leftover of an earlier life of this id
        blocked = host_addresses() if self.policy is NetworkPolicy.EGRESS else []
        holder, process = await asyncio.to_thread(start_holder, kernel_id, self.state_dir, blocked)
        self._children[holder.pid] = process
        try:
            record = self.state_dir / kernel_id
            temporary = record.with_name(f".{kernel_id}.new")
            temporary.write_text(holder.record())
            temporary.replace(record)
            if self.policy is NetworkPolicy.EGRESS:
                await self._start_pasta(holder)
        except BaseException:
            await self._stop(holder)
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / kernel_id).unlink()
            raise

    async def _start_pasta(self, holder: Holder) -> None:
        """pasta on the holder's namespace, handed over as an inherited fd (pasta, which
        drops its capabilities early, may not open another process's ``/proc/<pid>/ns``)."""
        log_file = self._pasta_file(holder, "log")
        netns = os.open(holder.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with log_file.open("wb") as errors:
                # Popen (vfork, ~1 ms) rather than uvloop's subprocess_exec (fork: the whole
                # server's page tables copied with the event loop stopped, ~10 ms).
                process = subprocess.Popen(  # noqa: ASYNC220
                    [self.pasta, *PASTA_ARGS, "--netns", f"/proc/self/fd/{netns}",
                     "-P", str(self._pasta_file(holder, "pid"))],
                    stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
                    pass_fds=(netns,),
                )  # fmt: skip
            code = await wait_exit(process)  # pasta forks its daemon once the network is up
        finally:
            os.close(netns)
        if code != 0:
            detail = log_file.read_text(errors="replace").strip()[-500:]
            raise NetworkUnavailable(f"pasta exited with {code}: {detail}")
        log_file.unlink()

    def _pasta_file(self, holder: Holder, suffix: str) -> Path:
        return self.state_dir / f".{holder.token}.pasta.{suffix}"  # see pasta_pidfile

    async def move(self, source_id: str, target_id: str) -> None:
        """Give ``source_id``'s namespace to ``target_id`` (adopting a pooled kernel).
        Raises OSError."""
        (self.state_dir / source_id).rename(self.state_dir / target_id)

    async def destroy(self, kernel_id: str) -> None:
        """Stop pasta and the holder: the namespace goes once the kernel's processes are
        gone. Idempotent; needs only the id."""
        record = self.state_dir / kernel_id
        try:
            holder = Holder.parse(record.read_text())
        except FileNotFoundError:
            return
        if holder is not None:
            await self._stop(holder)
        with contextlib.suppress(FileNotFoundError):
            record.unlink()

    async def _stop(self, holder: Holder) -> None:
        pidfile = self._pasta_file(holder, "pid")
        _kill_daemon(pidfile, str(pidfile))
        with contextlib.suppress(FileNotFoundError):
            self._pasta_file(holder, "log").unlink()
        if holder.alive():  # the holder leads its own process group: its sleep goes too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(holder.pid, signal.SIGKILL)
        child = self._children.pop(holder.pid, None)
        if child is not None:  # reap it; a holder of an earlier agent is init's child
            await asyncio.to_thread(child.wait)

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


def start_network(networks: KernelNetworks | None, kernel_id: str) -> asyncio.Future[None]:
    """Start making the kernel's network (nothing to do without ``networks``); await the
    result where the kernel's first process needs it."""
    if networks is None:
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
    return asyncio.ensure_future(networks.create(kernel_id))


async def drop_network(
    networks: KernelNetworks | None, started: asyncio.Future[None], kernel_id: str
) -> None:
    """Undo :func:`start_network` once it ended (it cleans up its own failure)."""
    if networks is not None:
        await asyncio.wait([started])
        await networks.destroy(kernel_id)


def join_network(networks: KernelNetworks | None, kernel_id: str) -> list[str]:
    """The command prefix that puts a process in the kernel's network ([] without
    ``networks``). Raises KernelNotFound when the kernel lost it: a kernel's process must
    never run in the host's network instead."""
    if networks is None:
        return []
    try:
        return networks.join_argv(kernel_id)
    except OSError as exc:
        raise KernelNotFound(f"kernel {kernel_id!r} has lost its network: {exc}") from exc
