"""Background tasks through the Backend.AI face: folder clones and image rescans report
progress on ``/events/background-task``; the final state outlives the task and a restart."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from typing import Any

import httpx
import pytest

from hangar.api.app import create_app
from hangar.core.bgtasks.service import Progress
from hangar.core.clock import FakeClock
from hangar.core.errors import NotFound
from hangar.core.events import EventKind, Matcher, TaskChange
from hangar.core.services import Services, open_services
from tests.component.test_bai_vfolders import PROBS, Api, api, folder_dir, new_user

__all__ = ["api"]  # the fixture


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if not line.startswith(":")
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def task_events(api: Api, task_id: str) -> httpx.Response:
    path = f"/events/background-task?task_id={task_id}"
    return await api.client.get(path, headers=api.signer.headers("GET", path))


async def cloneable(api: Api, name: str, files: dict[str, bytes]) -> None:
    await api.ok("POST", "/folders", {"name": name, "cloneable": True})
    for path, data in files.items():
        await api.upload(name, path, data)


async def test_clone_runs_as_a_background_task_with_progress(api: Api, services: Services) -> None:
    files = {"a.bin": b"a" * 300_000, "d/b.bin": b"b" * 700_000}
    await cloneable(api, "src", files)
    clone = await api.ok("POST", "/folders/src/clone", {"target_name": "copy"})
    assert clone["name"] == "copy" and uuid.UUID(clone["bgtask_id"])

    stream = await task_events(api, clone["bgtask_id"])
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(stream.text)
    names = [name for name, _ in events]
    assert names[-2:] == ["bgtask_done", "server_close"], names
    if names[0] == "bgtask_updated":
        updates = [data for name, data in events if name == "bgtask_updated"]
        assert all(u["total_progress"] == 1_000_000 for u in updates), updates
        assert "retry: 5" in stream.text
    else:  # the copy was over before the stream opened
        assert names[0] == "task_done"
    for path, data in files.items():
        assert (await api.download("copy", path)).content == data

    # Connecting after the end: one task_done with the final numbers, then server_close.
    late = parse_sse((await task_events(api, clone["bgtask_id"])).text)
    assert late == [
        (
            "task_done",
            {
                "task_id": clone["bgtask_id"],
                "status": "done",
                "current_progress": 1_000_000,
                "total_progress": 1_000_000,
                "message": "Cloned 'src' into 'copy'.",
            },
        ),
        ("server_close", {}),
    ]


async def test_a_failed_clone_reports_why_and_leaves_no_folder(
    api: Api, services: Services
) -> None:
    await cloneable(api, "src", {"x": b"x"})
    source = await api.ok("GET", "/folders/src")
    shutil.rmtree(folder_dir(services, source["id"]))  # the storage vanished under it
    clone = await api.ok("POST", "/folders/src/clone", {"target_name": "copy"})
    await services.bgtasks.wait(uuid.UUID(clone["bgtask_id"]))
    events = parse_sse((await task_events(api, clone["bgtask_id"])).text)
    assert events[0][0] == "task_failed" and "Cannot clone" in events[0][1]["message"]
    assert events[1] == ("server_close", {})
    assert (await api.call("GET", "/folders/copy")).status_code == 404


async def test_tasks_are_private_checked_and_expire(
    api: Api, services: Services, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await cloneable(api, "src", {"x": b"x"})
    task_id = (await api.ok("POST", "/folders/src/clone", {"target_name": "c"}))["bgtask_id"]
    await services.bgtasks.wait(uuid.UUID(task_id))
    bob = await new_user(services, client, "bob@example.com")
    for caller, query in ((bob, task_id), (api, str(uuid.uuid4()))):
        response = await task_events(caller, query)
        assert response.status_code == 404, response.text
        assert response.json()["type"] == PROBS + "object-not-found"
        assert response.json()["title"] == "No such background task."
    bad = await task_events(api, "not-a-uuid")
    assert bad.status_code == 400 and bad.json()["type"] == PROBS + "invalid-api-params"

    # Signed requests carry the real time, so the moved clock is checked in the core.
    owner = (await services.identity.credentials_for(api.signer.access_key)).caller
    clock.advance(23 * 3600)
    await services.storage.sweep()
    assert (await services.bgtasks.get(owner, uuid.UUID(task_id))).status.value == "done"
    clock.advance(2 * 3600)
    with pytest.raises(NotFound, match="No such background task"):
        await services.bgtasks.get(owner, uuid.UUID(task_id))
    assert await services.bgtasks.sweep() == 1
    assert await services.bgtasks.sweep() == 0


@pytest.mark.parametrize("registry", [None, "local"])
async def test_image_rescan_returns_a_task_that_finishes(
    api: Api, services: Services, registry: str | None
) -> None:
    query = "mutation($r: String) { rescan_images(registry: $r) { ok msg task_id } }"
    answer = await api.ok("POST", "/admin/gql", {"query": query, "variables": {"r": registry}})
    result = answer["data"]["rescan_images"]
    assert result["ok"] is True, result
    await services.bgtasks.wait(uuid.UUID(result["task_id"]))
    events = parse_sse((await task_events(api, result["task_id"])).text)
    assert events[0][0] == "task_done" and events[0][1]["current_progress"] == 1
    unknown = await api.ok("POST", "/admin/gql", {"query": query, "variables": {"r": "docker.io"}})
    assert unknown["data"]["rescan_images"] == {
        "ok": False,
        "msg": "Unknown registry: docker.io",
        "task_id": None,
    }


async def test_final_state_and_download_tokens_survive_a_restart(
    api: Api, services: Services, clock: FakeClock
) -> None:
    await cloneable(api, "src", {"x": b"hello"})
    task_id = (await api.ok("POST", "/folders/src/clone", {"target_name": "c"}))["bgtask_id"]
    await services.bgtasks.wait(uuid.UUID(task_id))
    ticket = await api.ok("POST", "/folders/src/request-download", {"path": "x"})

    restarted = await open_services(services.settings, clock=clock)
    try:
        transport = httpx.ASGITransport(app=create_app(restarted))
        async with httpx.AsyncClient(transport=transport, base_url=str(api.client.base_url)) as c:
            again = Api(c, api.signer)
            events = parse_sse((await task_events(again, task_id)).text)
            assert events[0][0] == "task_done"
            got = await c.get(ticket["url"], params={"token": ticket["token"]})
            assert got.status_code == 200 and got.content == b"hello"
            clock.advance(services.settings.storage.token_seconds + 1)
            expired = await c.get(ticket["url"], params={"token": ticket["token"]})
            assert expired.status_code == 404
    finally:
        await restarted.close()


async def test_a_task_cut_off_by_a_restart_ends_cancelled(
    api: Api, services: Services, clock: FakeClock
) -> None:
    started = asyncio.Event()

    async def forever(progress: Progress) -> str:
        progress.set(1, 10, "working")
        started.set()
        await asyncio.sleep(3600)
        return "never"

    caller = (await services.identity.credentials_for(api.signer.access_key)).caller
    task_id = await services.bgtasks.start(kind="test", owner=caller, work=forever)
    await started.wait()
    await services.bgtasks.close()  # what a shutdown does
    events = parse_sse((await task_events(api, str(task_id))).text)
    assert events[0][0] == "task_cancelled" and "shutting down" in events[0][1]["message"]
    assert events[0][1]["current_progress"] == 1 and events[0][1]["total_progress"] == 10


async def test_progress_and_the_end_go_on_the_event_bus(api: Api, services: Services) -> None:
    """Any subscriber of the bus (another face, the UI's live views) follows a task."""
    go = asyncio.Event()

    async def work(progress: Progress) -> str:
        progress.set(2, 4, "half way")
        await go.wait()
        return "all done"

    caller = (await services.identity.credentials_for(api.signer.access_key)).caller
    kinds = frozenset({EventKind.TASK_PROGRESSED, EventKind.TASK_FINISHED})
    async with services.bus.subscribe(Matcher(kinds)) as events:
        task_id = await services.bgtasks.start(kind="test", owner=caller, work=work)
        progressed = await asyncio.wait_for(events.get(), 5)
        go.set()
        finished = await asyncio.wait_for(events.get(), 5)
    assert (progressed.kind, progressed.subject) == (EventKind.TASK_PROGRESSED, task_id)
    assert progressed.payload == TaskChange("test", "running", 2, 4, "half way")
    assert progressed.tenant.user_id == caller.user_uuid
    assert finished.kind is EventKind.TASK_FINISHED
    assert finished.payload == TaskChange("test", "done", 4, 4, "all done")
