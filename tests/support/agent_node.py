"""Helpers for the node's tests: a node on a given runtime, requests, run collection."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from hangar.agent.models import BatchSteps, ImageRequest, KernelRequest, RunOutput
from hangar.agent.node import Node, NodeLimits
from hangar.agent.resources.fake import parse_fake_accelerators
from hangar.agent.resources.inventory import AgentInventory
from hangar.agent.runtimes.base import KernelRuntime

FAKE_GPUS = parse_fake_accelerators([{"model": "FakeGPU-16G", "memory": "16g", "count": 2}])
INVENTORY = AgentInventory(
    {
        "cpu": Decimal(4),
        "mem": Decimal(8 << 30),
        "cuda.device": Decimal(2),
        "cuda.shares": Decimal(2),
    },
    FAKE_GPUS,
    ("2 fake accelerator(s) configured; NVML not consulted",),
)


def make_node(runtime: KernelRuntime, root: Path, **limits: Any) -> Node:
    """A node keeping scratch dirs under ``root/scratch`` and logs under ``root/logs``."""
    return Node(
        runtime,
        scratch_root=root / "scratch",
        log_dir=root / "logs",
        agent_id="i-test",
        inventory=INVENTORY,
        limits=NodeLimits(**limits),
    )


def request(**fields: Any) -> KernelRequest:
    """A request for a new kernel id (host python, 1 core, 1 GiB unless given)."""
    fields.setdefault("session_name", "sess")
    return KernelRequest(kernel_id=fields.pop("kernel_id", uuid.uuid4()), **fields)


async def collect(node: Node, kernel_id: uuid.UUID, steps: BatchSteps) -> list[RunOutput]:
    """Every record of one run."""
    async with contextlib.aclosing(node.run_batch(kernel_id, steps)) as records:
        return [record async for record in records]


def text(records: list[RunOutput], kind: str) -> str:
    """The concatenated text of the ``kind`` chunks."""
    return "".join(r.text for r in records if r.kind == kind)


def ends(records: list[RunOutput]) -> list[tuple[str, int | None]]:
    """The non-text records, in order."""
    return [(r.kind, r.exit_code) for r in records if r.kind not in ("stdout", "stderr")]


@contextlib.asynccontextmanager
async def running_node(runtime: KernelRuntime, root: Path, **limits: Any) -> AsyncIterator[Node]:
    """:func:`make_node`'s node; at the end its kernels are destroyed and removed."""
    node = make_node(runtime, root, **limits)
    try:
        yield node
    finally:
        for kernel_id in node.kernel_ids():
            await node.destroy_kernel(kernel_id)
        await node.settle()


async def image_kernel(node: Node, registry_host: str, tag: str, **fields: Any) -> uuid.UUID:
    """A new kernel of ``img/<tag>:latest`` from a test registry (``fields`` as for
    :func:`request`); returns its id."""
    image = ImageRequest(f"{registry_host}/img/{tag}:latest", insecure=True)
    creation = request(image=image, **fields)
    await node.create_kernel(creation)
    return creation.kernel_id
