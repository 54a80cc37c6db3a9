"""``hangar agent``: this machine's node served to a manager, with a heartbeat.

The agent listens for the manager's calls (HTTP/WebSocket, token-checked) and reports to the
manager every few seconds: its id, the URL where it listens, its scaling group and the kernels
it runs. The manager registers it on the first report it sees (and again after the agent was
LOST), reconciles its kernels with the sessions it should run, and schedules sessions on it.
On SIGTERM/SIGINT the agent stops its kernels, keeping their scratch dirs: when it comes back
the manager starts them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from dataclasses import dataclass

import httpx
import uvicorn

from hangar.agent.build import warm_pool
from hangar.agent.node import Node
from hangar.agent.rpc import wire
from hangar.agent.rpc.runs import RunStore
from hangar.agent.rpc.server import create_agent_app
from hangar.http_protocol import HttpLimits, guarded_protocol

log = logging.getLogger("hangar.agent")
HEARTBEAT_PATH = "/hangar/agents/heartbeat"


@dataclass(frozen=True, slots=True)
class AgentOptions:
    manager: str  # the manager's base URL
    token: str
    sock: socket.socket  # bound and listening
    url: str  # where the manager reaches this agent
    scaling_group: str = "default"
    heartbeat_seconds: float = 5.0
    runs: RunStore | None = None  # queued tasks' run directories shipped by the manager


def advertised_url(sock: socket.socket, advertise: str | None) -> str:
    """``advertise`` as given, else ``http://<bound address>:<port>`` (the host name when
    bound to every interface)."""
    if advertise:
        return advertise.rstrip("/")
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def heartbeats(node: Node, options: AgentOptions) -> None:
    """Report to the manager forever; failures are logged once per change of state."""
    url = options.manager.rstrip("/") + HEARTBEAT_PATH
    boot = uuid.uuid4().hex  # tells the manager when this process restarted (kernels gone)
    headers = {wire.TOKEN_HEADER: f"Bearer {options.token}", "Content-Type": "application/json"}
    last_problem: str | None = ""
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
        while True:
            beat = wire.Heartbeat(
                agent_id=node.agent_id, url=options.url, boot=boot,
                scaling_group=options.scaling_group, kernels=node.kernel_ids(),
            )  # fmt: skip
            problem: str | None
            try:
                response = await http.post(url, content=beat.model_dump_json(), headers=headers)
                problem = None if response.status_code < 300 else _refusal(response)
            except httpx.HTTPError as exc:
                problem = f"the manager at {options.manager} cannot be reached: {exc}"
            if problem != last_problem:
                if problem is None:
                    log.info("agent %s: registered with %s", node.agent_id, options.manager)
                else:
                    log.error("agent %s: %s", node.agent_id, problem)
                last_problem = problem
            await asyncio.sleep(options.heartbeat_seconds)


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("msg") or body.get("title")
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return f"the manager refused the agent (HTTP {response.status_code}): {detail}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, node: Node, options: AgentOptions) -> None:
        super().__init__(config)
        self.node, self.options = node, options

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Before the first call is answered: a batch run the manager follows again must
        # not hear "not running" of a kernel this process has yet to take over.
        kept = await self.node.recover()  # kernels of this agent's last run, still running
        log.info("agent %s: took over %d kernel(s)", self.node.agent_id, len(kept))
        if self.options.runs is not None:  # queued tasks' runs on those kernels go on
            await self.options.runs.resume(kept)
        await super().startup(sockets)
        warm_pool(self.node)
        self.beats = asyncio.create_task(heartbeats(self.node, self.options), name="heartbeat")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        beats = getattr(self, "beats", None)
        if beats is not None:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
        await super().shutdown(sockets)
        if self.options.runs is not None:
            await self.options.runs.close()
        await self.node.shutdown()  # sessions' kernels run on, for the next start


# Slow or huge request heads are cut off as on the manager; no per-address cap: every
# connection comes from the manager, which opens one per stream it relays.
AGENT_HTTP = guarded_protocol(HttpLimits(max_connections_per_client=0))


def serve(node: Node, options: AgentOptions) -> None:
    """Serve ``node`` until SIGTERM/SIGINT."""
    app = create_agent_app(node, options.token, options.runs)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio",
        loop="uvloop", http=AGENT_HTTP, timeout_graceful_shutdown=5, ws_ping_interval=20,
    )  # fmt: skip
    _Server(config, node, options).run(sockets=[options.sock])
