"""The settings' groups: each a typed model whose fields keep their flat configuration names.

A field's alias is the name it has in ``HANGAR_*`` environment variables (upper-cased), in the
TOML file and in keyword arguments; code reads it as ``settings.<group>.<field>``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hangar.util.sizes import SIZE_PATTERN, parse_size


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class _Group(BaseModel):
    """A group of settings; built from flat names (aliases) or field names."""

    model_config = ConfigDict(extra="ignore", validate_by_alias=True, validate_by_name=True)


class ServerSettings(_Group):
    """The HTTP server: address, logs, the client config it writes."""

    host: str = Field(default="127.0.0.1", description="Bind address of the HTTP server.")
    port: int = Field(default=8090, ge=0, le=65535, description="Bind port (0 = pick a free one).")
    public_url: str | None = Field(
        default=None,
        description="URL clients should use; written to the client config. "
        "Default: http://<host>:<port>.",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto "
        "headers are trusted ('*' for any). Empty: such headers are ignored.",
    )
    log_format: LogFormat = Field(default=LogFormat.CONSOLE, description="console or json.")
    log_level: str = Field(default="INFO")
    client_config_path: Path | None = Field(
        default=None,
        description="Where the first start writes the client config. "
        "Default: $XDG_CONFIG_HOME/hangar/client.toml.",
    )

    def url_for_clients(self, bound_port: int | None = None) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{bound_port or self.port}"


class HttpSettings(_Group):
    """Limits of the HTTP server against slow or greedy clients."""

    header_timeout_seconds: float = Field(
        alias="http_header_timeout_seconds",
        default=20.0,
        ge=0,
        description="A connection that has not sent a complete request head within this "
        "time gets 408 and is closed (0: no limit). Idle keep-alive connections are not "
        "affected.",
    )
    max_header_bytes: int = Field(
        alias="http_max_header_bytes",
        default=64 * 1024,
        ge=1024,
        description="Largest request head (line + headers): 431.",
    )
    max_headers: int = Field(
        alias="http_max_headers",
        default=100,
        ge=1,
        description="Most header lines in one request: 431.",
    )
    max_connections_per_client: int = Field(
        alias="http_max_connections_per_client",
        default=256,
        ge=0,
        description="Open connections from one client address; more are refused with 503 "
        "(0: no cap). Addresses listed in forwarded_allow_ips are exempt.",
    )


class DatabaseSettings(_Group):
    """The database."""

    url: str | None = Field(
        alias="database_url",
        default=None,
        description="SQLAlchemy async URL. Default: SQLite (WAL) at <data_dir>/hangar.db. "
        "PostgreSQL: postgresql+asyncpg://user:pass@host/db",
    )


class AuthSettings(_Group):
    """Keys, logins and rate limits."""

    server_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts stored secrets (urlsafe base64, 32 bytes). "
        "Default: generated once into <data_dir>/server.key.",
    )
    admin_email: str = Field(default="admin@hangar.local", description="First admin user.")
    clock_skew_seconds: int = Field(
        default=900,
        ge=1,
        description="Accepted difference between a request's Date and now; also how long a "
        "captured signed request can be replayed (the signature covers no nonce).",
    )
    cache_seconds: float = Field(
        alias="auth_cache_seconds",
        default=1.0,
        ge=0,
        description="How long a verified keypair is trusted before it is read again; "
        "changes made by another process take effect within this time.",
    )
    default_rate_limit: int = Field(
        default=30_000, ge=1, description="Requests per 15 minutes for new keypairs."
    )
    login_failure_limit: int = Field(
        default=10, ge=1, description="Failed console logins per user before 429."
    )
    login_session_hours: float = Field(default=24.0, gt=0)
    signup_enabled: bool = Field(default=False, description="Allow POST /auth/signup.")


class AgentSettings(_Group):
    """The embedded agent and the manager's remote agents."""

    runtime: str = Field(
        alias="agent_runtime",
        default="bubblewrap",
        description="Runtime of the embedded agent: bubblewrap (sandboxed), fake (no "
        "isolation; tests and demos only) or none (no embedded agent).",
    )
    id: str | None = Field(alias="agent_id", default=None, description="Default: i-<hostname>.")
    token: SecretStr | None = Field(
        alias="agent_token",
        default=None,
        description="Shared secret of the manager and its remote agents (`hangar agent`); "
        "default: generated once into <data_dir>/agent-token.",
    )
    hidden_paths: list[Path] = Field(
        alias="agent_hidden_paths",
        default_factory=list,
        description="More host paths hidden from every sandbox (JSON list), besides the data "
        "dir and the local storage hosts' directories, e.g. where a remote agent mounts shared "
        "storage under another path.",
    )
    heartbeat_seconds: float = Field(
        alias="agent_heartbeat_seconds",
        default=5.0,
        gt=0,
        description="How often a remote agent reports to the manager.",
    )
    lost_seconds: float = Field(
        alias="agent_lost_seconds",
        default=30.0,
        gt=0,
        description="A remote agent silent this long is LOST: no new sessions go to it.",
    )
    fake_accelerators: str | None = Field(
        default=None,
        description='JSON list of fake GPUs, e.g. [{"model": "FakeGPU", "memory": "16g", '
        '"count": 2}]: they replace NVML for testing GPU scheduling.',
    )


class SandboxSettings(_Group):
    """What each session's sandbox is and what is kept ready."""

    # A dedicated id no host account is likely to have (1000 is usually the first real
    # user, who would then own the sandboxes' files and processes).
    work_uid: int = Field(default=64000, gt=0, description="uid of the sandbox user 'work'.")
    work_gid: int = Field(default=64000, gt=0)
    network: Literal["none", "egress"] = Field(
        alias="session_network",
        default="egress",
        description="What sessions reach over the network. Each session has its own network "
        "namespace (agent as root): none = its own loopback only; egress = outbound "
        "connections too, through pasta (Debian: passt), never to this host's addresses.",
    )
    kernel_pool_size: int = Field(
        default=1,
        ge=0,
        description="Pre-started sandboxed Jupyter kernels kept ready per Python image, so a "
        "new session's first cell need not wait for one to start; 0 disables the pool.",
    )
    pool_size: int = Field(
        alias="sandbox_pool_size",
        default=2,
        ge=0,
        description="Pre-built sandboxes (scratch dir, limits, network namespace, disk) kept "
        "ready per image, so a new session, batch or interactive, need not wait for them; "
        "0 disables the pool.",
    )


class ImageSettings(_Group):
    """The agent's container image store."""

    store_limit: str = Field(
        alias="image_store_limit",
        default="50g",
        pattern=SIZE_PATTERN,
        description="Disk the agent's container image store may use (layers as pulled): a "
        "pull that would pass it first deletes unused blobs, then the images used longest "
        "ago that no session runs in. 0: not limited.",
    )
    gc_interval: float = Field(
        alias="image_gc_interval",
        default=3600.0,
        ge=0,
        description="Seconds between the agent's image garbage collections: blobs, partial "
        "downloads and unpacked root file systems no image references are deleted (pulls in "
        "progress and images sessions run in are left alone). 0: only on demand "
        "(`hangar image gc`) and when a pull needs room.",
    )
    gc_unused_after: float = Field(
        alias="image_gc_unused_after",
        default=0.0,
        ge=0,
        description="Seconds after which an image no session used is forgotten by the "
        "scheduled collection (and its files deleted); it is pulled again when asked for. "
        "0: images stay until the store limit needs room.",
    )

    @property
    def store_limit_bytes(self) -> int:
        return parse_size(self.store_limit)


class SessionSettings(_Group):
    """Compute sessions: scheduling, defaults, timeouts."""

    scheduler_policy: str = Field(default="fifo", description="fifo, lifo or drf.")
    idle_timeout_seconds: float = Field(
        default=1800,
        ge=0,
        description="Idle timeout for keypair resource policies that set none (0 there); "
        "0 here: never.",
    )
    execute_flush_seconds: float = Field(
        default=2.0, gt=0, description="How long a polling execute call waits for output."
    )
    usage_flush_seconds: float = Field(
        default=5.0, gt=0, description="How often keypair query counters are written."
    )
    query_exec_timeout_seconds: float = Field(
        default=0,
        ge=0,
        description="Longest a query-mode cell may run before it is interrupted and its run "
        "ends with exec-timeout; 0: no limit.",
    )
    default_memory: str = Field(
        alias="session_default_memory",
        default="1g",
        pattern=SIZE_PATTERN,
        description="Memory of sessions whose request names none (binary units: 512m, 1g): "
        "enough for Jupyter, a notebook kernel and the query kernel. The image's minimum "
        "still applies when it is larger; 0: the image's minimum.",
    )
    default_disk: str = Field(
        alias="session_default_disk",
        default="10g",
        pattern=SIZE_PATTERN,
        description="Size of each session's scratch disk (/home/work) when the request names "
        "none (resource option `disk`): writes past it fail with ENOSPC. Needs an agent "
        "running as root with loop devices; elsewhere scratch dirs are not limited and the "
        "session's notes say so. 0: not limited.",
    )

    restart_backoff_seconds: float = Field(
        alias="session_restart_backoff_seconds",
        default=1.0,
        ge=0,
        description="Wait before a batch session's command is run again by its restart "
        "policy (on-failure, always); doubles with each restart in a row.",
    )
    restart_backoff_max_seconds: float = Field(
        alias="session_restart_backoff_max_seconds",
        default=60.0,
        ge=0,
        description="Longest wait between restarts; a run that lasted longer starts the "
        "back-off afresh.",
    )
    restart_limit: int = Field(
        alias="session_restart_limit",
        default=0,
        ge=0,
        description="Restarts in a row after which a session ends with its command's last "
        "result; 0: no limit.",
    )

    @property
    def default_disk_bytes(self) -> int:
        return parse_size(self.default_disk)
