"""Waiting for a session to start: a live timer while the server holds the request, and
one clear line when it does not start."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from rich.console import Console

from hangar.client import AsyncSession
from hangar.client.func.session import ComputeSession

FAILED = {"ERROR", "CANCELLED", "TERMINATED"}
CANCEL_TIMEOUT = 10.0
PROBE_EVERY = 1.0  # seconds between looks at why a session still waits
Probe = Callable[[], Awaitable[str]]


async def wait_for_start(
    create: Coroutine[Any, Any, ComputeSession],
    label: str,
    *,
    quiet: bool,
    probe: Probe | None = None,
) -> ComputeSession:
    """Await the create call, showing a spinner on stderr with the elapsed time and, from
    ``probe``, why the session waits (its status and pending reason)."""
    if quiet:
        return await create
    console = Console(stderr=True)
    started = time.monotonic()
    task = asyncio.ensure_future(create)
    why, looked = "", started
    try:
        with console.status(f"Starting a session ({label})...") as status:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                now = time.monotonic()
                if probe is not None and not task.done() and now - looked >= PROBE_EVERY:
                    looked, why = now, await _look(probe)
                status.update(f"Waiting for the session to start ({label})... "
                              f"{now - started:.0f}s{why}")  # fmt: skip
    finally:
        task.cancel()  # Ctrl+C: stop waiting for the answer
    return task.result()


async def _look(probe: Probe) -> str:
    with contextlib.suppress(Exception):  # the reason is a nicety; the timer goes on
        text = await asyncio.wait_for(probe(), PROBE_EVERY)
        return f" {text}" if text else ""
    return ""


async def pending_reason(session: AsyncSession, name: str) -> str:
    """``PENDING: not enough cpu on any agent``: the waiting session's status and why."""
    info = await session.ComputeSession(name).get_info()
    state = str(info.get("status") or "")
    reason = " ".join(str(info.get("statusInfo") or "").split())
    return f"{state}: {reason}" if state and reason else state


async def after_interrupt(session: AsyncSession, name: str, *, remove: bool) -> None:
    """Ctrl+C while a session was starting: cancel it (``remove``) or say where it stands."""
    if remove:
        with contextlib.suppress(Exception):  # it may not exist yet, or already be gone
            await asyncio.wait_for(session.ComputeSession(name).destroy(), CANCEL_TIMEOUT)
        Console(stderr=True).print(f"Interrupted; session {name} was cancelled.")
    else:
        Console(stderr=True).print(
            f"Interrupted; session {name} may still start (`hangar rm {name}` cancels it).",
            soft_wrap=True,
        )


def status_line(kern: ComputeSession) -> str:
    """What a session that is not running means for the user, in one line."""
    name = kern.name or kern.id
    reason = " ".join(kern.status_info.split())  # one line, even for multi-line reasons
    info = f" ({reason})" if reason else ""
    if kern.status == "PENDING":
        return f"Session {name} is queued{info}; it starts when resources free up."
    if kern.status == "SCHEDULED":
        return f"Session {name} is scheduled and preparing."
    if kern.status == "TIMEOUT":
        return (
            f"Session {name} did not start within --max-wait{info}; it stays queued "
            "(`hangar rm` to cancel it)."
        )
    return f"Session {name} did not start: {kern.status.lower()}{info or ' (no reason given)'}."


async def failure_reason(session: AsyncSession, kern: ComputeSession) -> str:
    """The server's status info for a session that failed to start (best effort)."""
    if kern.id is None:
        return ""
    query = "query($id: UUID!) { compute_session(id: $id) { status_info status_data } }"
    try:
        data = await session.Admin.query(query, {"id": str(kern.id)})
    except Exception:  # the reason is a nicety; the status line is printed regardless
        return ""
    info = (data or {}).get("compute_session") or {}
    return str(info.get("status_info") or "")
