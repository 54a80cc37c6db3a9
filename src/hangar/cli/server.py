"""``hangar server``: the ASGI app, the loops and the first-start bootstrap in one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import uvicorn
import uvloop
from rich.console import Console
from rich.panel import Panel

from hangar.api.app import create_app
from hangar.api.bai.webhooks import BackendAiWebhooks
from hangar.api.clearml.ports import FilesOnPort, clearml_ports
from hangar.api.cloud.taskwire import CloudNotices
from hangar.api.zerocopy import ZeroCopySend
from hangar.cli import clientconfig
from hangar.core.identity.bootstrap import FirstAdmin
from hangar.core.services import Services, open_services
from hangar.datadir import DataDirBusy, DataDirLock
from hangar.http_protocol import HttpLimits, guarded_protocol
from hangar.logs import configure_logging
from hangar.settings import Settings
from hangar.sockets import ListenError, listen_or_explain

console = Console(stderr=True)


def _announce_first_admin(admin: FirstAdmin, config_path: Path, endpoint: str) -> None:
    kp = admin.keypair
    body = (
        f"Admin user     {admin.email}\n"
        f"Password       {admin.password}\n"
        f"Access key     {kp.keypair.access_key}\n"
        f"Secret key     {kp.secret_key}\n\n"
        f"Client config  {config_path}\n"
        f"For the official client:\n"
        f"  source {clientconfig.env_path(config_path)}\n"
        f"For the ClearML SDK: the same, or\n"
        f"  export CLEARML_CONFIG_FILE={clientconfig.clearml_conf_path(config_path)}\n\n"
        "These are shown only once."
    )
    console.print(Panel(body, title="Hangar first start", expand=False))
    print(
        clientconfig.ClientConfig(
            endpoint, kp.keypair.access_key, kp.secret_key, "", admin.api_key
        ).to_env(),
        flush=True,
    )


def _update_client_config(services: Services, endpoint: str) -> None:
    settings = services.settings
    path = settings.resolved_client_config_path
    admin = services.first_admin
    if admin is not None:
        config = clientconfig.ClientConfig(
            endpoint,
            admin.keypair.keypair.access_key,
            admin.keypair.secret_key,
            str(settings.data_dir),
            admin.api_key,
        )
        _announce_first_admin(admin, path, endpoint)  # first: the secrets exist nowhere else
        clientconfig.write(path, config)
        return
    existing = clientconfig.read(path)
    if existing and existing.data_dir == str(settings.data_dir) and existing.endpoint != endpoint:
        clientconfig.write(path, replace(existing, endpoint=endpoint))


def _announce_clearml(endpoint: str) -> None:
    """The three URLs a ClearML user configures (the SDK needs each, spec §0.13)."""
    console.print(
        f"ClearML  api_server {endpoint}  web_server {endpoint}  files_server {endpoint}/files",
        highlight=False,
        soft_wrap=True,
    )


def _announce_clearml_ports(settings: Settings, endpoint: str) -> None:
    """ClearML's conventional ports, when configured (see api/clearml/ports.py)."""
    base = endpoint.rsplit(":", 1)[0]
    found = [f"{port.role} {base}:{port.port}" for port in clearml_ports(settings)]
    if found:
        console.print("ClearML  also " + "  ".join(found), highlight=False, soft_wrap=True)


class _Server(uvicorn.Server):
    """uvicorn's server, ending the endless event streams as soon as shutdown begins (they
    would otherwise hold the graceful shutdown for its whole timeout)."""

    def __init__(self, config: uvicorn.Config, services: Services) -> None:
        super().__init__(config)
        self._services = services

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._services.bus.close()
        await super().shutdown(sockets)


def _http_limits(settings: Settings) -> HttpLimits:
    proxies = {ip.strip() for ip in settings.server.forwarded_allow_ips.split(",")}
    return HttpLimits(
        head_timeout=settings.http.header_timeout_seconds,
        max_head_bytes=settings.http.max_header_bytes,
        max_headers=settings.http.max_headers,
        max_connections_per_client=settings.http.max_connections_per_client,
        exempt_clients=frozenset(proxies - {"", "*"}),
    )


async def serve(
    settings: Settings, sock: socket.socket, extra: Sequence[socket.socket] = ()
) -> None:
    configure_logging(settings.server.log_format.value, settings.server.log_level)
    services = await open_services(settings)
    app = None
    try:
        port = sock.getsockname()[1]
        endpoint = settings.server.url_for_clients(port)
        _update_client_config(services, endpoint)
        api_host = (
            "127.0.0.1" if settings.server.host in ("0.0.0.0", "::", "") else settings.server.host
        )
        await services.start_loops(
            api=(api_host, port), webhooks=BackendAiWebhooks(), task_notices=CloudNotices()
        )
        app = create_app(services)
        config = uvicorn.Config(
            # outermost: it needs uvicorn's own send
            ZeroCopySend(FilesOnPort(app, settings.tracking.clearml_files_port)),
            log_config=None,
            access_log=False,
            lifespan="off",
            http=guarded_protocol(_http_limits(settings)),
            ws="auto",
            timeout_graceful_shutdown=5,
            proxy_headers=bool(settings.server.forwarded_allow_ips),
            forwarded_allow_ips=settings.server.forwarded_allow_ips or None,
            # Clients pool connections; closing idle ones after uvicorn's default 5 s races
            # with their next request on a loaded machine. aiohttp servers keep 75 s.
            timeout_keep_alive=75,
        )
        server = _Server(config, services)
        # Everything imported and built so far lives as long as the process: keep it out
        # of the collector's scans, which otherwise cost more than a request.
        gc.collect()
        gc.freeze()
        console.print(f"Hangar listening on {endpoint}  (data: {settings.data_dir})")
        _announce_clearml(endpoint)
        _announce_clearml_ports(settings, endpoint)
        console.print(f"Web UI   {endpoint}/ui/  (sign in with the admin's email)", highlight=False)
        await server.serve(sockets=[sock, *extra])
    finally:
        sock.close()
        for other in extra:
            other.close()
        await services.close()
        if app is not None:
            app.access_log.flush()


def _listen_clearml(settings: Settings) -> list[socket.socket]:
    """Sockets on ClearML's conventional ports, when configured (none opened on an error)."""
    extra: list[socket.socket] = []
    try:
        for port in clearml_ports(settings):
            extra.append(listen_or_explain(settings.server.host, port.port, 2048,
                                           setting=port.setting))  # fmt: skip
    except ListenError:
        for opened in extra:
            opened.close()
        raise
    return extra


def run(settings: Settings) -> int:
    """Serve until SIGINT/SIGTERM (uvicorn installs the handlers and shuts down gracefully).

    Returns the exit status: 1, after one line on stderr, when another server holds the data
    dir or the port is taken; nothing (sessions, cgroups, client config) is touched then.
    """
    try:
        lock = DataDirLock.acquire(settings.data_dir)
    except DataDirBusy as exc:
        console.print(f"[red]error:[/] {exc}", soft_wrap=True)
        return 1
    try:
        try:
            sock = listen_or_explain(
                settings.server.host, settings.server.port, 2048, setting="HANGAR_PORT"
            )
        except ListenError as exc:
            console.print(f"[red]error:[/] {exc}", soft_wrap=True)
            return 1
        try:
            extra = _listen_clearml(settings)
        except ListenError as exc:
            sock.close()
            console.print(f"[red]error:[/] {exc}", soft_wrap=True)
            return 1
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            runner.run(serve(settings, sock, extra))
        return 0
    finally:
        lock.release()
