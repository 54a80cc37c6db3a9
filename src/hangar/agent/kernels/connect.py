"""Reaching a Jupyter kernel that listens inside its session's network namespace.

A kernel binds 127.0.0.1 of its session's own network, which the agent cannot reach from
its own. libzmq makes a context's TCP connections on the context's I/O threads, which
start with its first socket and keep the namespace of the thread that started them: so a
context started by a thread that has joined the session's namespace connects inside it,
and everything else (the client, its sockets, the event loop) stays where it is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import zmq
import zmq.asyncio

from hangar.agent.runtimes.network import run_in_netns


def _started_context() -> zmq.asyncio.Context:
    context = zmq.asyncio.Context()
    context.socket(zmq.PAIR).close(linger=0)  # starts the I/O threads, here
    return context


async def kernel_context(netns: Path | None) -> zmq.asyncio.Context | None:
    """A ZeroMQ context whose connections are made in the network namespace at ``netns``
    (see :meth:`KernelRuntime.netns`); None when there is none (use the shared context).
    The caller destroys it when done. Raises OSError."""
    if netns is None:
        return None
    return await asyncio.to_thread(run_in_netns, netns, _started_context)
