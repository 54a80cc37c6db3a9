"""Decisions per second of the pure scheduler on simulated clusters.

A decision is one pending session settled by ``schedule()``: assigned to an agent, or left
pending with a reason. The cluster has 1,000 agents in two scaling groups, already partly
occupied:

* ``default``: 500 CPU nodes (16/32/64 cores, 4 GiB per core) and 200 nodes with 4 GPUs;
* ``gpu``: 300 nodes with 8 GPUs (96 cores, 1 TiB);

about 1 % of them not schedulable, some GPUs partly or wholly allocated. Pending sessions come
from ~500 access keys (most in ``default``, a fifth in ``gpu``) with mixed concurrency limits
and resource policies (LIMITED and UNLIMITED), in shapes from half a core to 8 whole GPUs,
fractional GPU shares included. ``--shapes unique`` gives every session its own memory size,
so no request shape repeats (the worst case for the scheduler's per-shape memo).

For each policy (FIFO, LIFO, DRF) and each size (10k, 30k, 100k pending; ``--quick``: 100
agents and 1k/3k/10k), the bench times one ``schedule()`` call and reports decisions per
second (best of ``--repeat`` passes), then how the per-decision cost grows from the smallest
size to the largest. Once the cluster is full (about 11k sessions in the full run), most further
decisions are refusals, cheap by design (a blocked key or a remembered shape), which is why
the cost per decision falls as the queue grows.

    .venv/bin/python bench/scheduler.py [--quick] [--shapes presets|unique] [--seed 7] [--repeat 3]

Exit status: 0, or 1 if any run stays under the target of 1,000 decisions per second.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hangar.core.identity.models import DefaultForUnspecified
from hangar.core.scheduler import (
    POLICIES,
    AgentState,
    GpuDevice,
    PendingSession,
    PolicyUsage,
    ResourceSlots,
    schedule,
)

TARGET = 1_000.0  # decisions per second
GIB = 1 << 30
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# (cpu, mem GiB, cuda.shares, cuda.device, weight)
SHAPES: list[tuple[Decimal | int, int, Decimal | int, int, int]] = [
    (Decimal("0.5"), 1, 0, 0, 10),
    (1, 2, 0, 0, 20),
    (2, 4, 0, 0, 20),
    (4, 8, 0, 0, 15),
    (8, 32, 0, 0, 8),
    (16, 64, 0, 0, 4),
    (2, 8, Decimal("0.25"), 0, 6),
    (4, 16, Decimal("0.5"), 0, 6),
    (8, 32, Decimal("1.5"), 0, 3),
    (8, 64, 0, 1, 4),
    (16, 128, 0, 2, 2),
    (32, 256, 0, 4, 1),
    (64, 512, 0, 8, 1),
]


@dataclass(frozen=True)
class Workload:
    agents: list[AgentState]
    pending: list[PendingSession]
    usage: dict[str, PolicyUsage]


def build_agents(rng: random.Random, count: int) -> list[AgentState]:
    """``count`` agents: 50 % CPU nodes, 20 % 4-GPU nodes, 30 % 8-GPU nodes (own group)."""
    agents = []
    for i in range(count):
        kind = i * 10 // count
        if kind < 5:
            cores, gpus, group = rng.choice((16, 32, 64)), 0, "default"
        elif kind < 7:
            cores, gpus, group = 32, 4, "default"
        else:
            cores, gpus, group = 96, 8, "gpu"
        mem = cores * 4 * GIB if gpus == 0 else (256 if gpus == 4 else 1024) * GIB
        used = rng.random() * 0.4
        agents.append(
            AgentState(
                id=f"agent-{i:05d}",
                scaling_group=group,
                available_slots=ResourceSlots({"cpu": cores, "mem": mem}),
                occupied_slots=ResourceSlots({"cpu": int(cores * used), "mem": int(mem * used)}),
                devices=tuple(_device(rng, f"cuda{d}") for d in range(gpus)),
                schedulable=rng.random() > 0.01,
            )
        )
    return agents


def _device(rng: random.Random, name: str) -> GpuDevice:
    roll = rng.random()
    allocated = Decimal(1) if roll < 0.1 else Decimal("0.5") if roll < 0.25 else Decimal(0)
    return GpuDevice(name, Decimal(1), allocated)


def build_usage(rng: random.Random, keys: list[str]) -> dict[str, PolicyUsage]:
    """Per key: concurrency 5..100 or unlimited; policy UNLIMITED, or LIMITED with totals."""
    usage = {}
    for key in keys:
        limit = None if rng.random() < 0.3 else rng.randint(5, 100)
        roll = rng.random()
        if roll < 0.5:
            policy, totals = DefaultForUnspecified.UNLIMITED, ResourceSlots()
        elif roll < 0.8:
            policy = DefaultForUnspecified.LIMITED
            totals = ResourceSlots(
                {"cpu": rng.choice((64, 256, 1024)), "mem": rng.choice((256, 2048)) * GIB}
                | {"cuda.shares": rng.choice((0, 4, 16)), "cuda.device": rng.choice((0, 2, 8))}
            )
        else:
            policy = DefaultForUnspecified.UNLIMITED
            totals = ResourceSlots({"cpu": rng.choice((32, 128, 512))})
        used = rng.randint(0, 4)
        occupied = ResourceSlots({"cpu": used * 2, "mem": used * 4 * GIB})
        usage[key] = PolicyUsage(used, limit, occupied, totals, policy)
    return usage


def build_pending(
    rng: random.Random, count: int, keys: list[str], unique: bool
) -> list[PendingSession]:
    """``count`` sessions of weighted shapes, a second apart, 5 % with priority 1."""
    weights = [s[-1] for s in SHAPES]
    owner = uuid.UUID(int=1)
    pending = []
    for i in range(count):
        key = rng.choice(keys)
        group = "gpu" if int(key.removeprefix("AKTEST")) % 5 == 0 else "default"
        cpu, mem, shares, devices, _ = rng.choices(SHAPES, weights)[0]
        mem_bytes = mem * GIB + (rng.randrange(1, 1 << 20) << 10 if unique else 0)
        slots: dict[str, Decimal | int] = {"cpu": Decimal(cpu), "mem": mem_bytes}
        if shares:
            slots["cuda.shares"] = shares
        if devices:
            slots["cuda.device"] = devices
        created = EPOCH + timedelta(seconds=i, microseconds=rng.randrange(1_000_000))
        pending.append(
            PendingSession(
                id=uuid.UUID(int=i + 1),
                access_key=key,
                user_uuid=owner,
                group_id=owner,
                domain_name="default",
                scaling_group=group,
                requested=ResourceSlots(slots),
                created_at=created,
                priority=1 if rng.random() < 0.05 else 0,
            )
        )
    return pending


def build_workload(seed: int, agents: int, sessions: int, unique: bool) -> Workload:
    rng = random.Random(seed)
    keys = [f"AKTEST{i:06d}" for i in range(500)]
    return Workload(
        build_agents(rng, agents),
        build_pending(rng, sessions, keys, unique),
        build_usage(rng, keys),
    )


@dataclass(frozen=True)
class Run:
    policy: str
    size: int
    seconds: float
    assigned: int

    @property
    def rate(self) -> float:
        return self.size / self.seconds

    @property
    def per_decision_us(self) -> float:
        return self.seconds / self.size * 1e6


def time_run(workload: Workload, policy_name: str, size: int, repeat: int) -> Run:
    """The best of ``repeat`` timed ``schedule()`` calls (each pass starts from scratch)."""
    pending = workload.pending[:size]
    best, assigned = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        plan = schedule(pending, workload.agents, workload.usage, POLICIES[policy_name])
        best = min(best, time.perf_counter() - started)
        assert len(plan.assignments) + len(plan.pending) == size
        assigned = len(plan.assignments)
    return Run(policy_name, size, best, assigned)


def report(runs: list[Run], sizes: list[int]) -> bool:
    """Print the table and the growth; True when every run meets the target."""
    print(
        f"{'policy':<7}{'pending':>9}{'seconds':>10}{'decisions/s':>14}{'us/decision':>13}"
        f"{'assigned':>10}{'still pending':>15}"
    )
    for run in runs:
        print(
            f"{run.policy:<7}{run.size:>9,}{run.seconds:>10.3f}{run.rate:>14,.0f}"
            f"{run.per_decision_us:>13.1f}{run.assigned:>10,}{run.size - run.assigned:>15,}"
        )
    small, large = sizes[0], sizes[-1]
    print(f"\ngrowth from {small:,} to {large:,} pending ({large // small}x the sessions):")
    for policy in POLICIES:
        by_size = {r.size: r for r in runs if r.policy == policy}
        a, b = by_size[small], by_size[large]
        print(
            f"  {policy:<5} total time x{b.seconds / a.seconds:.2f}, "
            f"cost per decision x{b.per_decision_us / a.per_decision_us:.2f}"
        )
    slowest = min(runs, key=lambda r: r.rate)
    met = slowest.rate >= TARGET
    verdict = "met" if met else "NOT met"
    print(
        f"\ntarget >= {TARGET:,.0f} decisions/s: {verdict} "
        f"(slowest: {slowest.policy} at {slowest.size:,}, {slowest.rate:,.0f}/s)"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 agents, 1k/3k/10k pending")
    parser.add_argument("--shapes", choices=("presets", "unique"), default="presets")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per run; best kept")
    args = parser.parse_args()
    agents, sizes = (
        (100, [1_000, 3_000, 10_000]) if args.quick else (1_000, [10_000, 30_000, 100_000])
    )
    workload = build_workload(args.seed, agents, sizes[-1], args.shapes == "unique")
    print(
        f"{agents:,} agents, {len(workload.usage)} access keys, shapes: {args.shapes}, "
        f"python {sys.version.split()[0]}\n"
    )
    runs = [time_run(workload, policy, size, args.repeat) for policy in POLICIES for size in sizes]
    return 0 if report(runs, sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
