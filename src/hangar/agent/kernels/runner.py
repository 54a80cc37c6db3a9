"""The node's Jupyter kernels, one per (Python) kernel, keyed by the runtime's kernel id.

A kernel's Jupyter kernel is started when asked to (at session start, in the background)
or on its first cell, taken from the :class:`~hangar.agent.kernels.pool.KernelPool` where
one fits, and started again on the next cell after it died or had to be killed (its global
state is then lost, as with a restarted notebook kernel).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

from hangar.agent.kernels.jupyter import QueryKernel, QueryKernelFailed
from hangar.agent.kernels.messages import cursor_position
from hangar.agent.models import RunOutput
from hangar.agent.records import KernelRecords
from hangar.agent.runtimes.base import KernelRuntime


@dataclass
class _Entry:
    interpreter: str
    starting: asyncio.Task[QueryKernel]
    running: bool = False


class QueryKernels:
    """Jupyter kernels of one node. Every method may be called concurrently; cells of one
    kernel must be serialised by the caller."""

    def __init__(
        self,
        runtime: KernelRuntime,
        *,
        start_timeout: float = 60.0,
        interrupt_grace: float = 2.0,
        records: KernelRecords | None = None,
    ) -> None:
        """``records``: where the kernels' connections are written down (for a later node)."""
        self.records = records
        self.runtime, self.start_timeout, self.interrupt_grace = (
            runtime,
            start_timeout,
            interrupt_grace,
        )
        self._entries: dict[str, _Entry] = {}
        self._early_inputs: dict[str, list[str]] = {}  # sent before the kernel was up

    def prepare(self, kernel_id: str, interpreter: str) -> None:
        """Start the kernel's Jupyter kernel in the background (no-op if there is one)."""
        if kernel_id not in self._entries:
            task = asyncio.create_task(self._start(kernel_id, interpreter))
            self._entries[kernel_id] = _Entry(interpreter, task)

    def adopt(self, kernel_id: str, interpreter: str, kernel: QueryKernel, setup: str) -> None:
        """Use an already running ``kernel`` (from the pool) after running ``setup`` in it."""

        async def ready() -> QueryKernel:
            await kernel.run_silently(setup)
            await self._record(kernel_id, kernel)
            return kernel

        self._entries[kernel_id] = _Entry(interpreter, asyncio.create_task(ready()))

    def resume(self, kernel_id: str, interpreter: str, kernel: QueryKernel) -> None:
        """Use ``kernel``, which an earlier node started and :meth:`QueryKernel.attach`
        reached again."""
        done: asyncio.Future[QueryKernel] = asyncio.get_running_loop().create_future()
        done.set_result(kernel)
        self._entries[kernel_id] = _Entry(interpreter, asyncio.ensure_future(done))

    async def _start(self, kernel_id: str, interpreter: str) -> QueryKernel:
        kernel = await QueryKernel.start(
            self.runtime, kernel_id, interpreter, timeout=self.start_timeout
        )
        await self._record(kernel_id, kernel)
        return kernel

    async def _record(self, kernel_id: str, kernel: QueryKernel) -> None:
        if self.records is not None:
            await asyncio.to_thread(self.records.save_query, kernel_id, kernel.connection)

    async def get(self, kernel_id: str, interpreter: str) -> QueryKernel:
        """The live Jupyter kernel, started (again) if needed. Raises QueryKernelFailed."""
        entry = self._entries.get(kernel_id)
        if entry is not None and entry.starting.done():
            failed = entry.starting.cancelled() or entry.starting.exception() is not None
            if failed or entry.starting.result().broken:
                await self.discard(kernel_id)
                entry = None
        if entry is None:
            self.prepare(kernel_id, interpreter)
            entry = self._entries[kernel_id]
        try:
            return await asyncio.shield(entry.starting)
        except QueryKernelFailed:
            self._entries.pop(kernel_id, None)
            raise

    async def execute(
        self,
        kernel_id: str,
        interpreter: str,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    ) -> AsyncGenerator[RunOutput, None]:
        """Run one cell (see :meth:`QueryKernel.execute`). Raises QueryKernelFailed."""
        kernel = await self.get(kernel_id, interpreter)
        for line in self._early_inputs.pop(kernel_id, []):
            kernel.send_input(line)
        entry = self._entries[kernel_id]
        entry.running = True
        try:
            async with contextlib.aclosing(
                kernel.execute(code, timeout, self.interrupt_grace)
            ) as records:
                async for record in records:
                    yield record
        finally:
            entry.running = False

    def _live(self, kernel_id: str) -> QueryKernel | None:
        entry = self._entries.get(kernel_id)
        if entry is None or not entry.starting.done() or entry.starting.cancelled():
            return None
        if entry.starting.exception() is not None:
            return None
        return entry.starting.result()

    def running(self, kernel_id: str) -> bool:
        """Whether a cell runs in the kernel now."""
        entry = self._entries.get(kernel_id)
        return entry is not None and entry.running

    def send_input(self, kernel_id: str, text: str) -> None:
        """Answer (or queue an answer for) the running cell's ``input()``."""
        kernel = self._live(kernel_id)
        if kernel is not None:
            kernel.send_input(text)
        else:
            self._early_inputs.setdefault(kernel_id, []).append(text)

    def interrupt(self, kernel_id: str) -> bool:
        """Interrupt the running cell; False when none runs."""
        kernel = self._live(kernel_id)
        if kernel is None or not self.running(kernel_id):
            return False
        kernel.interrupt()
        return True

    async def complete(
        self, kernel_id: str, interpreter: str, code: str, options: Mapping[str, Any] | None
    ) -> list[str]:
        """Completion candidates (see :func:`cursor_position`). Raises QueryKernelFailed."""
        kernel = await self.get(kernel_id, interpreter)
        text, cursor = cursor_position(code, options)
        return await kernel.complete(text, cursor)

    async def discard(self, kernel_id: str) -> None:
        """Stop the kernel's Jupyter kernel, if any. Idempotent."""
        self._early_inputs.pop(kernel_id, None)
        entry = self._entries.pop(kernel_id, None)
        if entry is None:
            return
        if not entry.starting.done():
            entry.starting.cancel()
            await asyncio.wait([entry.starting])
        if not entry.starting.cancelled() and entry.starting.exception() is None:
            await entry.starting.result().close()
        if self.records is not None:
            await asyncio.to_thread(self.records.forget_query, kernel_id)

    async def close(self) -> None:
        """Stop every Jupyter kernel."""
        for kernel_id in list(self._entries):
            await self.discard(kernel_id)

    async def release(self) -> None:
        """Let go of every Jupyter kernel, leaving it running for a later node."""
        entries, self._entries = self._entries, {}
        for entry in entries.values():
            if not entry.starting.done():
                entry.starting.cancel()
                await asyncio.wait([entry.starting])
            elif not entry.starting.cancelled() and entry.starting.exception() is None:
                await entry.starting.result().close(kill=False)
