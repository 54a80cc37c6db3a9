"""What an operator watches on a live server: ``/metrics`` counts sessions by status, the
scheduler's queue and the agents' slots; ``backend.ai admin agent info`` shows the node's
real CPU and memory use."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live import LiveAgent, LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(server: LiveServer) -> Samples:
    text = httpx.get(server.endpoint + "/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.3)


def ok(server: LiveServer, *args: str) -> str:
    done = server.official(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_metrics_count_running_and_queued_sessions(live_server: LiveServer) -> None:
    first = scrape(live_server)
    capacity = {
        dict(labels)["slot"]: value
        for (name, labels), value in first.items()
        if name == "hangar_agent_capacity_slots"
    }
    cpus = int(capacity["cpu"])  # the whole agent: a second such session has to wait
    assert first[("hangar_sessions", (("status", "RUNNING"),))] == 0
    try:
        whole_agent = ("-r", f"cpu={cpus}", "python")
        ok(live_server, "start", "-t", "fills-agent", *whole_agent)
        ok(live_server, "start", "--enqueue-only", "-t", "waits-turn", *whole_agent)

        def counted() -> bool:
            now = scrape(live_server)
            return (
                now[("hangar_sessions", (("status", "RUNNING"),))] == 1
                and now[("hangar_sessions", (("status", "PENDING"),))] == 1
                and now[("hangar_scheduler_pending_sessions", (("scaling_group", "default"),))] == 1
            )

        wait_for(counted, "one RUNNING and one PENDING session in /metrics")
        now = scrape(live_server)
        occupied = [
            value
            for (name, labels), value in now.items()
            if name == "hangar_agent_occupied_slots" and dict(labels)["slot"] == "cpu"
        ]
        assert occupied == [cpus]
    finally:
        live_server.official("rm", "waits-turn")
        live_server.official("rm", "fills-agent")


def agent_figures(server: LiveServer) -> tuple[float, float, float]:
    """(CPU %, memory bytes, CPU % of the busiest core) as ``backend.ai admin agent info``
    prints them for the embedded agent."""
    listed = json.loads(ok(server, "--output", "json", "admin", "agent", "list"))
    shown = ok(server, "admin", "agent", "info", listed["items"][0]["id"])
    cpu = re.search(r"CPU Usage \(%\) +([\d.]+)", shown)
    mem = re.search(r"mem: ([\d.]+) (MiB|GiB) / ", shown)
    assert cpu is not None and mem is not None, shown
    mem_bytes = float(mem[1]) * (1 << (20 if mem[2] == "MiB" else 30))
    cores = [float(v) for v in re.findall(r"- \d+: ([\d.]+) / 100 percent", shown)]
    return float(cpu[1]), mem_bytes, max(cores, default=0.0)


@pytest.mark.backends("sqlite")
def test_agent_info_shows_the_cpu_a_session_burns(live_server: LiveServer) -> None:
    burn = "python3 -c 'while True: pass'"
    try:
        ok(live_server, "start", "-t", "burns-cpu", "--type", "batch", "--startup-command", burn,
           "python")  # fmt: skip
        figures: list[tuple[float, float, float]] = []

        def busy() -> bool:
            figures.append(agent_figures(live_server))
            cpu, mem, busiest = figures[-1]
            return cpu > 0 and mem > 0 and busiest >= 50  # a core at least half busy

        wait_for(busy, f"agent info shows the burning session: {figures}")
    finally:
        live_server.official("rm", "burns-cpu")


@pytest.mark.backends("sqlite")
def test_a_remote_agent_reports_its_host(database_url: str, tmp_path: Path) -> None:
    manager = LiveServer(
        home=tmp_path / "manager",
        database_url=database_url,
        extra_env={"HANGAR_AGENT_RUNTIME": "none"},  # only the remote agent
    )
    manager.start()
    remote = LiveAgent(manager, tmp_path / "agent", agent_id="i-remote-usage")
    try:
        remote.start()
        remote.wait_status("ALIVE")
        query = "query($id: String!) { agent(agent_id: $id) { mem_cur_bytes live_stat } }"
        answer = manager.signed(
            "POST", "/admin/gql", {"query": query, "variables": {"id": remote.agent_id}}
        ).json()["data"]["agent"]
        node = json.loads(answer["live_stat"])["node"]
        assert answer["mem_cur_bytes"] == float(node["mem"]["current"]) > 0
        assert float(node["cpu_util"]["capacity"]) == 100 * len(
            json.loads(answer["live_stat"])["devices"]["cpu_util"]
        )
    finally:
        remote.stop()
        manager.stop()
