"""Kept-alive connections to workers: after an answer that ended cleanly on a connection
the worker keeps open, the connection waits here for the next request to that worker (at
most ``IDLE_SECONDS``, shorter than the usual server keep-alive of 5 s, and at most
``PER_WORKER`` of them). Opening a connection to a worker costs a trip into its network
namespace through its agent; a kept one costs nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time

from hangar.core.agents.client import AppStream

IDLE_SECONDS = 2.0
PER_WORKER = 64


async def _close(stream: AppStream) -> None:
    with contextlib.suppress(Exception):
        await stream.close()


class Connections:
    def __init__(self, idle_seconds: float = IDLE_SECONDS, per_worker: int = PER_WORKER) -> None:
        self._idle, self._most = idle_seconds, per_worker
        self._kept: dict[int, list[tuple[AppStream, float]]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def _drop(self, stream: AppStream) -> None:
        task = asyncio.ensure_future(_close(stream))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def take(self, worker_id: int) -> AppStream | None:
        """The most recently kept connection to the worker, or None."""
        kept = self._kept.get(worker_id)
        now = time.monotonic()
        while kept:
            stream, since = kept.pop()
            if now - since < self._idle:
                return stream
            self._drop(stream)
            for old, _ in kept:  # older still: all stale
                self._drop(old)
            kept.clear()
        return None

    def give(self, worker_id: int, stream: AppStream) -> None:
        kept = self._kept.setdefault(worker_id, [])
        if len(kept) >= self._most:
            self._drop(stream)
            return
        kept.append((stream, time.monotonic()))

    def forget(self, worker_id: int) -> None:
        """Close the worker's kept connections (it failed or went away)."""
        for stream, _ in self._kept.pop(worker_id, []):
            self._drop(stream)
