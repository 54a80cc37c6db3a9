"""What an operator watches on a live server: ``/metrics`` counts sessions by status, the
scheduler's queue and the agents' slots; ``backend.ai admin agent info`` shows the node's
real CPU and memory use."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live import LiveServer

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


@pytest.mark.backends("sqlite")
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
