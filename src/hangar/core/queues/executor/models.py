"""The executor's values and what it needs from the queues part, as protocols."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hangar.core.principal import ADMIN_SCOPE, Credential, CredentialKind, Principal, Role
from hangar.core.queues.executor import workspace as ws

SYSTEM = Principal(
    user_uuid=uuid.UUID(int=0), email="executor@hangar.local", domain_name="default",
    role=Role.SUPERADMIN, credential=Credential(CredentialKind.BAI_KEYPAIR, "hangar-executor"),
    scopes=frozenset({ADMIN_SCOPE}),
)  # fmt: skip
"""Who the executor is when it reads and moves tasks (of every domain)."""


@dataclass(frozen=True, slots=True)
class ServedQueue:
    """A queue Hangar serves, with where its tasks run (None: the settings' defaults)."""

    id: str
    name: str
    scaling_group: str | None = None
    resource_preset: str | None = None
    task_ids: tuple[str, ...] = ()  # the tasks waiting in it


@dataclass(frozen=True, slots=True)
class Popped:
    task_id: str
    queue_id: str


class QueueFeed(Protocol):
    """The queues part as the executor needs it."""

    async def served(self) -> list[ServedQueue]: ...

    async def pop(self, queue_id: str) -> Popped | None: ...

    async def put_back(self, queue_id: str, task_id: str) -> None: ...

    async def ensure_defaults(self) -> None:
        """Every domain has its default queue (one created since the last call too)."""


class WorkerReports(Protocol):
    """The workers registry: the executor shows as worker ``hangar:<scaling group>``."""

    async def report(
        self, owner: Principal, name: str, *, queue_ids: list[str], task_id: str | None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run as the database keeps it for the hand-off between server processes."""

    task_id: str
    user: uuid.UUID
    domain: str
    worker: str
    queue_id: str | None
    access_key: str
    session_id: uuid.UUID | None
    home: str  # host and data dir of the run's directory
    started: datetime


@dataclass
class Run:
    task_id: str
    owner: Principal
    worker: str
    files: ws.RunFiles
    access_key: str
    session_id: uuid.UUID | None = None
    exit_code: int | None = None
    stopping: bool = False
    domain: str = "default"
    queue_ids: list[str] = field(default_factory=list)
    remote: bool = False  # its session runs on a remote agent (the files shipped there)
