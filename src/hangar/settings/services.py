"""The groups of settings for the services on top of sessions: storage, queues, tracking,
serverless endpoints (see ``groups.py`` for how a group keeps its flat names)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hangar.settings.groups import _Group
from hangar.util.sizes import SIZE_PATTERN, parse_size


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


class StorageSettings(_Group):
    """Storage hosts, transfers and the data dir's reserve."""

    hosts: dict[str, StorageHostConfig] = Field(
        alias="storage_hosts",
        default_factory=dict,
        description='Storage hosts by name (JSON in HANGAR_STORAGE_HOSTS), e.g. {"nas": '
        '{"backend": "local", "path": "/srv/nas"}, "s3": {"backend": "s3", "endpoint_url": '
        '"http://127.0.0.1:8333", "bucket": "vfolders"}}. A "local" host under the data dir '
        "always exists unless configured otherwise.",
    )
    default_host: str = Field(
        alias="default_storage_host",
        default="local",
        description="Host of new vfolders when the request names none.",
    )
    volume_hosts: dict[str, str] = Field(
        default_factory=dict,
        description="The storage host of the GPU-cloud face's volumes by storage type (JSON in "
        'HANGAR_VOLUME_HOSTS), e.g. {"S3": "s3", "R2": "s3", "CEPH": "nas"}. Default: S3 and R2 '
        "on the first s3 host, CEPH and VENDOR on the local host.",
    )
    token_seconds: float = Field(
        alias="storage_token_seconds",
        default=86400.0,
        gt=0,
        description="Lifetime of upload/download tokens.",
    )
    sweep_seconds: float = Field(
        alias="storage_sweep_seconds",
        default=300.0,
        gt=0,
        description="How often expired transfer tokens, staging files and old background "
        "tasks are cleaned up.",
    )
    disk_reserve: str = Field(
        default="1g",
        pattern=SIZE_PATTERN,
        description="Free space the data dir's file system keeps for the server's own files "
        "(database, logs): with less free, new sessions and uploads are refused with a clear "
        "error. 0: no check.",
    )

    @property
    def disk_reserve_bytes(self) -> int:
        return parse_size(self.disk_reserve)


class ExecutorSettings(_Group):
    """ClearML queues that Hangar serves: how their tasks run."""

    enabled: bool = Field(
        alias="executor_enabled",
        default=True,
        description="Run the tasks of ClearML queues that Hangar serves (a queue's served_by) "
        "as batch sessions of their owners.",
    )
    image: str = Field(
        alias="executor_image",
        default="python",
        description="Image of a queued task that names no container.image.",
    )
    scaling_group: str = Field(
        alias="executor_scaling_group",
        default="default",
        description="Scaling group of queues that name none.",
    )
    resource_preset: str | None = Field(
        alias="executor_resource_preset",
        default=None,
        description="Resource preset of queues that name none; none: the image's defaults.",
    )
    max_running: int = Field(
        alias="executor_max_running",
        default=4,
        ge=1,
        description="Queued tasks Hangar runs at once (all its queues).",
    )
    sdk_path: Path | None = Field(
        alias="executor_sdk_path",
        default=None,
        description="A site-packages directory holding the clearml SDK (and its dependencies), "
        "shown read-only in task sessions and importable there after the task's own "
        "packages; unset: tasks install clearml with their requirements.",
    )
    wheel_dir: Path | None = Field(
        alias="executor_wheel_dir",
        default=None,
        description="A directory of wheels shared read-only by task sessions: pip looks there "
        "first when it installs a task's requirements.",
    )
    pip_offline: bool = Field(
        alias="executor_pip_offline",
        default=False,
        description="Install task requirements from executor_wheel_dir only (pip --no-index).",
    )
    skip_requirements: bool = Field(
        alias="executor_skip_requirements",
        default=False,
        description="Run tasks without installing their requirements (no venv): the image "
        "(and executor_sdk_path) must hold what they import.",
    )
    local_repos: bool = Field(
        alias="executor_local_repos",
        default=False,
        description="Let tasks name local paths and file:// URLs as their git repository "
        "(read by the server's user: for tests and single-user machines).",
    )


class TrackingSettings(_Group):
    """Experiment tracking (the ClearML face)."""

    files_quota_bytes: int = Field(
        alias="tracking_files_quota_bytes",
        default=0,
        ge=0,
        description="Bytes the ClearML file server keeps per domain (company); uploads past "
        "it are refused (507 with the figures). 0: no quota beyond the disk reserve.",
    )
    task_timeout_seconds: float = Field(
        alias="tracking_task_timeout_seconds",
        default=7200.0,
        gt=0,
        description="An in_progress ClearML task with no ping, event or change this long is "
        "stopped (status_reason 'Forced stop (non-responsive)').",
    )
    watchdog_seconds: float = Field(
        alias="tracking_watchdog_seconds",
        default=900.0,
        gt=0,
        description="How often silent in_progress tasks are looked for.",
    )
    files_user_quota_bytes: int = Field(
        alias="tracking_files_user_quota_bytes",
        default=0,
        ge=0,
        description="Bytes the ClearML file server keeps per user: the files of the tasks "
        "they own and their own. Uploads past it are refused (507). 0: no such quota.",
    )
    clearml_api_port: int = Field(
        default=0, ge=0, le=65535,
        description="Also listen on this port (ClearML's is 8008): the SDK given only "
        "CLEARML_API_HOST=http://host:8008 finds its web server at 8080 and file server at "
        "8081. 0: only HANGAR_PORT.",
    )  # fmt: skip
    clearml_web_port: int = Field(
        default=0, ge=0, le=65535,
        description="Also listen on this port (ClearML's web server: 8080) for the links the "
        "SDK prints. 0: none.",
    )  # fmt: skip
    clearml_files_port: int = Field(
        default=0, ge=0, le=65535,
        description="Also listen on this port (ClearML's file server: 8081), serving the "
        "file server at its root. 0: none.",
    )  # fmt: skip


class EndpointSettings(_Group):
    """Serverless endpoints, their workers, tasks and gateway."""

    worker_start_seconds: float = Field(
        alias="endpoint_worker_start_seconds",
        default=600.0, gt=0,
        description="A serverless worker whose port does not answer within this long after "
        "it was created fails (and is replaced).",
    )  # fmt: skip
    max_failures: int = Field(
        alias="endpoint_max_failures",
        default=3, ge=1,
        description="Workers of an endpoint failing this many times in a row (none answering "
        "in between) put the endpoint in FAILED with the last error.",
    )  # fmt: skip
    backoff_seconds: float = Field(
        alias="endpoint_backoff_seconds",
        default=2.0, ge=0,
        description="Wait before replacing a failed worker; doubles with each failure in a "
        "row, at most 60 s.",
    )  # fmt: skip
    check_seconds: float = Field(
        alias="endpoint_check_seconds",
        default=2.0, gt=0,
        description="How often the endpoints' loop checks workers (health checks, counts).",
    )  # fmt: skip
    task_concurrency: int = Field(
        alias="endpoint_task_concurrency",
        default=1, ge=1, le=64,
        description="QUEUE endpoints: tasks one worker is sent at once.",
    )  # fmt: skip
    task_timeout_seconds: float = Field(
        alias="endpoint_task_timeout_seconds",
        default=600.0, gt=0,
        description="QUEUE endpoints: a task whose worker has not answered within this long "
        "fails.",
    )  # fmt: skip
    task_lease_seconds: float = Field(
        alias="endpoint_task_lease_seconds",
        default=30.0, gt=0,
        description="QUEUE endpoints: a task being sent by a server process that died goes "
        "back to the queue (once) this long after that process last renewed it.",
    )  # fmt: skip
    task_retention_days: float = Field(
        alias="endpoint_task_retention_days",
        default=7.0, gt=0,
        description="QUEUE endpoints: a finished task (SUCCESS or FAILED, its webhook settled) "
        "is deleted this many days after it ended; its taskId may then be used again.",
    )  # fmt: skip
    webhook_retry_seconds: list[float] = Field(
        alias="endpoint_webhook_retry_seconds",
        default=[60.0, 300.0, 900.0],
        description="QUEUE endpoints: waits before each retry of a failed webhook delivery "
        "(then MAX_RETRIES_EXCEEDED); a JSON list in the environment.",
    )  # fmt: skip
    webhook_timeout_seconds: float = Field(
        alias="endpoint_webhook_timeout_seconds",
        default=10.0,
        gt=0,
        description="QUEUE endpoints: one webhook attempt's time limit.",
    )
    domain: str = Field(
        alias="endpoint_domain",
        default="localhost",
        description="The wildcard domain of serverless endpoints: endpoint X answers at "
        "<X's domain label>.<this>.",
    )  # fmt: skip
    gateway_wait_seconds: float = Field(
        alias="endpoint_gateway_wait_seconds",
        default=120.0, ge=0,
        description="How long a request through the serverless gateway waits for a RUNNING "
        "worker (a scaled-to-zero endpoint is woken, a starting one comes up) before 503.",
    )  # fmt: skip
