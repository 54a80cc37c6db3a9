"""What every part of the node shares: its limits, the state of one kernel, the node's
attributes (:class:`NodeState`, the base of :class:`~hangar.agent.node.Node`'s parts) and
the look-ups they all use."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hangar.agent.batch import Resume, RunSlot
from hangar.agent.console import DEFAULT_MAX_BYTES, ConsoleLog
from hangar.agent.images.node_images import NodeImages
from hangar.agent.kernels.pool import KernelPool, Pooled
from hangar.agent.kernels.runner import QueryKernels
from hangar.agent.models import BatchSteps, ImageRequest, KernelRequest
from hangar.agent.node_errors import UnknownKernel
from hangar.agent.records import KernelRecords
from hangar.agent.runtimes.base import KernelRuntime, KernelSpec
from hangar.agent.services import ServiceManager

BOOTSTRAP_FILE = "bootstrap.sh"
SERVICES_DIR = ".hangar-services"
POOL_QUIET_WAIT = 2.0  # longest a pool refill waits for the node to be idle
# A Jupyter kernel's start costs ~0.6 s of CPU: a pool refill waits until no session came,
# ran or went for IDLE_GAP seconds (at most IDLE_WAIT), not to slow down a burst of them.
IDLE_GAP = 0.5
IDLE_WAIT = 10.0
# A destroyed kernel's removal starts this much later: the answer to the destroy (a status
# written, a response sent) goes first instead of sharing the CPU with it.
REMOVAL_DELAY = 0.05
RECORDS_DIR = ".hangar-kernels"
# Images whose pre-built sandboxes the node keeps (the most recently used), and how long
# after its last session an image's are kept (see :mod:`hangar.agent.node_pools`).
POOLED_IMAGES = 2
POOLED_IMAGE_KEEP = 600.0


@dataclass(frozen=True, slots=True)
class NodeLimits:
    """Per-kernel defaults and file limits of a node."""

    pids_max: int = 512
    bootstrap_timeout: float = 300.0
    max_upload_bytes: int = 64 << 20
    max_download_bytes: int = 64 << 20
    console_max_bytes: int = DEFAULT_MAX_BYTES
    interrupt_grace: float = 2.0
    query_on_start: bool = False  # start an interactive Python kernel's Jupyter kernel
    query_start_timeout: float = 60.0
    query_pool_size: int = 0  # pre-started Jupyter kernels per interpreter (0: no pool)
    sandbox_pool_size: int = 0  # pre-built bare sandboxes per interpreter (0: no pool)
    # With query_on_start, how long a new kernel stays without a Jupyter kernel: a session
    # that runs one short command and goes (``backend.ai run``) never pays for one.
    query_start_delay: float = 0.5


@dataclass
class _Kernel:
    request: KernelRequest
    spec: KernelSpec
    console: ConsoleLog
    python: bool
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    run: RunSlot | None = None
    pooled: Pooled | None = None  # the pre-started Jupyter kernel it was made from
    left: tuple[BatchSteps, Resume] | None = None  # a kept run's step nobody follows now


def _writes_as_work_user(runtime: KernelRuntime) -> bool:
    """Whether files the node writes must be chowned to the work user: where the runtime
    says it runs privileged (no user namespace), else when the node runs as root."""
    privileged = getattr(getattr(runtime, "options", None), "privileged", None)
    return privileged if isinstance(privileged, bool) else os.geteuid() == 0


class NodeState:
    """The node's attributes its parts use (set by :class:`~hangar.agent.node.Node`)."""

    runtime: KernelRuntime
    scratch_root: Path
    log_dir: Path
    uid: int
    gid: int
    limits: NodeLimits
    _owner: tuple[int, int] | None
    _kernels: dict[str, _Kernel]
    _starting: set[str]
    _active_at: float
    pool: KernelPool | None
    sandboxes: KernelPool | None
    # pool key -> the image and the timer that lets its pre-built sandboxes go
    _pooled_images: dict[str, tuple[ImageRequest, asyncio.TimerHandle]]
    services: ServiceManager
    query: QueryKernels
    records: KernelRecords
    images: NodeImages

    def _get(self, kernel_id: uuid.UUID) -> _Kernel:
        try:
            return self._kernels[str(kernel_id)]
        except KeyError:
            raise UnknownKernel(f"No such kernel: {kernel_id}") from None

    def _log_path(self, key: str) -> Path:
        return self.log_dir / f"{key}.log"

    def _active(self) -> None:
        """Note session activity (a kernel starting, running a command, going)."""
        self._active_at = asyncio.get_running_loop().time()
