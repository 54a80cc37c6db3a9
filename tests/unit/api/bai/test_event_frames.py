"""Backend.AI's names for the core's event kinds, as the SSE stream sends them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from hangar.api.bai.routes.events import event_kinds, frames
from hangar.core.events import Event, EventKind, SessionChange, Tenant

TENANT = Tenant(uuid.uuid4(), uuid.uuid4(), "default")
ALL = event_kinds("*")


def event(kind: EventKind, exit_code: int | None = None) -> Event:
    change = SessionChange("s1", "AKIAEXAMPLE", "why", exit_code)
    return Event(kind, uuid.uuid4(), TENANT, change, datetime(2026, 1, 1, tzinfo=UTC))


def sent(data: bytes) -> list[tuple[str, dict[str, object]]]:
    blocks = [b for b in data.decode().split("\n\n") if b]
    pairs = [dict(line.split(": ", 1) for line in block.splitlines()) for block in blocks]
    return [(p["event"], json.loads(p["data"])) for p in pairs]


def test_a_kind_becomes_the_kernel_and_the_session_event_in_order() -> None:
    started = event(EventKind.SESSION_STARTED)
    (kernel, kernel_data), (session, session_data) = sent(frames(started, ALL))
    assert (kernel, session) == ("kernel_started", "session_started")
    assert kernel_data["clusterRole"] == "main" and "clusterRole" not in session_data
    assert session_data == {
        "reason": "why",
        "sessionName": "s1",
        "ownerAccessKey": "AKIAEXAMPLE",
        "sessionId": str(started.subject),
        "kernelId": str(started.subject),
    }


def test_the_scope_picks_frames_by_prefix() -> None:
    terminated = event(EventKind.SESSION_TERMINATED)
    assert [n for n, _ in sent(frames(terminated, event_kinds("session")))] == [
        "session_terminated"
    ]
    assert [n for n, _ in sent(frames(terminated, event_kinds("kernel")))] == ["kernel_terminated"]


def test_exit_codes_travel_with_a_batch_result() -> None:
    [(name, data)] = sent(frames(event(EventKind.SESSION_FAILED, exit_code=3), ALL))
    assert (name, data["exitCode"]) == ("session_failure", 3)


def test_kinds_without_a_backend_ai_name_send_nothing() -> None:
    assert frames(event(EventKind.SESSION_SUSPENDED), ALL) == b""
