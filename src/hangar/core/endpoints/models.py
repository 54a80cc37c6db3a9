"""Serverless endpoints and their workers as the core hands them out.

An endpoint keeps a wanted number of workers; each worker is a compute session of the
endpoint's owner (origin kind ``ENDPOINT_WORKER``, ref ``str(endpoint id)``) that runs the
endpoint's init command and serves on its exposed port.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from hangar.core.compute.ports import PortProtocol
from hangar.core.pods.models import DeviceChoice


class EndpointStatus(StrEnum):
    INITIALIZING = "INITIALIZING"  # wants workers, none answers yet
    RUNNING = "RUNNING"  # at least one worker answers (or none is wanted)
    STOPPING = "STOPPING"  # its workers are being removed
    STOPPED = "STOPPED"
    FAILED = "FAILED"  # its workers kept failing; status_info says why


class ServiceMode(StrEnum):
    ALB = "ALB"  # requests through the gateway
    QUEUE = "QUEUE"  # tasks dispatched to workers
    CUSTOM = "CUSTOM"  # workers only


class WorkerStatus(StrEnum):
    INITIALIZING = "INITIALIZING"  # placed or starting; its port does not answer yet
    RUNNING = "RUNNING"  # its port answers
    TERMINATING = "TERMINATING"  # being removed (drained, scaled down, replaced)
    TERMINATED = "TERMINATED"
    FAILED = "FAILED"  # died, or never answered in time; status_info says why


LIVE_WORKERS = frozenset({WorkerStatus.INITIALIZING, WorkerStatus.RUNNING})
ENDED_WORKERS = frozenset({WorkerStatus.TERMINATED, WorkerStatus.FAILED})


@dataclass(frozen=True, slots=True)
class Placement:
    """One acceptable place for a worker: a scaling group (region) and a device choice."""

    scaling_group: str
    gpu_type: str = ""  # the code the caller named (a face's word, kept for rendering)
    gpu_count: int = 0
    device: DeviceChoice | None = None  # None: no accelerator


@dataclass(frozen=True, slots=True)
class Scaling:
    """Optional autoscaling: between ``min_workers`` and ``max_workers`` by load (queued
    tasks + in-flight requests per worker), down to zero after ``idle_seconds`` of no load
    when ``min_workers`` is 0. ``max_workers`` 0: off, the endpoint keeps ``workers``."""

    min_workers: int = 0
    max_workers: int = 0
    idle_seconds: int = 300
    per_worker: int = 1  # load one worker is meant to carry

    @property
    def enabled(self) -> bool:
        return self.max_workers > 0


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """What each worker runs (stored with the endpoint; a change starts a rolling update)."""

    image: str
    placements: tuple[Placement, ...]
    image_registry: str = ""
    registry_auth_id: int | None = None
    disk_gb: int = 0
    cpu: int = 1
    memory_gb: int = 0
    env: tuple[tuple[str, str], ...] = ()
    init_command: str = ""
    port: int | None = None  # the exposed port (ALB: the service; else the health check)
    protocol: PortProtocol = PortProtocol.HTTP
    health_path: str = ""  # "": any HTTP answer on the port counts; else a 2xx on this path
    scaling: Scaling = Scaling()
    extras: dict[str, Any] = field(default_factory=dict)  # accepted, rendered back


@dataclass(frozen=True, slots=True)
class EndpointRequest:
    """A validated request for a new endpoint (the face translates its wire form)."""

    name: str
    mode: ServiceMode
    spec: EndpointSpec
    workers: int
    webhook: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointUpdate:
    """New values for an endpoint (None: keep). A new ``spec`` rolls the workers over."""

    name: str | None = None
    spec: EndpointSpec | None = None
    workers: int | None = None
    webhook: str | None = None
    clear_webhook: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    owner_uuid: uuid.UUID
    name: str
    mode: ServiceMode
    spec: EndpointSpec
    status: EndpointStatus
    status_info: str | None
    workers: int  # the count the owner asked for (scale / update)
    target: int  # the count wanted now (autoscaling moves it between min and max)
    total_workers: int  # live workers (initializing or running)
    running_workers: int
    webhook: str | None
    domain: str  # the endpoint's host label under the gateway's wildcard domain
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Worker:
    id: int
    endpoint_id: int
    status: WorkerStatus
    status_info: str | None
    session_id: uuid.UUID | None
    scaling_group: str
    gpu_type: str
    gpu_count: int
    generation: int  # the endpoint spec it runs (an update makes a new generation)
    created_at: datetime
    running_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkerTarget:
    """A RUNNING worker the gateway and the task dispatcher send to: open a connection to
    its port with ``EndpointService.connect(target)`` (inside the worker's own network,
    through its agent; there is no host:port on the server's network)."""

    worker_id: int
    endpoint_id: int
    session_id: uuid.UUID
    agent_id: str
    port: int  # the endpoint's exposed port; 0 when it exposes none


@dataclass(frozen=True, slots=True)
class WorkerChange:
    """A worker changed status (RUNNING, or ended: TERMINATING/TERMINATED/FAILED)."""

    endpoint_id: int
    worker_id: int
    status: WorkerStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a worker's log: when it was written and its position in the stream."""

    time: datetime
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class LogPage:
    entries: list[LogEntry]
    has_more: bool


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Which log lines: ``limit`` of them after (``backward``: before) the cursor (an
    offset, else a time), within [start, end], containing ``keyword``."""

    limit: int = 100
    after_offset: int | None = None
    after_time: datetime | None = None
    backward: bool = False
    start: datetime | None = None
    end: datetime | None = None
    keyword: str | None = None
