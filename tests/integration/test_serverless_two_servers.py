"""Serverless endpoints with two ``hangar server`` processes on one PostgreSQL database:
A runs the embedded agent and the endpoint's loop, B has no agent and takes requests.
Demand, owners' changes and worker changes travel between them over the event relay
(LISTEN/NOTIFY) at once, not at the holding process's next pass (2 s here, the default).

B reaches only the workers of agents connected to it: with A's agent it sees A's worker
RUNNING at once, but its connection to it is refused (a 502), which this module does not
hide; what it checks is who learns what, and how soon.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cloud import FAKE_INVENTORY, SERVERLESS_ENV, admin_key, create_scale_to_zero
from tests.support.live import LiveServer, both_running, wait_for

PASS_SECONDS = "2"  # the endpoints loop's pass on A: the default


@pytest.fixture
def two(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    yield from _servers(tmp_path, database_url)


def _servers(home: Path, url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    shared = {"HANGAR_SERVER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
              "HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY}  # fmt: skip
    a = LiveServer(home=home / "a", database_url=url, extra_env={
        **shared, **SERVERLESS_ENV, "HANGAR_ENDPOINT_CHECK_SECONDS": PASS_SECONDS})  # fmt: skip
    b = LiveServer(home=home / "b", database_url=url, extra_env={
        **shared, "HANGAR_AGENT_RUNTIME": "none", "HANGAR_ENDPOINT_CHECK_SECONDS": "60",
        "HANGAR_ENDPOINT_GATEWAY_WAIT_SECONDS": "40"})  # fmt: skip
    yield from both_running(a, b)


def _get(server: LiveServer, key: str, eid: str) -> dict[str, Any]:
    answer = httpx.get(f"{server.endpoint}/v2/serverless/{eid}", headers={"X-Api-Key": key})
    body = answer.json()
    assert body["code"] == 10000, body
    return dict(body["data"])


def _waited(check: Any, what: str, timeout: float = 60.0) -> float:
    """Seconds until ``check()`` held (polled every 20 ms)."""
    started = time.monotonic()
    wait_for(check, what, timeout, every=0.02)
    return time.monotonic() - started


@pytest.mark.backends("postgresql")
def test_demand_and_workers_travel_between_the_servers(
    two: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two
    key = admin_key(a)
    eid = str(
        create_scale_to_zero(a, key, "two")
    )  # A's loop holds it: B was not told of the create
    wait_for(lambda: _get(a, key, eid)["totalWorkers"] == 0, "scaled to zero", 90)

    answer: dict[str, Any] = {}

    def through_b() -> None:
        with httpx.Client(base_url=b.endpoint, timeout=60) as http:
            got = http.get(
                f"/serverless-proxy/{eid}/who", headers={"Authorization": f"Bearer {key}"}
            )
        answer["response"], answer["at"] = got, time.monotonic()

    caller = threading.Thread(target=through_b, daemon=True)
    caller.start()
    # The request on B wakes the endpoint on A: without the relay A would never hear of it.
    woke = _waited(lambda: _get(a, key, eid)["totalWorkers"] >= 1, "A started a worker", 10)
    assert woke < 1.5, f"A started a worker {woke:.2f} s after the request reached B"
    _waited(lambda: _get(a, key, eid)["runningWorkers"] == 1, "the worker runs", 90)
    running_at = time.monotonic()
    caller.join(45)
    assert not caller.is_alive(), "B kept waiting for a worker"
    late = answer["at"] - running_at
    response = answer["response"]
    # B stopped waiting as soon as A's worker ran (it polls the database only once a
    # second), and did not time out with 503; it cannot connect to A's agent: 502.
    assert response.status_code != 503, response.text
    assert late < 0.75, f"B answered {late:.2f} s after the worker ran"

    # An owner's stop through B reaches the loop on A at once, not at its next pass.
    stopped = httpx.post(f"{b.endpoint}/v2/serverless/{eid}/stop", headers={"X-Api-Key": key})
    assert stopped.json()["code"] == 10000, stopped.text
    drained = _waited(lambda: _get(a, key, eid)["runningWorkers"] == 0, "A drains it", 10)
    assert drained < 1.5, f"A stopped the worker {drained:.2f} s after B was told"
    print(f"woken {woke:.3f} s, B answered {late:.3f} s after RUNNING ({response.status_code}),"
          f" stopped {drained:.3f} s")  # fmt: skip
