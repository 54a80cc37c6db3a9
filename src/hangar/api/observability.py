"""Prometheus ``/metrics``: the process's metrics and the platform's state from a census."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from hangar.core.census import Census, CensusTaker

log = logging.getLogger("hangar.access")


class StateCollector(Collector):
    """Gauges of the platform's state from the last census: sessions by status, the
    scheduler's queue, agents' capacity and occupancy by slot."""

    def __init__(self) -> None:
        self.census: Census | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        census = self.census
        if census is None:
            return
        sessions = GaugeMetricFamily(
            "hangar_sessions", "Compute sessions by status", labels=["status"]
        )
        for status, count in sorted(census.sessions.items()):
            sessions.add_metric([status], count)
        pending = GaugeMetricFamily(
            "hangar_scheduler_pending_sessions",
            "Sessions waiting for the scheduler (PENDING), per scaling group",
            labels=["scaling_group"],
        )
        for group, count in sorted(census.pending.items()):
            pending.add_metric([group], count)
        yield from (sessions, pending, *_agent_families(census))


def _agent_families(census: Census) -> tuple[GaugeMetricFamily, ...]:
    labels = ["agent", "scaling_group", "slot"]
    capacity = GaugeMetricFamily(
        "hangar_agent_capacity_slots", "Resource slots an agent offers", labels=labels
    )
    occupied = GaugeMetricFamily(
        "hangar_agent_occupied_slots", "Resource slots its sessions hold", labels=labels
    )
    alive = GaugeMetricFamily(
        "hangar_agent_up", "1 while an agent is ALIVE", labels=["agent", "scaling_group"]
    )
    for agent in census.agents:
        alive.add_metric([agent.agent_id, agent.scaling_group], agent.status == "ALIVE")
        for slot in sorted(set(agent.capacity) | set(agent.occupied)):
            names = [agent.agent_id, agent.scaling_group, slot]
            capacity.add_metric(names, float(agent.capacity.amount(slot)))
            occupied.add_metric(names, float(agent.occupied.amount(slot)))
    return capacity, occupied, alive


class Metrics:
    """``GET /metrics``: the process's HTTP and runtime metrics, and the platform's state
    counted from the database at scrape time (at most once per ``min_interval`` seconds,
    so that a scrape storm costs one set of queries)."""

    def __init__(self, census: CensusTaker, min_interval: float = 1.0) -> None:
        self._census = census
        self._min_interval = min_interval
        self._taken = -min_interval
        self._lock = asyncio.Lock()
        self._state = StateCollector()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self._state)

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._taken < self._min_interval:
                return
            try:
                self._state.census = await self._census.take()
            except Exception:  # the database is what fails: serve the process's metrics
                log.warning("metrics: the census failed", exc_info=True)
                self._state.census = None
            self._taken = time.monotonic()

    async def __call__(self, _: Request) -> Response:
        await self.refresh()
        body = generate_latest(REGISTRY) + generate_latest(self._registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
