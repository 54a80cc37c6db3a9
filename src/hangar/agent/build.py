"""Building this machine's node from the settings: the runtime, the limits, the pool."""

from __future__ import annotations

import logging
import os

from hangar.agent.errors import SandboxUnavailable
from hangar.agent.images.node_images import GcPolicy
from hangar.agent.node import Node, NodeLimits
from hangar.agent.runtimes.base import KernelRuntime
from hangar.agent.runtimes.bubblewrap import BubblewrapConfig, BubblewrapRuntime
from hangar.agent.runtimes.fake import FakeRuntime
from hangar.agent.runtimes.network import NetworkPolicy
from hangar.settings import Settings

log = logging.getLogger("hangar.agent")
HOST_PYTHON = "/usr/bin/python3"


def _runtime(settings: Settings) -> KernelRuntime:
    if settings.agent.runtime == "fake":
        log.warning("the agent runs kernels WITHOUT a sandbox (agent_runtime=fake)")
        return FakeRuntime()
    config = BubblewrapConfig(
        state_dir=settings.data_dir / "agent", hidden_paths=settings.sandbox_hidden_paths(),
        network=NetworkPolicy(settings.sandbox.network),
        scratch_disk_bytes=settings.sessions.default_disk_bytes or None,
    )  # fmt: skip
    return BubblewrapRuntime.start(config)


def build_node(settings: Settings, *, addr: str = "") -> Node | None:
    """The node per settings, or None when the runtime is ``none`` or the sandbox cannot
    start here (logged)."""
    if settings.agent.runtime == "none":
        return None
    try:
        runtime = _runtime(settings)
    except SandboxUnavailable as exc:
        log.error("no agent: the sandbox cannot start here: %s", exc)
        return None
    node = Node(
        runtime, scratch_root=settings.scratch_dir, log_dir=settings.log_dir / "kernels",
        uid=settings.sandbox.work_uid, gid=settings.sandbox.work_gid,
        agent_id=settings.agent.id, addr=addr,
        fake_accelerators=settings.agent.fake_accelerators,
        limits=NodeLimits(
            query_on_start=True, query_pool_size=settings.sandbox.kernel_pool_size,
            sandbox_pool_size=settings.sandbox.pool_size,
        ),
    )  # fmt: skip
    node.images.limit_bytes = settings.images.store_limit_bytes or None
    node.images.gc_policy = GcPolicy(
        settings.images.gc_interval, settings.images.gc_unused_after or None
    )
    return node


def warm_pool(node: Node) -> None:
    """Start filling the node's kernel pool for the built-in python image's interpreter and
    the scheduled image garbage collection (in the background: call it with the event loop
    running)."""
    node.images.start_gc(node.images.gc_policy)
    if os.access(HOST_PYTHON, os.X_OK):
        node.warm_pool([HOST_PYTHON])
