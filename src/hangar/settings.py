"""Hangar settings: one object, built once at start-up and passed down.

Values come, in order of precedence, from keyword arguments, ``HANGAR_*`` environment
variables, and an optional TOML file named by ``HANGAR_CONFIG_FILE``. Every default works
on a laptop: an embedded SQLite database and local storage under ``data_dir``.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hangar.util.sizes import SIZE_PATTERN, parse_size


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hangar"


class StorageHostConfig(BaseModel):
    """One storage host: a local directory or a bucket (prefix) of an S3-compatible service."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "s3"] = "local"
    path: Path | None = Field(
        default=None, description="local: the directory (default <data_dir>/storage/<name>)."
    )
    endpoint_url: str | None = Field(default=None, description="s3: service URL.")
    bucket: str | None = Field(default=None, description="s3: bucket (created if missing).")
    prefix: str = Field(default="", description="s3: key prefix of every folder.")
    region: str = Field(default="us-east-1")
    access_key: str | None = None
    secret_key: SecretStr | None = None
    capacity_bytes: int | None = Field(
        default=None, ge=0, description="Reported capacity (s3 has none; local: the disk)."
    )


class Settings(BaseSettings):
    """Everything the server, the embedded agent and the local admin commands read."""

    model_config = SettingsConfigDict(env_prefix="HANGAR_", extra="ignore")

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Root of all state: database, storage, scratch dirs, logs, server key.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL. Default: SQLite (WAL) at <data_dir>/hangar.db. "
        "PostgreSQL: postgresql+asyncpg://user:pass@host/db",
    )
    host: str = Field(default="127.0.0.1", description="Bind address of the HTTP server.")
    port: int = Field(default=8090, ge=0, le=65535, description="Bind port (0 = pick a free one).")
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto "
        "headers are trusted ('*' for any). Empty: such headers are ignored.",
    )
    http_header_timeout_seconds: float = Field(
        default=20.0,
        ge=0,
        description="A connection that has not sent a complete request head within this "
        "time gets 408 and is closed (0: no limit). Idle keep-alive connections are not "
        "affected.",
    )
    http_max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request head (line + headers): 431."
    )
    http_max_headers: int = Field(
        default=100, ge=1, description="Most header lines in one request: 431."
    )
    http_max_connections_per_client: int = Field(
        default=256,
        ge=0,
        description="Open connections from one client address; more are refused with 503 "
        "(0: no cap). Addresses listed in forwarded_allow_ips are exempt.",
    )
    public_url: str | None = Field(
        default=None,
        description="URL clients should use; written to the client config. "
        "Default: http://<host>:<port>.",
    )
    log_format: LogFormat = Field(default=LogFormat.CONSOLE, description="console or json.")
    log_level: str = Field(default="INFO")
    server_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts stored secrets (urlsafe base64, 32 bytes). "
        "Default: generated once into <data_dir>/server.key.",
    )
    client_config_path: Path | None = Field(
        default=None,
        description="Where the first start writes the client config. "
        "Default: $XDG_CONFIG_HOME/hangar/client.toml.",
    )
    admin_email: str = Field(default="admin@hangar.local", description="First admin user.")
    clock_skew_seconds: int = Field(
        default=900,
        ge=1,
        description="Accepted difference between a request's Date and now; also how long a "
        "captured signed request can be replayed (the signature covers no nonce).",
    )
    auth_cache_seconds: float = Field(
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
    agent_runtime: str = Field(
        default="bubblewrap",
        description="Runtime of the embedded agent: bubblewrap (sandboxed), fake (no "
        "isolation; tests and demos only) or none (no embedded agent).",
    )
    agent_id: str | None = Field(default=None, description="Default: i-<hostname>.")
    fake_accelerators: str | None = Field(
        default=None,
        description='JSON list of fake GPUs, e.g. [{"model": "FakeGPU", "memory": "16g", '
        '"count": 2}]: they replace NVML for testing GPU scheduling.',
    )
    # A dedicated id no host account is likely to have (1000 is usually the first real
    # user, who would then own the sandboxes' files and processes).
    work_uid: int = Field(default=64000, gt=0, description="uid of the sandbox user 'work'.")
    work_gid: int = Field(default=64000, gt=0)
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
    session_default_memory: str = Field(
        default="1g",
        pattern=SIZE_PATTERN,
        description="Memory of sessions whose request names none (binary units: 512m, 1g): "
        "enough for Jupyter, a notebook kernel and the query kernel. The image's minimum "
        "still applies when it is larger; 0: the image's minimum.",
    )
    session_default_disk: str = Field(
        default="10g",
        pattern=SIZE_PATTERN,
        description="Size of each session's scratch disk (/home/work) when the request names "
        "none (resource option `disk`): writes past it fail with ENOSPC. Needs an agent "
        "running as root with loop devices; elsewhere scratch dirs are not limited and the "
        "session's notes say so. 0: not limited.",
    )
    disk_reserve: str = Field(
        default="1g",
        pattern=SIZE_PATTERN,
        description="Free space the data dir's file system keeps for the server's own files "
        "(database, logs): with less free, new sessions and uploads are refused with a clear "
        "error. 0: no check.",
    )
    image_store_limit: str = Field(
        default="50g",
        pattern=SIZE_PATTERN,
        description="Disk the agent's container image store may use (layers as pulled): a "
        "pull that would pass it first deletes unused blobs, then the images used longest "
        "ago that no session runs in. 0: not limited.",
    )
    image_gc_interval: float = Field(
        default=3600.0,
        ge=0,
        description="Seconds between the agent's image garbage collections: blobs, partial "
        "downloads and unpacked root file systems no image references are deleted (pulls in "
        "progress and images sessions run in are left alone). 0: only on demand "
        "(`hangar image gc`) and when a pull needs room.",
    )
    image_gc_unused_after: float = Field(
        default=0.0,
        ge=0,
        description="Seconds after which an image no session used is forgotten by the "
        "scheduled collection (and its files deleted); it is pulled again when asked for. "
        "0: images stay until the store limit needs room.",
    )
    session_network: Literal["none", "egress"] = Field(
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
    sandbox_pool_size: int = Field(
        default=2,
        ge=0,
        description="Pre-built sandboxes (scratch dir, limits, network namespace, disk) kept "
        "ready per image, so a new session, batch or interactive, need not wait for them; "
        "0 disables the pool.",
    )

    executor_enabled: bool = Field(
        default=True,
        description="Run the tasks of ClearML queues that Hangar serves (a queue's served_by) "
        "as batch sessions of their owners.",
    )
    executor_image: str = Field(
        default="python", description="Image of a queued task that names no container.image."
    )
    executor_scaling_group: str = Field(
        default="default", description="Scaling group of queues that name none."
    )
    executor_resource_preset: str | None = Field(
        default=None,
        description="Resource preset of queues that name none; none: the image's defaults.",
    )
    executor_max_running: int = Field(
        default=4, ge=1, description="Queued tasks Hangar runs at once (all its queues)."
    )
    executor_sdk_path: Path | None = Field(
        default=None,
        description="A site-packages directory holding the clearml SDK (and its dependencies), "
        "shown read-only in task sessions and importable there after the task's own "
        "packages; unset: tasks install clearml with their requirements.",
    )
    tracking_files_quota_bytes: int = Field(
        default=0,
        ge=0,
        description="Bytes the ClearML file server keeps per domain (company); uploads past "
        "it are refused (507 with the figures). 0: no quota beyond the disk reserve.",
    )
    tracking_task_timeout_seconds: float = Field(
        default=7200.0,
        gt=0,
        description="An in_progress ClearML task with no ping, event or change this long is "
        "stopped (status_reason 'Forced stop (non-responsive)').",
    )
    tracking_watchdog_seconds: float = Field(
        default=900.0, gt=0, description="How often silent in_progress tasks are looked for."
    )
    executor_wheel_dir: Path | None = Field(
        default=None,
        description="A directory of wheels shared read-only by task sessions: pip looks there "
        "first when it installs a task's requirements.",
    )
    executor_pip_offline: bool = Field(
        default=False,
        description="Install task requirements from executor_wheel_dir only (pip --no-index).",
    )
    executor_skip_requirements: bool = Field(
        default=False,
        description="Run tasks without installing their requirements (no venv): the image "
        "(and executor_sdk_path) must hold what they import.",
    )
    executor_local_repos: bool = Field(
        default=False,
        description="Let tasks name local paths and file:// URLs as their git repository "
        "(read by the server's user: for tests and single-user machines).",
    )

    agent_token: SecretStr | None = Field(
        default=None,
        description="Shared secret of the manager and its remote agents (`hangar agent`); "
        "default: generated once into <data_dir>/agent-token.",
    )
    agent_hidden_paths: list[Path] = Field(
        default_factory=list,
        description="More host paths hidden from every sandbox (JSON list), besides the data "
        "dir and the local storage hosts' directories, e.g. where a remote agent mounts shared "
        "storage under another path.",
    )
    agent_heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a remote agent reports to the manager."
    )
    agent_lost_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A remote agent silent this long is LOST: no new sessions go to it.",
    )

    storage_hosts: dict[str, StorageHostConfig] = Field(
        default_factory=dict,
        description='Storage hosts by name (JSON in HANGAR_STORAGE_HOSTS), e.g. {"nas": '
        '{"backend": "local", "path": "/srv/nas"}, "s3": {"backend": "s3", "endpoint_url": '
        '"http://127.0.0.1:8333", "bucket": "vfolders"}}. A "local" host under the data dir '
        "always exists unless configured otherwise.",
    )
    default_storage_host: str = Field(
        default="local", description="Host of new vfolders when the request names none."
    )
    volume_hosts: dict[str, str] = Field(
        default_factory=dict,
        description="The storage host of the GPU-cloud face's volumes by storage type (JSON in "
        'HANGAR_VOLUME_HOSTS), e.g. {"S3": "s3", "R2": "s3", "CEPH": "nas"}. Default: S3 and R2 '
        "on the first s3 host, CEPH and VENDOR on the local host.",
    )
    storage_token_seconds: float = Field(
        default=86400.0, gt=0, description="Lifetime of upload/download tokens."
    )
    storage_sweep_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often expired transfer tokens, staging files and old background "
        "tasks are cleaned up.",
    )
    endpoint_worker_start_seconds: float = Field(
        default=600.0, gt=0,
        description="A serverless worker whose port does not answer within this long after "
        "it was created fails (and is replaced).",
    )  # fmt: skip
    endpoint_max_failures: int = Field(
        default=3, ge=1,
        description="Workers of an endpoint failing this many times in a row (none answering "
        "in between) put the endpoint in FAILED with the last error.",
    )  # fmt: skip
    endpoint_backoff_seconds: float = Field(
        default=2.0, ge=0,
        description="Wait before replacing a failed worker; doubles with each failure in a "
        "row, at most 60 s.",
    )  # fmt: skip
    endpoint_check_seconds: float = Field(
        default=2.0, gt=0,
        description="How often the endpoints' loop checks workers (health checks, counts).",
    )  # fmt: skip
    endpoint_task_concurrency: int = Field(
        default=1, ge=1, le=64,
        description="QUEUE endpoints: tasks one worker is sent at once.",
    )  # fmt: skip
    endpoint_task_timeout_seconds: float = Field(
        default=600.0, gt=0,
        description="QUEUE endpoints: a task whose worker has not answered within this long "
        "fails.",
    )  # fmt: skip
    endpoint_task_lease_seconds: float = Field(
        default=30.0, gt=0,
        description="QUEUE endpoints: a task being sent by a server process that died goes "
        "back to the queue (once) this long after that process last renewed it.",
    )  # fmt: skip
    endpoint_webhook_retry_seconds: list[float] = Field(
        default=[60.0, 300.0, 900.0],
        description="QUEUE endpoints: waits before each retry of a failed webhook delivery "
        "(then MAX_RETRIES_EXCEEDED); a JSON list in the environment.",
    )  # fmt: skip
    endpoint_webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="QUEUE endpoints: one webhook attempt's time limit."
    )
    endpoint_domain: str = Field(
        default="localhost",
        description="The wildcard domain of serverless endpoints: endpoint X answers at "
        "<X's domain label>.<this>.",
    )  # fmt: skip
    endpoint_gateway_wait_seconds: float = Field(
        default=120.0, ge=0,
        description="How long a request through the serverless gateway waits for a RUNNING "
        "worker (a scaled-to-zero endpoint is woken, a starting one comes up) before 503.",
    )  # fmt: skip

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("HANGAR_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    # Derived locations -------------------------------------------------------------------

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'hangar.db'}"

    @property
    def server_key_path(self) -> Path:
        return self.data_dir / "server.key"

    @property
    def agent_token_path(self) -> Path:
        return self.data_dir / "agent-token"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def scratch_dir(self) -> Path:
        return self.data_dir / "scratch"

    @property
    def session_default_disk_bytes(self) -> int:
        return parse_size(self.session_default_disk)

    @property
    def image_store_limit_bytes(self) -> int:
        return parse_size(self.image_store_limit)

    @property
    def disk_reserve_bytes(self) -> int:
        return parse_size(self.disk_reserve)

    @property
    def resolved_client_config_path(self) -> Path:
        if self.client_config_path is not None:
            return self.client_config_path
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "hangar" / "client.toml"

    def url_for_clients(self, bound_port: int | None = None) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{bound_port or self.port}"

    def local_storage_roots(self) -> dict[str, Path]:
        """The directory of every local storage host (``local`` is always one)."""
        configs = {"local": StorageHostConfig(backend="local"), **self.storage_hosts}
        return {
            name: (config.path or self.storage_dir / name).expanduser().resolve()
            for name, config in configs.items()
            if config.backend == "local"
        }

    def sandbox_hidden_paths(self) -> tuple[Path, ...]:
        """What no sandbox may see: the data dir, every local storage host's directory (folders
        are bound in one by one) and ``agent_hidden_paths``."""
        roots = self.local_storage_roots().values()
        return (self.data_dir, *roots, *(p.expanduser().resolve() for p in self.agent_hidden_paths))

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.log_dir, self.storage_dir, self.scratch_dir):
            path.mkdir(parents=True, exist_ok=True)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; keyword arguments win over the environment and the file."""
    return Settings(**overrides)
