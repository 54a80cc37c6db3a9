"""Sessions that want one accelerator model (a GPU-cloud pod's gpuType) get devices of that
model only, on an agent that mixes models; sessions that name none take any device."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from hangar.core.scheduler import AgentState, Fifo, GpuDevice, PendingSession, schedule
from tests.unit.core.scheduler.factories import agent, session, usage

RTX, H100 = "NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3"


def mixed(used: dict[str, Decimal] | None = None) -> AgentState:
    """One agent with two RTX 4090s (cuda0, cuda1) and an H100 (cuda2)."""
    used = used or {}
    devices = tuple(
        GpuDevice(f"cuda{i}", Decimal(1), used.get(f"cuda{i}", Decimal(0)), model)
        for i, model in enumerate((RTX, RTX, H100))
    )
    return dataclasses.replace(agent("g"), devices=devices)


def wanting(n: int, model: str, count: int) -> PendingSession:
    return dataclasses.replace(session(n, cpu=1, mem="1g", cuda_device=count), device_model=model)


def placed(pending: list[PendingSession], agents: list[AgentState]) -> dict[int, list[str]]:
    plan = schedule(pending, agents, {s.usage_key: usage() for s in pending}, Fifo())
    return {a.session_id.int: [d.device_id for d in a.devices] for a in plan.assignments}


def test_a_model_is_taken_even_when_lower_ids_are_free() -> None:
    assert placed([wanting(1, H100, 1)], [mixed()]) == {1: ["cuda2"]}
    assert placed([wanting(1, RTX, 2)], [mixed()]) == {1: ["cuda0", "cuda1"]}


def test_no_free_device_of_the_model_keeps_the_session_pending() -> None:
    plan = schedule([wanting(1, H100, 1)], [mixed({"cuda2": Decimal(1)})], {"AK1": usage()}, Fifo())
    assert not plan.assignments
    [(_, reason)] = [(p.session_id, p.reason) for p in plan.pending]
    assert H100 in reason


def test_one_pass_hands_out_each_device_once() -> None:
    pending = [
        wanting(1, H100, 1),
        wanting(2, H100, 1),
        wanting(3, RTX, 1),
        session(4, cuda_device=1),
    ]
    got = placed(pending, [mixed()])
    assert got == {1: ["cuda2"], 3: ["cuda0"], 4: ["cuda1"]}  # 2 waits for the H100


def test_a_failed_model_does_not_refuse_another_model() -> None:
    pending = [wanting(1, H100, 2), wanting(2, RTX, 2)]  # same shape, other model
    assert placed(pending, [mixed()]) == {2: ["cuda0", "cuda1"]}
