"""Output of processes that outlive the agent (kept processes) is read from files as they
are written to, not by looking at them every few milliseconds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hangar.agent.runtimes import detached
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime

Kernels = Callable[..., Awaitable[Any]]


async def test_a_quiet_kept_process_costs_no_reads(
    runtime: BubblewrapRuntime, kernels: Kernels, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kernels(runtime, "k1")
    reads = 0
    read_more = detached._Tail.read_more

    def counted(tail: detached._Tail) -> bool:
        nonlocal reads
        reads += 1
        return read_more(tail)

    monkeypatch.setattr(detached._Tail, "read_more", counted)
    script = "echo a; sleep 1; echo b >&2; echo c"
    handle = await runtime.run("k1", ["/bin/sh", "-c", script], keep="quiet")
    out, err, status = await handle.communicate()
    assert (out, err, status.exit_code) == (b"a\nc\n", b"b\n", 0)
    assert reads < 60  # polling read its two files ~350 times in that second
