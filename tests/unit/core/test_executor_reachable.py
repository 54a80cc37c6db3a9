"""Which served queues a server process pops: its own agent's group always; a remote group
only while one of that group's agents reports to this process (it ships the runs' files)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hangar.core.agents.models import AgentRecord
from hangar.core.queues.executor.models import ServedQueue
from hangar.core.queues.executor.runs import reachable


class Agents:
    def __init__(self, *groups: str) -> None:
        now = datetime.now(UTC)
        self.records = [
            AgentRecord(f"i-{n}", "ALIVE", group, True, {}, [], "", "x86_64", "1", now, now)
            for n, group in enumerate(groups)
        ]
        self.calls = 0

    async def alive(self, *, anywhere: bool = False) -> list[AgentRecord]:
        self.calls += 1
        return self.records


QUEUES = [ServedQueue("d", "default"), ServedQueue("f", "farm", scaling_group="farm"),
          ServedQueue("g", "gpus", scaling_group="gpus")]  # fmt: skip


async def test_remote_groups_are_served_only_with_one_of_their_agents_here() -> None:
    found = await reachable(QUEUES, "default", Agents("default", "farm"), own="i-own")
    assert [q.id for q in found] == ["d", "f"]
    found = await reachable(QUEUES, "default", Agents(), own="i-own")
    assert [q.id for q in found] == ["d"]  # its own agent's group in any case


async def test_own_group_queues_need_no_lookup() -> None:
    agents: Any = Agents()
    assert await reachable(QUEUES[:1], "default", agents, own="i-own") == QUEUES[:1]
    assert agents.calls == 0
    assert await reachable(QUEUES, "default", None, own=None) == QUEUES  # no agent service


async def test_without_an_agent_of_its_own_a_server_serves_its_remote_agents_groups() -> None:
    found = await reachable(QUEUES, "default", Agents("gpus"), own=None)
    assert [q.id for q in found] == ["g"]
    found = await reachable(QUEUES, "default", Agents("default"), own=None)
    assert [q.id for q in found] == ["d"]  # remote agents in the default group
