"""The endpoints' reconcile decision, the autoscaler and the log buffer: pure functions."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from hangar.core.endpoints.autoscale import autoscaled
from hangar.core.endpoints.decide import Rules, SessionState, WorkerView, decide
from hangar.core.endpoints.logbuffer import LogBuffer
from hangar.core.endpoints.models import (
    EndpointSpec,
    EndpointStatus,
    Placement,
    Scaling,
    ServiceMode,
    Worker,
    WorkerStatus,
)
from hangar.core.endpoints.placement import check_placements, choose_placement
from hangar.core.endpoints.repo import EndpointRecord
from hangar.core.errors import InvalidValue
from hangar.core.pods.models import DeviceChoice
from hangar.core.resources.accelerators import AcceleratorGroup

NOW = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
E, W, S = EndpointStatus, WorkerStatus, SessionState
RULES = Rules(start_seconds=60, max_failures=3, backoff_seconds=1)
SPEC = EndpointSpec(image="python:3", placements=(Placement("default"),), port=8080)


def endpoint(status: EndpointStatus = E.RUNNING, **changes: object) -> EndpointRecord:
    record = EndpointRecord(
        id=1, owner_uuid=uuid.uuid4(), name="ep", mode=ServiceMode.ALB, spec=SPEC, owner={},
        webhook=None, domain="abc", workers=1, target=1, status=status, status_info=None,
        generation=1, failures=0, next_start_at=None, active_at=None, created_at=NOW,
        updated_at=NOW, deleted_at=None,
    )  # fmt: skip
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def worker(wid: int, status: WorkerStatus, *, generation: int = 1, age: float = 1) -> Worker:
    return Worker(wid, 1, status, None, uuid.uuid4(), "default", "", 0, generation,
                  NOW - timedelta(seconds=age), None, None)  # fmt: skip


def view(w: Worker, session: SessionState = S.RUNNING, **kw: object) -> WorkerView:
    return WorkerView(w, session, **kw)  # type: ignore[arg-type]


def test_a_new_endpoint_starts_its_workers() -> None:
    plan = decide(endpoint(E.INITIALIZING, target=2), [], NOW, RULES)
    assert (plan.start, plan.status) == (2, E.INITIALIZING)


def test_a_worker_whose_port_answers_runs_the_endpoint() -> None:
    w = worker(1, W.INITIALIZING)
    plan = decide(endpoint(E.INITIALIZING), [view(w, healthy=True)], NOW, RULES)
    assert (plan.running, plan.status, plan.start) == ([1], E.RUNNING, 0)
    waiting = decide(endpoint(E.INITIALIZING), [view(w, healthy=False)], NOW, RULES)
    assert (waiting.running, waiting.status) == ([], E.INITIALIZING)


def test_a_dead_worker_fails_and_is_replaced_after_a_back_off() -> None:
    w = worker(1, W.RUNNING)
    plan = decide(endpoint(), [view(w, S.ENDED, session_info="its session ended")], NOW, RULES)
    assert plan.fail == [(1, "its session ended")] and plan.failures == 1
    assert plan.next_start_at == NOW + timedelta(seconds=1) and plan.start == 0
    later = decide(endpoint(failures=1, next_start_at=plan.next_start_at), [],
                   NOW + timedelta(seconds=2), RULES)  # fmt: skip
    assert later.start == 1


def test_failures_in_a_row_fail_the_endpoint_with_the_last_error() -> None:
    w = worker(7, W.INITIALIZING)
    exited = view(w, exited="its initialization command exited with code 3")
    plan = decide(endpoint(E.INITIALIZING, failures=2), [exited], NOW, RULES)
    assert plan.status is E.FAILED
    assert plan.status_info == "worker 7 its initialization command exited with code 3"
    assert plan.start == 0


def test_a_worker_that_never_answers_fails_at_the_deadline() -> None:
    w = worker(3, W.INITIALIZING, age=61)
    plan = decide(endpoint(E.INITIALIZING), [view(w, healthy=False)], NOW, RULES)
    assert plan.fail == [(3, "did not answer on port 8080 within 60 s")]
    queued = decide(endpoint(E.INITIALIZING), [view(w, S.WAITING)], NOW, RULES)
    assert "was not placed within 60 s" in queued.fail[0][1]


def test_stop_drains_then_stops() -> None:
    live = [view(worker(1, W.RUNNING), healthy=True), view(worker(2, W.INITIALIZING))]
    plan = decide(endpoint(E.STOPPING), live, NOW, RULES)
    assert (sorted(plan.stop), plan.status) == ([1, 2], E.STOPPING)
    ending = [view(worker(1, W.TERMINATING), S.ENDED), view(worker(2, W.TERMINATING), S.RUNNING)]
    assert decide(endpoint(E.STOPPING), ending, NOW, RULES).status is E.STOPPING
    ended = [view(worker(1, W.TERMINATING), S.ENDED), view(worker(2, W.TERMINATING), S.NONE)]
    done = decide(endpoint(E.STOPPING), ended, NOW, RULES)
    assert (sorted(done.finish), done.status) == ([1, 2], E.STOPPED)


def test_scale_down_stops_starting_workers_first() -> None:
    live = [view(worker(1, W.RUNNING), healthy=True), view(worker(2, W.RUNNING), healthy=True),
            view(worker(3, W.INITIALIZING))]  # fmt: skip
    assert decide(endpoint(target=2), live, NOW, RULES).stop == [3]
    assert decide(endpoint(target=1), live, NOW, RULES).stop == [3, 1]


def test_a_rolling_update_keeps_old_workers_until_new_ones_answer() -> None:
    old = view(worker(1, W.RUNNING), healthy=True)
    new = worker(2, W.INITIALIZING, generation=2)
    rolling = decide(endpoint(generation=2), [old, view(new, healthy=False)], NOW, RULES)
    assert (rolling.stop, rolling.start, rolling.status) == ([], 0, E.RUNNING)
    answered = decide(endpoint(generation=2), [old, view(new, healthy=True)], NOW, RULES)
    assert (answered.running, answered.stop) == ([2], [1])
    first = decide(endpoint(generation=2), [old], NOW, RULES)
    assert (first.start, first.stop) == (1, [])


def test_autoscaling_follows_load_and_idles_to_zero() -> None:
    scaling = Scaling(min_workers=0, max_workers=3, idle_seconds=60)
    recent, old = NOW - timedelta(seconds=5), NOW - timedelta(seconds=120)
    assert autoscaled(Scaling(), 2, 10, None, None, NOW) == 2  # off: the asked count
    assert autoscaled(scaling, 1, 5, recent, None, NOW) == 3  # up at once, capped
    assert autoscaled(scaling, 3, 0, recent, None, NOW) == 3  # down only after idling
    assert autoscaled(scaling, 3, 0, old, None, NOW) == 0  # to zero
    assert autoscaled(scaling, 0, 0, old, recent, NOW) == 1  # woken by demand
    floor = dataclasses.replace(scaling, min_workers=1)
    assert autoscaled(floor, 3, 0, old, None, NOW) == 1


def test_the_log_buffer_cuts_lines_with_byte_offsets() -> None:
    buffer = LogBuffer(100)
    assert buffer.feed("hé", NOW) == []
    lines = buffer.feed("llo\nworld\r\npart", NOW)
    assert [(e.offset, e.text) for e in lines] == [(100, "héllo"), (107, "world")]
    assert [(e.offset, e.text) for e in buffer.flush(NOW)] == [(114, "part")]
    assert buffer.note("done", NOW).text == "[hangar] done" and buffer.offset == 119


def test_a_worker_takes_the_first_placement_with_free_devices() -> None:
    rtx, h100 = DeviceChoice("RTX 4090", 24 << 30), DeviceChoice("H100", 80 << 30)
    groups = [AcceleratorGroup("RTX 4090", 24 << 30, "east", 2, 0),
              AcceleratorGroup("H100", 80 << 30, "west", 1, 1)]  # fmt: skip
    busy, free = Placement("east", "RTX", 1, rtx), Placement("west", "H100", 1, h100)
    assert choose_placement(groups, [busy, free]) == free
    assert choose_placement(groups, [busy]) == busy  # waits there for the scheduler
    nowhere = Placement("west", "RTX", 1, rtx)
    check_placements(groups, [nowhere, free])
    try:
        check_placements(groups, [nowhere, Placement("east", "RTX", 4, rtx)])
    except InvalidValue as exc:
        assert exc.field == "resources"
    else:
        raise AssertionError("no placement can be met")
