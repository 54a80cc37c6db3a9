"""The node's runs: batch runs (clean -> build -> exec, see :mod:`hangar.agent.batch`),
query cells in the kernel's Jupyter kernel, their input, completion and interrupts."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from hangar.agent.batch import BatchRunner, Resume, RunSlot, plan
from hangar.agent.errors import KernelNotFound
from hangar.agent.images.runner import query_python, query_refusal
from hangar.agent.interrupts import interrupt_group
from hangar.agent.kernels.jupyter import QueryKernelFailed
from hangar.agent.models import BatchSteps, RunOutput
from hangar.agent.node_errors import UnknownKernel
from hangar.agent.node_state import NodeState, _Kernel
from hangar.agent.records import RunRecord
from hangar.agent.runtimes.rootfs import kernel_shell


class NodeRuns(NodeState):
    """Part of :class:`~hangar.agent.node.Node`: runs in its kernels."""

    async def interrupt(self, kernel_id: uuid.UUID) -> None:
        """SIGINT the active step (its sandboxed processes, see :mod:`.interrupts`) and end
        the run; kill the step if it still runs after ``interrupt_grace`` seconds. No error
        when idle. Raises UnknownKernel."""
        kernel = self._get(kernel_id)
        if self.query.interrupt(kernel.spec.kernel_id):
            return
        slot = kernel.run
        if slot is None:
            return
        slot.stopping = True
        process = slot.process
        if process is None or slot.interrupter is not None:
            return
        interrupt_group(process.pid)  # a /proc scan: quick, and no await before the guard

        async def escalate() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self.limits.interrupt_grace)
                return
            process.kill()

        slot.interrupter = asyncio.create_task(escalate())

    async def run_batch(
        self, kernel_id: uuid.UUID, steps: BatchSteps
    ) -> AsyncGenerator[RunOutput, None]:
        """Run clean -> build -> exec in /home/work (see :mod:`hangar.agent.batch`); yields
        stdout/stderr chunks as they arrive, ``clean-finished``/``build-finished`` after
        steps that ran, and ends with ``finished`` or ``exec-timeout``. Runs of one kernel
        are serialised. Close the iterator (``aclosing``) when stopping early: that kills the
        step. Raises UnknownKernel (also when destroyed while waiting), NodeError."""
        kernel = self._get(kernel_id)
        async with kernel.lock:
            if self._kernels.get(kernel.spec.kernel_id) is not kernel:
                raise UnknownKernel(f"No such kernel: {kernel_id}")
            slot = kernel.run = RunSlot()
            self._active()
            runner = self._runner(kernel, slot, steps)
            resume = await self._resumed(kernel, steps)
            try:
                async with contextlib.aclosing(
                    runner.run(plan(steps, python=kernel.python), steps.timeout, resume)
                ) as records:
                    async for record in records:
                        yield record
            except KernelNotFound as exc:
                raise UnknownKernel(f"No such kernel: {kernel_id}") from exc
            finally:
                kernel.run = None
                kernel.left = (steps, runner.left) if runner.left is not None else None
                self._active()

    def _runner(self, kernel: _Kernel, slot: RunSlot, steps: BatchSteps) -> BatchRunner:
        """A batch session's steps outlive the node; an interactive session's runs do not."""
        key = kernel.spec.kernel_id

        async def keep(index: int) -> None:
            await asyncio.to_thread(self.records.save_run, key, RunRecord(steps, index))

        kept = None if kernel.request.interactive else keep
        shell = kernel_shell(kernel.spec)  # an image without bash: sh, or Hangar's
        return BatchRunner(self.runtime, key, slot, kernel.console.record, keep=kept, shell=shell)

    async def _resumed(self, kernel: _Kernel, steps: BatchSteps) -> Resume | None:
        """The step left running by an earlier consumer of the same run (or an earlier node),
        to be followed; one of another run is killed first."""
        left, kernel.left = kernel.left, None
        if left is None:
            return None
        if left[0] == steps:
            return left[1]
        left[1][1].kill()
        await left[1][1].wait()
        return None

    def _python(self, kernel_id: uuid.UUID) -> _Kernel:
        kernel = self._get(kernel_id)
        if not kernel.python:
            raise QueryKernelFailed("Query mode needs a Python image; use batch mode.")
        refused = query_refusal(kernel.spec.image.rootfs)  # an image's Python may not run it
        if refused is not None:
            raise QueryKernelFailed(refused)
        return kernel

    async def run_query(
        self,
        kernel_id: uuid.UUID,
        code: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the cell's limit
    ) -> AsyncGenerator[RunOutput, None]:
        """Run ``code`` in the kernel's Jupyter kernel (global state kept between cells);
        yields console records, ``waiting-input`` when it reads stdin (answer with
        :meth:`send_input`), and ends with ``finished`` or ``exec-timeout``. Runs of one
        kernel are serialised with batch runs; their console text also goes to the console
        log. Raises UnknownKernel, QueryKernelFailed."""
        kernel = self._python(kernel_id)
        async with kernel.lock:
            if self._kernels.get(kernel.spec.kernel_id) is not kernel:
                raise UnknownKernel(f"No such kernel: {kernel_id}")
            interpreter = query_python(kernel.spec, kernel.request.interpreter)
            self._active()
            async with contextlib.aclosing(
                self.query.execute(kernel.spec.kernel_id, interpreter, code, timeout)
            ) as records:
                async for record in records:
                    kernel.console.record(record)
                    yield record

    async def send_input(self, kernel_id: uuid.UUID, text: str) -> None:
        """Answer the running cell's ``input()`` (kept for the next one when none waits).
        Raises UnknownKernel."""
        self.query.send_input(self._get(kernel_id).spec.kernel_id, text)

    async def complete(
        self, kernel_id: uuid.UUID, code: str, options: Mapping[str, Any] | None = None
    ) -> list[str]:
        """Completion candidates for ``code`` (also while a cell runs); [] for non-Python
        images. Raises UnknownKernel, QueryKernelFailed."""
        kernel = self._get(kernel_id)
        if not kernel.python:
            return []
        key = kernel.spec.kernel_id
        interpreter = query_python(kernel.spec, kernel.request.interpreter)
        return await self.query.complete(key, interpreter, code, options)
