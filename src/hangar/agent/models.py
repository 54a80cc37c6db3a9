"""The agent's wire contract: what a node offers, what a kernel needs, what a run yields.

Plain data, one set for both ends: the node (embedded or behind ``hangar.agent.rpc``) speaks
it, and the core's ``AgentClient`` takes and returns these very types. Nothing else of hangar
is imported here (``hangar.util`` aside), so the core may import this module and no more.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One accelerator: ``id`` is what ``KernelRequest.gpu_devices`` names (the device UUID)."""

    id: str
    model: str
    memory_bytes: int
    shares: Decimal


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the node offers: ``slots`` has only ``cpu`` and ``mem`` (GPUs are ``devices``)."""

    agent_id: str
    slots: Mapping[str, Decimal]
    devices: tuple[DeviceInfo, ...] = ()
    architecture: str = "x86_64"
    version: str = ""
    addr: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """The node host's use now: CPU of each core in percent (100 = one core busy) and memory
    in bytes (its load, sessions and all)."""

    cpu_util: tuple[float, ...] = ()
    mem_used: int = 0
    mem_total: int = 0


@dataclass(frozen=True, slots=True)
class MountRequest:
    """A host directory bound into the kernel at ``target`` (read-only when asked)."""

    host_path: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True, slots=True)
class HomeFile:
    """A file written at ``path`` below /home/work before the kernel starts."""

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """A container image the kernel runs in: pulled from its registry unless the node holds
    it (``digest``, the manifest's, pins it). The credentials are the registry's, if any."""

    reference: str
    digest: str | None = None
    username: str | None = None
    password: str | None = None
    insecure: bool = False  # plain HTTP (loopback registries use it anyway)


@dataclass(frozen=True, slots=True)
class ImagePull:
    """A pull in progress on a node: bytes of the image's blobs present or fetched (``done``)
    of ``total``; ``phase`` is resolving, downloading, unpacking or done."""

    reference: str
    phase: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True, slots=True)
class KernelRequest:
    """Everything the node needs to start a session's kernel.

    ``interpreter`` is the image's Python (``python`` resolves to it in the kernel);
    ``interpreter_prefix`` a venv/conda prefix bound read-only, None for the host system.
    ``gpu_devices`` and the keys of ``gpu_shares`` are :attr:`DeviceInfo.id` values.
    """

    kernel_id: uuid.UUID
    session_name: str
    interpreter: str = "/usr/bin/python3"
    interpreter_prefix: Path | None = None
    image_labels: Mapping[str, str] = field(default_factory=dict)
    cpu: Decimal = Decimal(1)
    memory_bytes: int = 1 << 30
    gpu_devices: tuple[str, ...] = ()
    gpu_shares: Mapping[str, Decimal] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    bootstrap_script: str | None = None
    mounts: tuple[MountRequest, ...] = ()
    files: tuple[HomeFile, ...] = ()
    shmem_bytes: int | None = None  # size of /dev/shm; None: the runtime's default
    disk_bytes: int | None = None  # size of the scratch disk; None: the agent's default
    # Batch sessions (False) get no Jupyter kernel at start: none pre-started, none pooled.
    interactive: bool = True
    image: ImageRequest | None = None  # None: the host system (or interpreter_prefix)


@dataclass(frozen=True, slots=True)
class BatchSteps:
    """Shell commands of a batch run; None/"" skips a step, "*" takes the image default.

    ``timeout`` bounds the whole run in seconds (None or <= 0: no limit). ``build_log`` is carried
    for the core; the node always streams build output (it precedes ``build-finished``).
    """

    clean: str | None = None
    build: str | None = None
    exec: str | None = None
    build_log: bool = False
    timeout: float | None = None


OutputKind = Literal[
    "stdout",
    "stderr",
    "media",
    "html",
    "waiting-input",
    "clean-finished",
    "build-finished",
    "finished",
    "exec-timeout",
]


@dataclass(frozen=True, slots=True)
class RunOutput:
    """One record of a run: console text, or a step/run end with its exit code.

    Query runs add ``media`` (``mime`` and the data in ``text``: a data URI, SVG XML or a
    drawing's JSON), ``html`` and ``waiting-input`` (``text`` is the prompt, ``password``
    whether to hide the answer).
    """

    kind: OutputKind
    text: str = ""
    exit_code: int | None = None
    mime: str = ""
    password: bool = False


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One directory entry as the session file listing reports it (times in epoch seconds)."""

    filename: str
    size: int
    mode: str
    ctime: float
    mtime: float
    atime: float


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """The seed's Container Stats Object: cpu in ms, everything else in bytes."""

    cpu_used: int = 0
    mem_max_bytes: int = 0
    mem_cur_bytes: int = 0
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    io_read_bytes: int = 0
    io_write_bytes: int = 0
    io_max_scratch_size: int = 0
    io_cur_scratch_size: int = 0
    io_scratch_limit: int = 0  # the scratch disk's size; 0: not limited
