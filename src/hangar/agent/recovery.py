"""A node taking over what an earlier node on this host left: kernels outlive the agent.

Every kernel that was up (its request record is written once it is) is recovered through
the runtime (scratch dir, limits, network). Its Jupyter kernel, if it had one, is reached
again with the saved connection (:meth:`QueryKernel.attach`); a batch run's step that
outlived the node is kept for the next :meth:`Node.run_batch` of the same steps to follow.
A kernel whose sandbox is gone, or whose Jupyter kernel died meanwhile (its globals are
lost), is removed with the reason in its console log: the core then ends its session.
Pre-started pool kernels are never taken over: what is left of them is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from hangar.agent.console import ConsoleLog
from hangar.agent.errors import AgentError, KernelNotFound
from hangar.agent.kernels.jupyter import KEEP_NAME, QueryKernel, QueryKernelFailed
from hangar.agent.kernels.pool import POOL_PREFIX
from hangar.agent.records import RUN_PROCESS
from hangar.agent.runtimes.base import RunningProcess
from hangar.agent.runtimes.scratch import remove_tree
from hangar.agent.specs import remove_shim, shim_dir

if TYPE_CHECKING:
    from hangar.agent.node import Node, _Kernel

log = logging.getLogger("hangar.agent")
ALIVE_CHECK = 0.2  # seconds a re-attached process gets to show it has ended already


class KernelLost(Exception):
    """The kernel cannot be taken over; the message says why."""


async def _ended(process: RunningProcess) -> str | None:
    """How ``process`` ended, None while it runs."""
    try:
        async with asyncio.timeout(ALIVE_CHECK):
            status = await process.wait()
    except TimeoutError:
        return None
    return status.message


async def sweep_pool(node: Node) -> None:
    """Remove pre-started kernels an earlier node left (scratch dir, shim, limits, files)."""
    leftovers = sorted(p.name for p in node.scratch_root.glob(POOL_PREFIX + "*"))
    shims = shim_dir(node.scratch_root, POOL_PREFIX).parent
    for place in (shims, node.services.root):
        found = (p.name for p in place.glob(POOL_PREFIX + "*"))
        leftovers += sorted(name for name in found if name not in leftovers)
    for key in leftovers:
        with contextlib.suppress(AgentError, OSError):
            await node.runtime.destroy(key, remove_scratch=True)
        await asyncio.to_thread(remove_tree, node.scratch_root / key)
        await asyncio.to_thread(remove_shim, shim_dir(node.scratch_root, key))
        await asyncio.to_thread(node.services.remove_files, key)
    if leftovers:
        log.info("removed %d pre-started kernel(s) left by an earlier agent", len(leftovers))


async def _query(node: Node, kernel: _Kernel) -> None:
    key = kernel.spec.kernel_id
    connection = await asyncio.to_thread(node.records.query, key)
    if connection is None:
        return  # no Jupyter kernel was running: nothing to lose
    process = await node.runtime.reattach(key, KEEP_NAME)
    ended = "it left no process" if process is None else await _ended(process)
    if ended is not None:
        raise KernelLost(f"its Jupyter kernel ended while the agent was down ({ended})")
    assert process is not None
    try:
        query = await QueryKernel.attach(node.runtime, key, process, connection)
    except QueryKernelFailed as exc:
        process.kill()
        raise KernelLost(f"its Jupyter kernel does not answer: {exc}") from exc
    node.query.resume(key, kernel.request.interpreter, query)


async def _run(node: Node, kernel: _Kernel) -> None:
    key = kernel.spec.kernel_id
    run = await asyncio.to_thread(node.records.run, key)
    if run is None:
        return
    process = await node.runtime.reattach(key, RUN_PROCESS)
    if process is not None:
        kernel.left = (run.steps, (run.step, process))


async def _recover(node: Node, key: str) -> None:
    request = await asyncio.to_thread(node.records.request, key)
    if request is None:
        raise KernelLost("its record is unreadable")
    kernel = node._new_kernel(request)
    try:
        await node.runtime.recover(kernel.spec)
    except (KernelNotFound, OSError) as exc:
        raise KernelLost(str(exc)) from exc
    node.services.recover(kernel.spec, interpreter=request.interpreter, python=kernel.python)
    await _query(node, kernel)
    await _run(node, kernel)
    node._kernels[key] = kernel


async def recover_kernels(node: Node) -> None:
    """Recover every recorded kernel of ``node`` (see the module)."""
    await sweep_pool(node)
    for key in await asyncio.to_thread(node.records.keys):
        try:
            await _recover(node, key)
        except Exception as exc:  # one kernel that cannot be taken over stops no other
            if not isinstance(exc, KernelLost):
                log.exception("kernel %s: cannot be taken over", key)
            message = f"the kernel was lost while the agent was down: {exc}"
            log.warning("kernel %s: %s", key, message)
            node._kernels.pop(key, None)
            console = ConsoleLog(node._log_path(key), node.limits.console_max_bytes)
            await asyncio.to_thread(console.append, f"\n[hangar] {message}\n")
            await node._remove(key)
            continue
        log.info("kernel %s: taken over from an earlier agent", key)
