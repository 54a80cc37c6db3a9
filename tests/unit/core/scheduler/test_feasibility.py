"""Whether a request could ever be placed, and how the refusal reads."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hangar.core.scheduler import AgentState, GpuDevice, ResourceSlots
from hangar.core.scheduler.feasibility import human_amount, never_fits

WHERE = "scaling group 'default'"


def agent(name: str, cpu: int, mem: str, gpus: int = 0) -> AgentState:
    slots = ResourceSlots.parse({"cpu": cpu, "mem": mem})
    devices = tuple(GpuDevice(f"{name}-gpu{i}") for i in range(gpus))
    return AgentState(name, "default", slots, devices=devices)


def ask(**slots: str) -> ResourceSlots:
    return ResourceSlots.parse({k.replace("_", "."): v for k, v in slots.items()})


SMALL, BIG = agent("i-small", 2, "4g"), agent("i-big", 8, "2g", gpus=2)


def test_what_an_idle_agent_could_hold_is_not_refused() -> None:
    assert never_fits(ask(cpu="8", mem="1g"), [SMALL, BIG], WHERE) is None
    assert never_fits(ask(cuda_device="2"), [SMALL, BIG], WHERE) is None
    assert never_fits(ask(cpu="64", foo="1"), [], WHERE) is None  # no agent to judge by


def test_more_than_the_largest_agent_names_the_slot_and_the_agent() -> None:
    reason = never_fits(ask(cpu="64"), [SMALL, BIG], WHERE)
    assert reason == (
        "No agent of scaling group 'default' can ever hold cpu=64 (the largest agent, "
        "i-big, has cpu=8, mem=2 GiB, cuda.device=2, cuda.shares=2)"
    )
    reason = never_fits(ask(mem="3g", cpu="4"), [SMALL, BIG], WHERE)
    assert reason is not None and "No single agent" in reason and "mem=3 GiB" in reason


def test_a_slot_no_agent_has_is_named() -> None:
    assert never_fits(ask(foo="1"), [SMALL], WHERE) == (
        "No agent of scaling group 'default' has resource slot 'foo' (the largest agent, "
        "i-small, has cpu=2, mem=4 GiB)"
    )
    reason = never_fits(ask(gpu="1"), [SMALL], WHERE)
    assert reason is not None and "cuda.device (whole) or cuda.shares" in reason


def test_memory_reads_in_mib_and_gib() -> None:
    assert human_amount("mem", Decimal(256 << 20)) == "256 MiB"
    assert human_amount("mem", Decimal(3 << 29)) == "1.5 GiB"
    assert human_amount("mem", Decimal(512)) == "512 bytes"
    assert human_amount("cpu", Decimal("0.5")) == "0.5"


AMOUNTS = st.decimals(min_value=0, allow_nan=False, allow_infinity=False)


@given(st.dictionaries(st.sampled_from(["cpu", "mem", "foo", "cuda.shares"]), AMOUNTS))
def test_any_request_gets_an_answer(raw: dict[str, Decimal]) -> None:
    reason = never_fits(ResourceSlots(raw), [SMALL, BIG], WHERE)
    assert reason is None or reason.startswith("No ")
