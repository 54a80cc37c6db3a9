"""A node's service apps: sshd, the web terminal, Jupyter, and the shared terminal (pty).

- ``sshd``: one ``sshd -i`` (inetd mode) per connection, in the sandbox as the work user; it
  accepts the session's generated key (``/home/work/id_container``) and
  ``/home/work/.ssh/authorized_keys``. No daemon waits, so nothing listens anywhere.
- ``ttyd`` (the web terminal, served by terminado) and ``jupyter`` (python images): started on
  first use on a Unix socket only this kernel's sandbox and the node can reach.
- the shared terminal behind ``stream_pty``: one bash on a pty per kernel, started on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from hangar.agent.node_errors import NodeError
from hangar.agent.runtimes.base import KernelRuntime, KernelSpec
from hangar.agent.services import images, layout, servers
from hangar.agent.services.pty import PtyClient, PtyShell
from hangar.agent.services.servers import LaunchFailed, ServerProcess, ServerSpec
from hangar.agent.services.streams import ProcessStream, SocketStream

log = logging.getLogger("hangar.agent.services")
SSHD = "/usr/sbin/sshd"
SERVICE_PYTHON = "/usr/bin/python3"
TERMINAL_APP = Path(__file__).with_name("terminal_app.py")


class UnknownApp(NodeError, LookupError):
    """The kernel provides no service app of this name."""


class AppLaunchFailed(NodeError):
    """The service app could not be started; the message says why."""


@dataclass
class _KernelServices:
    spec: KernelSpec
    interpreter: str
    python: bool
    dirs: layout.ServiceDirs
    servers: dict[str, ServerProcess] = field(default_factory=dict)
    pty: PtyShell | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ServiceManager:
    """Service apps of the kernels on one runtime. Files live under ``root``."""

    def __init__(
        self,
        runtime: KernelRuntime,
        root: Path,
        *,
        owner: tuple[int, int] | None,
        sshd: str = SSHD,
        service_python: str = SERVICE_PYTHON,
    ) -> None:
        self.runtime, self.root, self.owner = runtime, root, owner
        self.sshd, self.service_python = sshd, service_python
        self._kernels: dict[str, _KernelServices] = {}

    def dirs(self, kernel_id: str) -> layout.ServiceDirs:
        return layout.ServiceDirs(self.root / kernel_id)

    def with_mounts(self, spec: KernelSpec) -> KernelSpec:
        """``spec`` with the service directories bound in."""
        mounts = (*spec.mounts, *self.dirs(spec.kernel_id).mounts())
        return dataclasses.replace(spec, mounts=mounts)

    async def prepare(self, spec: KernelSpec, *, interpreter: str, python: bool) -> None:
        """Write the kernel's keys and configuration (before its first process). Raises
        OSError."""
        await asyncio.to_thread(self.prepare_files, spec)
        self.recover(spec, interpreter=interpreter, python=python)

    def prepare_files(self, spec: KernelSpec, *, adopted_from: str | None = None) -> None:
        """The file work of :meth:`prepare` alone (blocking: for a worker thread that does
        more); :meth:`recover` then serves the kernel's apps. ``adopted_from``: the pooled
        kernel whose sandbox it took, whose directories it keeps. Raises OSError."""
        dirs = self.dirs(spec.kernel_id)
        if adopted_from is not None:
            layout.adopt(self.dirs(adopted_from), dirs)
        layout.prepare(
            dirs, spec.scratch_dir, owner=self.owner, environ=spec.environ,
            label=spec.kernel_id[:12], keep_dirs=adopted_from is not None,
        )  # fmt: skip

    def prepare_pooled(self, spec: KernelSpec) -> None:
        """What a pooled kernel's sandbox binds (see :func:`layout.prepare_dirs`)."""
        layout.prepare_dirs(self.dirs(spec.kernel_id), owner=self.owner)

    def remove_files(self, kernel_id: str) -> None:
        """Delete the service files of a kernel that never served apps (a pooled one)."""
        layout.remove(self.dirs(kernel_id))

    def recover(self, spec: KernelSpec, *, interpreter: str, python: bool) -> None:
        """Serve the apps of a kernel an earlier node prepared (its keys are kept)."""
        dirs = self.dirs(spec.kernel_id)
        self._kernels[spec.kernel_id] = _KernelServices(spec, interpreter, python, dirs)

    def _get(self, kernel_id: str) -> _KernelServices:
        try:
            return self._kernels[kernel_id]
        except KeyError:
            raise UnknownApp(f"No service apps for kernel {kernel_id}") from None

    def apps(self, kernel_id: str) -> list[str]:
        """Names of the apps the kernel can run (in an image, Jupyter where its Python has
        the notebook server; the terminal and sshd are the host's, brought in)."""
        kernel = self._get(kernel_id)
        jupyter = kernel.python and images.has_jupyter(kernel.spec)
        return ["jupyter", "ttyd", "sshd"] if jupyter else ["ttyd", "sshd"]

    async def open_port(self, kernel_id: str, port: int) -> SocketStream:
        """A connection to what listens on ``port`` of the kernel's own loopback (a preopen
        port), made inside its network. Raises UnknownApp (bad port), AppLaunchFailed
        (nothing listens), KernelNotFound."""
        if not 0 < port < 65536:
            raise UnknownApp(f"No such port: {port}")
        try:
            reader, writer = await self.runtime.open_port(kernel_id, port)
        except OSError as exc:
            raise AppLaunchFailed(f"Nothing answers on port {port} of the session: {exc}") from exc
        return SocketStream(reader, writer)

    async def open_app(self, kernel_id: str, app: str) -> SocketStream | ProcessStream:
        """A fresh connection to ``app``, starting it if needed; an app named by a number is
        that port of the kernel (:meth:`open_port`). Raises UnknownApp, AppLaunchFailed,
        KernelNotFound."""
        if app.isdigit():
            return await self.open_port(kernel_id, int(app))
        kernel = self._get(kernel_id)
        if app not in self.apps(kernel_id):
            raise UnknownApp("No such app service.")
        if app == "sshd":
            sshd = images.host_program(kernel.spec, self.sshd)
            argv = [*sshd, "-i", "-e", "-f", f"{layout.CONF_TARGET}/{layout.SSHD_CONFIG}"]
            return ProcessStream(await self.runtime.run(kernel_id, argv, stdin="pipe"))
        async with kernel.lock:
            server = kernel.servers.get(app)
            if server is not None and server.alive:
                with contextlib.suppress(OSError):
                    return await server.connect()
                await server.stop()
            if server is not None:  # it ended (an OOM kill, the user stopped it): start anew
                log.warning("kernel %s: %s ended: %s", kernel_id, app, await server.status())
            server = await servers.start_server(
                self.runtime, kernel_id, self._server_spec(kernel, app), kernel.dirs.run
            )
            kernel.servers[app] = server
            try:
                return await server.wait_ready()
            except LaunchFailed as exc:
                kernel.servers.pop(app, None)
                raise AppLaunchFailed(f"Failed to launch the app service: {exc}") from exc

    def _server_spec(self, kernel: _KernelServices, app: str) -> ServerSpec:
        if app == "jupyter":
            socket = "jupyter.sock"
            argv = servers.jupyter_argv(kernel.interpreter, f"{layout.RUN_TARGET}/{socket}")
            return ServerSpec(app, tuple(argv), socket)
        socket = "terminal.sock"
        script = TERMINAL_APP.read_text()
        python = images.service_python(kernel.spec, self.service_python)
        shell = images.shell(kernel.spec)
        argv = (*python, "-c", script, f"{layout.RUN_TARGET}/{socket}", *shell)
        return ServerSpec(app, argv, socket)

    async def open_terminal(self, kernel_id: str) -> PtyClient:
        """Attach to the kernel's shared shell, starting it if needed. Raises UnknownApp,
        AppLaunchFailed, KernelNotFound."""
        kernel = self._get(kernel_id)
        async with kernel.lock:
            shell = kernel.pty
            if shell is None or not shell.running:
                command = self.runtime.command(kernel_id, images.shell(kernel.spec))
                shell = PtyShell(command.argv, command.env)
                client = shell.attach()
                try:
                    await shell.start()
                except OSError as exc:
                    raise AppLaunchFailed(f"Cannot start a terminal: {exc}") from exc
                kernel.pty = shell
                return client
            return shell.attach()

    async def stop(self, kernel_id: str) -> None:
        """Stop the kernel's services and terminal (its processes are going away)."""
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return
        for server in list(kernel.servers.values()):
            await server.stop()
        kernel.servers.clear()
        if kernel.pty is not None:
            await kernel.pty.stop()
            kernel.pty = None

    async def remove(self, kernel_id: str) -> None:
        """Stop everything and delete the kernel's service files. Idempotent."""
        await self.stop(kernel_id)
        self._kernels.pop(kernel_id, None)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(layout.remove, self.dirs(kernel_id))


__all__ = ["AppLaunchFailed", "ServiceManager", "UnknownApp"]
