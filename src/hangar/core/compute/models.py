"""Compute session domain types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hangar.core.compute.states import SessionResult, SessionStatus, SessionType


@dataclass(frozen=True, slots=True)
class ComputeSession:
    id: uuid.UUID
    name: str
    access_key: str
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
    preopen_ports: tuple[int, ...] = ()  # ports it listens on, reached by the app proxy

    @property
    def kernel_id(self) -> uuid.UUID:
        return self.id


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A validated request for a new session (faces translate their wire forms to this)."""

    name: str
    image: str
    session_type: SessionType = SessionType.INTERACTIVE
    group_name: str = "default"
    domain_name: str = "default"
    scaling_group: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    environ: dict[str, str] = field(default_factory=dict)
    mounts: tuple[str, ...] = ()
    mount_map: dict[str, str] = field(default_factory=dict)  # vfolder name -> path
    startup_command: str | None = None
    bootstrap_script: str | None = None
    tag: str | None = None
    callback_url: str | None = None
    starts_at: datetime | str | None = None  # a time, or text: ISO 8601 or "30s"/"1h"/...
    cluster_size: int = 1
    cluster_mode: str = "single-node"
    architecture: str = "x86_64"
    enqueue_only: bool = False
    max_wait_seconds: float = 0
    reuse_if_exists: bool = True
    owner_access_key: str | None = None
    dependencies: tuple[str, ...] = ()  # ids or names of the owner's sessions
    resource_opts: dict[str, Any] = field(default_factory=dict)
    agent_list: tuple[str, ...] = ()  # agents to pin the session to (administrators only)
    preopen_ports: tuple[int | str, ...] = ()  # as sent: numbers or numeric strings


@dataclass(frozen=True, slots=True)
class CreateResult:
    session: ComputeSession
    created: bool
    status: str  # a SessionStatus value or "TIMEOUT"
