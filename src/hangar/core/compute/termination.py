"""Who finishes a termination when several server processes share one database.

Only the process that reaches a session's agent can destroy its kernel. A termination asked
of another process moves the session to TERMINATING without a lease (a hand-off); the
process holding the agent claims it in its next pass (:func:`repo.claim_terminating`) and
finishes it. The asking process waits for the outcome in the database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from enum import Enum

from sqlalchemy.ext.asyncio import async_sessionmaker

from hangar.core.compute import repo
from hangar.core.compute.models import ComputeSession
from hangar.core.compute.states import DEAD
from hangar.db.engine import DbSession

HANDOFF_WAIT = 15.0  # seconds a hand-off is waited for before the caller is answered
POLL = 0.05


class TerminationPlan(Enum):
    HERE = "here"  # this process reaches the agent (or the session has none)
    HAND_OFF = "hand-off"  # another process holds the agent: it finishes the termination
    WITHOUT_AGENT = "without-agent"  # the agent is gone: its kernel goes when it returns


def plan_termination(
    agent_id: str | None, connected: Collection[str], *, alive_elsewhere: bool
) -> TerminationPlan:
    """Pure: how a termination of a session on ``agent_id`` proceeds in this process."""
    if agent_id is None or agent_id in connected:
        return TerminationPlan.HERE
    return TerminationPlan.HAND_OFF if alive_elsewhere else TerminationPlan.WITHOUT_AGENT


async def wait_ended(
    sessions: async_sessionmaker[DbSession], session_id: uuid.UUID, wait: float = HANDOFF_WAIT
) -> ComputeSession | None:
    """The session once it has ended (TERMINATED or CANCELLED), or as it stands after
    ``wait`` seconds (None: it is gone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        async with sessions() as db:
            current = await repo.get(db, session_id)
        if current is None or current.status in DEAD or loop.time() >= deadline:
            return current
        await asyncio.sleep(POLL)
