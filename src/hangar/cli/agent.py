"""``hangar agent --manager URL``: run this machine's node for a manager elsewhere."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hangar.settings import Settings
from hangar.sockets import ListenError, listen_or_explain

console = Console(stderr=True)


class AgentSetupError(Exception):
    """What keeps the agent from starting, as one line for the user."""


def read_token(settings: Settings, token_file: Path | None) -> str:
    """The agent token: --token-file, else HANGAR_AGENT_TOKEN, else the data dir's token file
    (present when the manager shares this machine and data dir)."""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise AgentSetupError(f"cannot read the agent token from {token_file}: {exc}") from exc
        if not token:
            raise AgentSetupError(f"{token_file} is empty")
        return token
    if settings.agent.token is not None:
        return settings.agent.token.get_secret_value()
    if settings.agent_token_path.is_file():
        return settings.agent_token_path.read_text().strip()
    raise AgentSetupError(
        "the agent needs the manager's agent token: pass --token-file PATH or set "
        "HANGAR_AGENT_TOKEN (the manager keeps it in <its data dir>/agent-token)"
    )


def run(
    settings: Settings,
    *,
    manager: str,
    host: str,
    port: int,
    advertise: str | None,
    scaling_group: str,
    token_file: Path | None,
) -> int:
    from hangar.agent.build import build_node
    from hangar.agent.rpc.process import AgentOptions, advertised_url, serve
    from hangar.agent.rpc.runs import RunStore
    from hangar.logs import configure_logging

    configure_logging(settings.server.log_format.value, settings.server.log_level)
    if not manager.startswith(("http://", "https://")):
        console.print(f"[red]error:[/] --manager must be an http(s) URL, not {manager!r}")
        return 2
    try:
        token = read_token(settings, token_file)
        if settings.agent.runtime == "none":
            raise AgentSetupError("an agent needs a runtime: bubblewrap or fake, not none")
        sock = listen_or_explain(host, port, 256, setting="--port")
    except (AgentSetupError, ListenError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    url = advertised_url(sock, advertise)
    for path in (settings.data_dir, settings.log_dir, settings.scratch_dir):
        path.mkdir(parents=True, exist_ok=True)
    node = build_node(settings, addr=url)
    if node is None:
        console.print("[red]error:[/] the sandbox cannot start here (see the log above)")
        return 1
    console.print(f"agent {node.agent_id} listening at {url}, reporting to {manager}")
    options = AgentOptions(
        manager=manager, token=token, sock=sock, url=url, scaling_group=scaling_group,
        heartbeat_seconds=settings.agent.heartbeat_seconds,
        runs=RunStore(settings.data_dir / "agent-runs", manager,
                      uid=settings.sandbox.work_uid, gid=settings.sandbox.work_gid),
    )  # fmt: skip
    serve(node, options)
    return 0
