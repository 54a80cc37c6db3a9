"""Compute session domain types."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.compute.ports import PortSpec
from hangar.core.compute.states import SessionResult, SessionStatus, SessionType
from hangar.core.principal import Credential, Principal


class RestartPolicy(StrEnum):
    """What happens when a session's main process ends on its own."""

    NEVER = "never"  # it ends (a batch session terminates with its command's result)
    ON_FAILURE = "on-failure"
    ALWAYS = "always"


class OriginKind(StrEnum):
    """Who asked for a session and why."""

    BACKENDAI_REQUEST = "backendai-request"
    TEMPLATE = "template"  # a Backend.AI session template
    EXPERIMENT_TASK = "experiment-task"  # a queued task of an experiment queue
    POD = "pod"
    VM = "vm"
    ENDPOINT_WORKER = "endpoint-worker"


@dataclass(frozen=True, slots=True)
class Origin:
    kind: OriginKind = OriginKind.BACKENDAI_REQUEST
    ref: str | None = None  # the id of what asked (a task, a pod, an endpoint, a template)


@dataclass(frozen=True, slots=True)
class MountSpec:
    """A virtual folder to mount: by name, at ``/home/work/<path>`` (its name when None)."""

    folder: str
    path: str | None = None


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What a session runs, in the same terms for every face."""

    image: str
    resources: Mapping[str, Any] = field(default_factory=dict)  # slot name -> amount
    resource_opts: Mapping[str, Any] = field(default_factory=dict)  # shmem, disk
    env: Mapping[str, str] = field(default_factory=dict)
    command: str | None = None
    bootstrap_script: str | None = None
    mounts: tuple[MountSpec, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    restart: RestartPolicy = RestartPolicy.NEVER
    architecture: str = "x86_64"


@dataclass(frozen=True, slots=True)
class ComputeSession:
    """A compute session, owned by ``user_uuid`` in ``group_id`` (its project); ``credential``
    is the one it was created with, ``access_key`` that keypair's (None for other kinds)."""

    id: uuid.UUID
    name: str
    access_key: str | None
    credential: Credential
    user_uuid: uuid.UUID
    domain_name: str
    group_id: uuid.UUID
    scaling_group: str
    agent_id: str | None
    image_id: uuid.UUID
    image_ref: str
    session_type: SessionType
    status: SessionStatus
    status_info: str | None
    status_data: dict[str, Any] | None
    status_history: dict[str, str]
    status_changed: datetime
    result: SessionResult
    requested_slots: dict[str, str]
    occupied_slots: dict[str, str]
    device_allocations: list[dict[str, Any]]
    environ: dict[str, str]
    bootstrap_script: str | None
    startup_command: str | None
    tag: str | None
    callback_url: str | None
    created_at: datetime
    starts_at: datetime | None
    started_at: datetime | None
    terminated_at: datetime | None
    num_queries: int
    last_stat: dict[str, Any] | None
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    resource_opts: dict[str, str] = field(default_factory=dict)
    agent_list: tuple[str, ...] = ()
    mounts: tuple[dict[str, Any], ...] = ()  # vfolders as resolved at creation
    ports: tuple[PortSpec, ...] = ()  # ports it listens on, reached by the app proxy
    origin: Origin = Origin()
    restart_policy: RestartPolicy = RestartPolicy.NEVER

    @property
    def kernel_id(self) -> uuid.UUID:
        return self.id

    @property
    def spec(self) -> SessionSpec:
        """The session's spec as stored (slots as requested, mounts as resolved)."""
        return SessionSpec(
            image=self.image_ref,
            resources=self.requested_slots,
            resource_opts=self.resource_opts,
            env=self.environ,
            command=self.startup_command,
            bootstrap_script=self.bootstrap_script,
            mounts=tuple(MountSpec(str(m.get("name", "")), m.get("target")) for m in self.mounts),
            ports=self.ports,
            restart=self.restart_policy,
        )


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A validated request for a new session (faces translate their wire forms to this)."""

    name: str
    spec: SessionSpec
    origin: Origin = Origin()
    session_type: SessionType = SessionType.INTERACTIVE
    group_name: str = "default"
    domain_name: str = "default"
    scaling_group: str | None = None
    tag: str | None = None
    callback_url: str | None = None
    starts_at: datetime | str | None = None  # a time, or text: ISO 8601 or "30s"/"1h"/...
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    enqueue_only: bool = False
    max_wait_seconds: float = 0
    reuse_if_exists: bool = True
    owner: Principal | None = None  # the user the caller acts for (None: itself)
    dependencies: tuple[str, ...] = ()  # ids or names of the owner's sessions
    agent_list: tuple[str, ...] = ()  # agents to pin the session to (administrators only)


@dataclass(frozen=True, slots=True)
class CreateOutcome:
    """A created (or reused) session and where it stood when the create call returned."""

    session: ComputeSession
    created: bool
    status: SessionStatus
    timed_out: bool = False  # the wait asked for ended before the session settled
