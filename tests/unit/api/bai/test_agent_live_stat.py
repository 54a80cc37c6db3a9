"""An agent's live_stat in the shape the official CLI prints (node figures, per-core
devices), from the host's reading, or from its sessions' figures without one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hangar.agent.models import NodeUsage
from hangar.api.bai.graphql.agents import live_stat_of
from hangar.core.admin.agents import AgentView

GIB = 1 << 30


def view(**usage: Decimal) -> AgentView:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return AgentView(
        id="i-test", status="ALIVE", status_changed=now, region="local",
        scaling_group="default", schedulable=True,
        available_slots={"cpu": "4", "mem": str(8 * GIB)}, occupied_slots={}, addr="",
        architecture="x86_64", version="", compute_plugins={}, devices=[], first_contact=now,
        lost_at=None, usage=dict(usage), running_sessions=0,
    )  # fmt: skip


def test_the_host_reading_gives_node_and_per_core_figures() -> None:
    stat = live_stat_of(view(), NodeUsage((100.0, 50.0, 0.0), mem_used=GIB, mem_total=4 * GIB))
    node = stat["node"]
    assert node["cpu_util"] == {
        "current": "150", "capacity": "300", "pct": "50.00", "unit_hint": "percent"
    }  # fmt: skip
    assert node["mem"] == {
        "current": str(GIB), "capacity": str(4 * GIB), "pct": "25.00", "unit_hint": "bytes"
    }  # fmt: skip
    assert [v["current"] for v in stat["devices"]["cpu_util"].values()] == ["100", "50", "0"]
    assert stat["devices"]["mem"]["root"] == node["mem"]


def test_without_a_reading_the_figures_come_from_the_slots() -> None:
    stat = live_stat_of(view(cpu_util=Decimal(200), mem=Decimal(GIB)), None)
    assert stat["node"]["cpu_util"]["capacity"] == "400"
    assert stat["node"]["cpu_util"]["pct"] == "50.00"
    assert stat["node"]["mem"]["capacity"] == str(8 * GIB)
    assert len(stat["devices"]["cpu_util"]) == 4
