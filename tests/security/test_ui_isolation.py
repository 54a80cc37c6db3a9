"""The web UI's isolation matrix: every page and action of the UI, aimed by bob at alice's
things, in a real browser profile of bob's (his cookie, his valid CSRF token).

Alice owns one of each thing the UI shows: a session, a folder (with a directory, and an
invitation to carol), an experiment in a queue, one that Hangar's executor runs (its worker
row must not show bob her name or task), a pod, a VM, a volume, an API key, a
registry credential and a serverless endpoint. Every route the UI registers is classified
below (a new route fails the inventory until it is): a page with a path parameter answers
bob 404 (admin pages 403) and never names anything of alice's; a page without one shows
bob none of alice's names; an action aimed at alice's thing is refused (4xx, never the 303
of a change done); creating something of bob's that would reach alice's (her volume
mounted, her credential to pull with) is refused too. At the end alice's things are all
as she left them. On each selected database backend: the scoping is the database's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from hangar.ui.app import ui_routes
from tests.integration.test_clearml_remote import executor_env
from tests.support.clearml import ClearmlApi, new_user
from tests.support.cloud import FAKE_INVENTORY, SERVERLESS_ENV
from tests.support.live import LiveServer
from tests.support.ui_world import World, build_alices_things, profile, wait_running
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.conftest import chromium_path

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend

MARKERS = (
    "alice@uiiso.test",
    "alice-sess",
    "alice-folder",
    "alice-task",
    "alice-run",
    "alice-proj",
    "alice-key",
    "alicecred",
    "alice-vol",
    "alice-pod",
    "alice-vm",
    "aliceep",
    "keep-me",
)
PUBLIC = {"/login", "/logout", "/vendor/{name}", "/static"}  # no one's data
OWN_CREATES = {
    "POST /sessions",
    "POST /folders",
    "POST /cloud/api-keys",
    "POST /cloud/pods",
    "POST /cloud/volumes",
    "POST /cloud/credentials",
    "POST /account/password",
}
STREAMS = {"GET /sessions/events"}
AIMED_CREATES = {"POST /cloud/vms", "POST /cloud/endpoints"}


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY, **SERVERLESS_ENV, **executor_env()}
    yield from live_server_on(request, tmp_path_factory, "ui-iso", env)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


def fill(path: str, ids: dict[str, str]) -> str:
    """The route's path aimed at alice's thing (each parameter by name, ``id`` and ``name``
    by the part of the UI they belong to)."""
    by_prefix = {
        "/cloud/api-keys": "key",
        "/cloud/credentials": "credential",
        "/cloud/pods": "pod",
        "/cloud/volumes": "volume",
        "/cloud/vms": "vm",
        "/cloud/endpoints": "endpoint",
    }
    values = {
        "session_id": ids["session_id"],
        "task_id": ids["task_id"],
        "queue_id": ids["queue_id"],
        "how": "top",
        "worker": "1",
        "action": "delete",
        "invitation_id": ids["invitation"],
        "path": "api/kernels",
        "answer": "accept",
        "change": "deactivate",
    }

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name == "id":
            kind = next((v for k, v in by_prefix.items() if path.startswith(k)), None)
            return ids[kind] if kind else "00000000-0000-0000-0000-000000000000"
        if name == "name":
            return "default" if path.startswith("/admin") else "alice-folder"
        if name not in values:
            pytest.fail(f"{path}: no value of alice's for parameter {{{name}}}: add one")
        return values[name]

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


QUERIES = {
    "/experiments/compare": "?ids={task_id}&ids={task_id}",
    "/experiments/compare/scalars": "?ids={task_id}&ids={task_id}",
    "/experiments/tasks": "?project={project}",
    "/experiments/file": "?url=x",
    "/sessions/{session_id}/files/download": "?file=.bashrc",
    "/folders/{name}/download": "?file=keep-me",
}
FORMS: dict[str, dict[str, str]] = {
    "/folders/{name}/rename": {"new_name": "stolen"},
    "/folders/{name}/invite": {"emails": "bob@uiiso.test"},
    "/folders/{name}/files/{action}": {"target": "keep-me"},
    "/cloud/endpoints/{id}/scale": {"workers": "0"},
    "/cloud/volumes/{id}/name": {"name": "stolen"},
    "/cloud/volumes/{id}/resize": {"size_gb": "9"},
    "/cloud/vms/{id}/edit": {"name": "stolen"},
    "/cloud/credentials/{id}/edit": {"name": "stolen", "username": "bob", "password": "x"},
    "/experiments/tasks/{task_id}/move": {"project": "stolen"},
    "/experiments/tasks/{task_id}/clone": {"name": "stolen"},
    "/experiments/tasks/{task_id}/enqueue": {"queue": "alice-q"},
}


def no_markers(text: str, where: str) -> None:
    leaked = [m for m in MARKERS if m in text]
    assert not leaked, f"{where} shows bob {leaked}"


def routes() -> list[tuple[str, str]]:
    found = []
    for route in ui_routes():
        if isinstance(route, Route):
            found += [(m, route.path) for m in sorted((route.methods or set()) - {"HEAD"})]
        elif isinstance(route, WebSocketRoute):
            found.append(("WS", route.path))
        elif isinstance(route, Mount):
            found.append(("MOUNT", route.path))
    return found


def check_get(ctx: BrowserContext, method_path: str, path: str, ids: dict[str, str]) -> None:
    query = QUERIES.get(path, "").format(**ids)
    answer = ctx.request.get("/ui" + fill(path, ids) + query, max_redirects=0)
    body = answer.text()
    no_markers(body, method_path)
    if path.startswith("/admin"):
        assert answer.status == 403, (method_path, answer.status)
    elif "{" in path:
        assert answer.status in (403, 404), (method_path, answer.status, body[:300])
    else:
        aimed = (404,) if path in QUERIES else ()  # its query names alice's thing
        assert answer.status in (200, 400, *aimed), (method_path, answer.status, body[:300])


def check_post(
    ctx: BrowserContext, method_path: str, path: str, ids: dict[str, str], token: str
) -> None:
    form = {"csrf": token, **FORMS.get(path, {})}
    if path == "/cloud/vms":
        form.update({"name": "bob-vm", f"mount_{ids['volume']}": "on", "vm_type": ids["vm_type"]})
    if path == "/cloud/endpoints":
        form.update(
            {"name": "bobep", "mode": "QUEUE", "image": "python:3", "credential": ids["credential"]}
        )
    answer = ctx.request.post("/ui" + fill(path, ids), form=form, max_redirects=0)
    no_markers(answer.text(), method_path)
    wanted = (403,) if path.startswith("/admin") else (400, 403, 404, 409)
    assert answer.status in wanted, (method_path, answer.status, answer.text()[:300])


def check_other(ctx: BrowserContext, method: str, path: str, ids: dict[str, str],
                token: str) -> None:  # fmt: skip
    """Any other method on a page of alice's (the Jupyter proxy passes them on)."""
    answer = ctx.request.fetch("/ui" + fill(path, ids), method=method, max_redirects=0,
                               headers={"X-CSRF-Token": token})  # fmt: skip
    no_markers(answer.text(), f"{method} {path}")
    assert answer.status in (400, 403, 404, 405), (method, path, answer.status)


def check_stream(server: LiveServer, ctx: BrowserContext, path: str) -> None:
    cookies = {c["name"]: c["value"] for c in ctx.cookies()}
    seen = b""
    with httpx.Client(base_url=server.endpoint, cookies=cookies, timeout=3) as http:
        try:
            with http.stream("GET", "/ui" + path) as answer:
                assert answer.status_code == 200
                for chunk in answer.iter_bytes():
                    seen += chunk
                    if len(seen) > 65536:
                        break
        except httpx.ReadTimeout:
            pass
    no_markers(seen.decode(errors="replace"), path)


def open_socket(server: LiveServer, ctx: BrowserContext, path: str, ids: dict[str, str]) -> str:
    """What the terminal socket does for this profile: "open" (its first message came, or
    it stayed open), or "refused" (the handshake answered 403, or it closed with 4403)."""
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in ctx.cookies())
    base = server.endpoint.replace("http", "ws", 1)
    url = f"{base}/ui{fill(path, ids)}?shared=1"  # the session's shell: no app to start
    headers = {"Cookie": cookie, "Origin": server.endpoint}
    try:
        with ws_connect(url, additional_headers=headers, open_timeout=10) as socket:
            try:
                socket.recv(timeout=3)
                return "open"
            except TimeoutError:
                return "open"
            except ConnectionClosed as closed:
                return "refused" if closed.rcvd and closed.rcvd.code == 4403 else "open"
    except InvalidStatus as refused:
        answer = refused.response
        if b"worker refused" in (answer.body or b""):  # it reached the session's app
            return "reached the app"
        assert answer.status_code in (403, 404), answer.status_code
        return "refused"


def test_bob_never_sees_or_changes_anything_of_alices(
    browser: Browser, server: LiveServer, tmp_path: Path
) -> None:
    """Screenshots of the three profiles' pages go to $HANGAR_TEST_ARTIFACTS on failure."""
    artifacts = Path(os.environ.get("HANGAR_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    world = World()
    new_user(server, "bob@uiiso.test")
    new_user(server, "carol@uiiso.test")
    world.api = ClearmlApi.of(server, new_user(server, "alice@uiiso.test"))
    alice_ctx, alice = profile(browser, server, "alice@uiiso.test")
    build_alices_things(alice, server, world)
    ids = world.ids
    alice.goto("/ui/sessions")
    row = alice.locator(f'tr[data-session-id="{ids["session_id"]}"] [data-status]')
    expect(row).to_have_text("RUNNING", timeout=90_000)  # for its terminal socket
    wait_running(world.api, ids["run_id"])  # bob's /ui/queues lists the executor's worker
    carol_ctx, carol = profile(browser, server, "carol@uiiso.test")
    carol.goto("/ui/folders")
    ids["invitation"] = (
        carol.locator("[data-invitation]").first.get_attribute("data-invitation") or ""
    )
    bob_ctx, bob = profile(browser, server, "bob@uiiso.test")
    bob.goto("/ui/cloud/vms/new")
    ids["vm_type"] = (
        bob.locator("select[name=vm_type] option", has_text="H100").get_attribute("value") or ""
    )
    token = bob.locator("input[name=csrf]").first.get_attribute("value") or ""
    unclassified = []
    try:
        for method, path in routes():
            key = f"{method} {path}"
            if path in PUBLIC or key in OWN_CREATES:
                continue
            if key in STREAMS:
                check_stream(server, bob_ctx, path)
            elif method == "WS":
                if path.endswith("/terminal/ws"):  # alice's own opens: the control
                    assert open_socket(server, alice_ctx, path, ids) == "open", path
                assert open_socket(server, bob_ctx, path, ids) == "refused", path
            elif method == "GET":
                check_get(bob_ctx, key, path, ids)
            elif method in ("PUT", "PATCH", "DELETE", "OPTIONS") and "{" in path:
                check_other(bob_ctx, method, path, ids, token)
            elif method == "POST" and (
                "{" in path or path.startswith("/admin") or key in AIMED_CREATES
            ):
                check_post(bob_ctx, key, path, ids, token)
            else:
                unclassified.append(key)
        assert not unclassified, f"classify these UI routes in the matrix: {unclassified}"
        still_alices(alice, carol, bob, world)
    except BaseException:
        for who, page in (("alice", alice), ("carol", carol), ("bob", bob)):
            page.screenshot(path=str(artifacts / f"ui-isolation-{who}.png"), full_page=True)
        raise
    finally:
        for ctx in (alice_ctx, carol_ctx, bob_ctx):
            ctx.close()
        world.api.call("tasks.stop", task=ids["run_id"])
        world.api.close()


def still_alices(alice: Page, carol: Page, bob: Page, world: World) -> None:
    ids, api = world.ids, world.api
    assert api is not None
    alice.goto(f"/ui/sessions/{ids['session_id']}")
    expect(alice.locator("body")).to_contain_text("alice-sess")
    expect(alice.locator("body")).not_to_contain_text(re.compile("TERMINAT"))
    alice.goto("/ui/folders/alice-folder")
    expect(alice.locator("body")).to_contain_text("keep-me")
    task: dict[str, Any] = api.call("tasks.get_by_id", task=ids["task_id"])["task"]
    assert (task["name"], task["status"]) == ("alice-task", "queued"), task
    assert "archived" not in task.get("system_tags", []), task
    queue = api.call("queues.get_by_id", queue=ids["queue_id"])["queue"]
    assert [e["task"] for e in queue["entries"]] == [ids["task_id"]], queue
    alice.goto("/ui/cloud")
    expect(alice.locator(f"#pods tr[data-pod='{ids['pod']}'] [data-status]")).not_to_have_text(
        re.compile("terminat")
    )
    expect(alice.locator(f"#vms tr[data-vm='{ids['vm']}'] [data-status]")).not_to_have_text(
        "terminated"
    )
    expect(alice.locator(f"#volumes tr[data-volume='{ids['volume']}']")).to_have_count(1)
    for row, kept in ((f"#volumes tr[data-volume='{ids['volume']}']", ("alice-vol", "1 GB")),
                      (f"#vms tr[data-vm='{ids['vm']}']", ("alice-vm",)),
                      (f"#credentials tr[data-credential='{ids['credential']}']",
                       ("alicecred",))):  # fmt: skip
        for text in kept:  # not renamed or resized
            expect(alice.locator(row)).to_contain_text(text)
    credential = alice.locator(f"#credentials tr[data-credential='{ids['credential']}']")
    expect(credential).not_to_contain_text("bob")
    expect(alice.locator(f"#key-table tr[data-key-id='{ids['key']}'] [data-active]")).to_have_text(
        "yes"
    )
    expect(alice.locator(f"#credentials tr[data-credential='{ids['credential']}']")).to_have_count(
        1
    )
    alice.goto(f"/ui/cloud/endpoints/{ids['endpoint']}")
    expect(alice.locator("#summary [data-workers]")).to_contain_text("/1")
    expect(alice.locator("#summary [data-status]")).not_to_have_text(re.compile("STOPP"))
    carol.goto("/ui/folders")
    expect(carol.locator(f"[data-invitation='{ids['invitation']}']")).to_have_count(1)
    bob.goto("/ui/cloud")
    expect(bob.locator("#vms")).to_contain_text("No virtual machines.")
    bob.goto("/ui/cloud/endpoints")
    expect(bob.locator("#endpoints")).to_contain_text("No serverless endpoints")
