"""Billing's pure decisions: rates from the price table, meters opened and closed from the
sessions' recorded status changes, cost over a period, usage per user and project."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hangar.core.billing import meters
from hangar.core.billing.models import Meter, MeterKind, Prices, Resources
from hangar.core.billing.usage import aggregate
from hangar.core.compute.models import ComputeSession, Origin, OriginKind
from hangar.core.compute.states import SessionResult, SessionStatus, SessionType
from hangar.core.principal import Credential, CredentialKind

S = SessionStatus
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
H100 = {"id": "gpu1", "model": "NVIDIA H100 80GB HBM3", "memory_bytes": 80 << 30}
PRICES = Prices(
    gpu={"NVIDIA_H100_80G": Decimal("2.50")},
    cpu_core=Decimal("0.04"),
    memory_gib=Decimal("0.01"),
    storage_gib=Decimal("0.0002"),
)
USER, GROUP = uuid.uuid4(), uuid.uuid4()


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def session(status: S, history: dict[S, datetime], **fields: Any) -> ComputeSession:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "name": "s", "access_key": None,
        "credential": Credential(CredentialKind.CLOUD_API_KEY, "1"), "user_uuid": USER,
        "domain_name": "default", "group_id": GROUP, "scaling_group": "default",
        "agent_id": "a1", "image_id": uuid.uuid4(), "image_ref": "python",
        "session_type": SessionType.INTERACTIVE, "status": status, "status_info": None,
        "status_data": None, "status_history": {s.value: t.isoformat() for s, t in history.items()},
        "status_changed": max(history.values()), "result": SessionResult.UNDEFINED,
        "requested_slots": {}, "occupied_slots": {"cpu": "2", "mem": str(4 << 30)},
        "device_allocations": [{"device": "gpu1", "shares": "1", "whole": True}],
        "environ": {}, "bootstrap_script": None, "startup_command": None, "tag": None,
        "callback_url": None, "created_at": T0, "starts_at": None,
        "started_at": history.get(S.RUNNING), "terminated_at": history.get(S.TERMINATED),
        "num_queries": 0, "last_stat": None, "origin": Origin(OriginKind.POD, "7"),
    }  # fmt: skip
    values.update(fields)
    return ComputeSession(**values)


DEVICES = {"a1": {"gpu1": H100}}


def test_a_running_sessions_rate_counts_its_gpu_cores_and_memory() -> None:
    running = session(S.RUNNING, {S.PENDING: T0, S.RUNNING: hours(0.1)})
    held = meters.run_resources(running, DEVICES["a1"])
    assert held.gpus == {"NVIDIA_H100_80G": Decimal(1)}
    assert (held.cpu_cores, held.memory_gib) == (Decimal(2), Decimal(4))
    assert meters.rate_of(held, PRICES) == Decimal("2.50") + Decimal("0.08") + Decimal("0.04")
    assert meters.rate_of(held, Prices()) == 0  # unset prices cost nothing


def test_a_fractional_device_is_charged_by_its_share() -> None:
    shared = session(
        S.RUNNING,
        {S.RUNNING: T0},
        device_allocations=[{"device": "gpu1", "shares": "0.5", "whole": False}],
    )
    assert meters.run_resources(shared, DEVICES["a1"]).gpus == {"NVIDIA_H100_80G": Decimal("0.5")}


def test_a_running_session_gets_a_meter_from_when_it_started_running() -> None:
    running = session(S.RUNNING, {S.PENDING: T0, S.RUNNING: hours(0.5)})
    plan = meters.plan_runs([], {running.id: running}, {}, DEVICES, PRICES, hours(2))
    assert plan.closes == []
    (opened,) = plan.opens
    assert opened.kind is MeterKind.RUN and opened.started_at == hours(0.5)
    assert (opened.origin_kind, opened.origin_ref) == ("pod", "7")
    assert meters.accrued(opened, None, hours(2)) == opened.rate * Decimal("1.5")


def stored(open_meter: Meter) -> Meter:
    return Meter(**{**{f: getattr(open_meter, f) for f in open_meter.__slots__}, "id": 1})


def test_a_paused_or_ended_session_closes_its_meter_when_it_stopped_running() -> None:
    running = session(S.RUNNING, {S.RUNNING: hours(0)})
    (meter,) = meters.plan_runs([], {running.id: running}, {}, DEVICES, PRICES, hours(0)).opens
    for status in (S.SUSPENDED, S.TERMINATING, S.TERMINATED, S.ERROR):
        later = session(status, {S.RUNNING: hours(0), status: hours(3)}, id=running.id)
        plan = meters.plan_runs([stored(meter)], {later.id: later}, {}, DEVICES, PRICES, hours(5))
        assert plan.closes == [(1, hours(3))] and plan.opens == []


def test_a_pause_and_resume_between_passes_is_not_charged() -> None:
    first = session(S.RUNNING, {S.RUNNING: hours(0)})
    (meter,) = meters.plan_runs([], {first.id: first}, {}, DEVICES, PRICES, hours(0)).opens
    resumed = session(
        S.RUNNING,
        {S.RUNNING: hours(2), S.SUSPENDED: hours(1), S.PENDING: hours(1.9)},
        id=first.id,
    )
    plan = meters.plan_runs([stored(meter)], {first.id: resumed}, {}, DEVICES, PRICES, hours(3))
    assert plan.closes == [(1, hours(1))]
    (again,) = plan.opens
    assert again.started_at == hours(2)


def test_a_new_meter_never_starts_before_the_last_one_ended() -> None:
    running = session(S.RUNNING, {S.RUNNING: hours(0)})
    plan = meters.plan_runs(
        [], {running.id: running}, {str(running.id): hours(1)}, DEVICES, PRICES, hours(2)
    )
    assert plan.opens[0].started_at == hours(1)  # a price change split the meter at 1h


def test_scratch_disk_is_charged_from_the_first_start_until_the_end() -> None:
    disk = {"disk": str(40 << 30)}
    paused = session(S.SUSPENDED, {S.RUNNING: hours(0), S.SUSPENDED: hours(1)}, resource_opts=disk)
    plan = meters.plan_disks([], {paused.id: paused}, {}, PRICES, hours(2))
    (opened,) = plan.opens
    assert opened.resources.storage_gib == 40 and opened.started_at == hours(0)
    ended = session(
        S.TERMINATED,
        {S.RUNNING: hours(0), S.TERMINATED: hours(4)},
        id=paused.id,
        resource_opts=disk,
    )
    closing = meters.plan_disks([stored(opened)], {ended.id: ended}, {}, PRICES, hours(5))
    assert closing.closes == [(1, hours(4))]
    never_ran = session(S.PENDING, {S.PENDING: hours(0)}, resource_opts=disk, started_at=None)
    assert meters.plan_disks([], {never_ran.id: never_ran}, {}, PRICES, hours(1)).opens == []


def meter(user: uuid.UUID, group: uuid.UUID, start: float, end: float | None, **held: Any) -> Meter:
    resources = Resources(**held)
    return Meter(
        kind=MeterKind.RUN, subject_id=str(uuid.uuid4()), origin_kind="pod", origin_ref="1",
        user_uuid=user, group_id=group, rate=meters.rate_of(resources, PRICES),
        resources=resources, started_at=hours(start),
        ended_at=None if end is None else hours(end),
    )  # fmt: skip


def test_usage_sums_the_part_of_each_meter_inside_the_period() -> None:
    alice, bob, team = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    gpu = {"gpus": {"NVIDIA_H100_80G": Decimal(1)}}
    found = [
        meter(alice, team, 0, 2, **gpu),  # 1 h inside [1, 3)
        meter(alice, team, 2.5, None, cpu_cores=Decimal(4)),  # open: 0.5 h inside
        meter(bob, team, 5, 6, **gpu),  # after the period
    ]
    usage = aggregate(found, hours(1), hours(3), {alice: "alice@x"}, {team: "team"})
    (line,) = usage.by_user
    assert line.label == "alice@x" and line.items == 2
    assert line.cost == Decimal("2.50") + Decimal("0.04") * 4 / 2
    assert (line.gpu_hours, line.cpu_core_hours) == (Decimal(1), Decimal(2))
    assert [p.label for p in usage.by_project] == ["team"]
    assert usage.total == line.cost


def test_prices_come_from_the_table_rows() -> None:
    table = {"cpu": Decimal("0.1"), "gpu:NVIDIA_RTX_4090_24G": Decimal("0.7")}
    prices = meters.prices_from(table)
    assert prices.cpu_core == Decimal("0.1") and prices.gpu == {
        "NVIDIA_RTX_4090_24G": Decimal("0.7")
    }
    assert prices.storage_gib == 0
