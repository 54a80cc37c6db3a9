"""Alice's world for the UI isolation matrix (tests/security/test_ui_isolation.py): one of
each thing the UI shows, made through the UI's own forms (and the ClearML API for an
experiment in a queue no worker serves, and one that Hangar's own executor runs), with the
ids the UI's paths name them by."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.clearml import ClearmlApi
from tests.support.live import LiveServer
from tests.ui.helpers import sign_in


@dataclass
class World:
    """Alice's things (ids as the UI's paths name them) and who looks at them."""

    ids: dict[str, str] = field(default_factory=dict)
    api: ClearmlApi | None = None


def profile(browser: Browser, server: LiveServer, email: str) -> tuple[BrowserContext, Page]:
    ctx = browser.new_context(base_url=server.endpoint, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    sign_in(page, email, "password-of-" + email)
    expect(page.locator("header nav")).to_be_visible()
    return ctx, page


def submit(page: Page, form: str, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        target = page.locator(f"{form} [name='{name}']")
        tag = target.evaluate("e => e.tagName")
        if tag == "SELECT":
            target.select_option(value)
        elif target.get_attribute("type") == "checkbox":
            target.check()
        else:
            target.fill(value)
    page.locator(f"{form} button[type=submit]").first.click()


def build_alices_things(page: Page, server: LiveServer, world: World) -> None:
    ids = world.ids
    page.goto("/ui/sessions/new")
    python = page.locator("select[name=image] option", has_text="python").first
    submit(
        page, "#new-session", {"name": "alice-sess", "image": python.get_attribute("value") or ""}
    )
    expect(page).to_have_url(re.compile(r"/ui/sessions/[0-9a-f-]{36}$"))
    ids["session_id"] = page.url.rsplit("/", 1)[1]
    page.goto("/ui/folders")
    submit(page, "#new-folder", {"name": "alice-folder"})
    page.goto("/ui/folders/alice-folder")
    submit(page, "form[action*='/files/mkdir']", {"dir": "keep-me"})
    submit(page, "#share form", {"emails": "carol@uiiso.test"})
    page.goto("/ui/cloud/volumes/new")
    submit(page, "#new-volume", {"name": "alice-vol", "storage_type": "CEPH", "size_gb": "1"})
    ids["volume"] = (
        page.locator("#volumes tr[data-volume]").first.get_attribute("data-volume") or ""
    )
    page.goto("/ui/cloud")
    submit(page, "#new-key", {"name": "alice-key"})
    ids["key"] = page.locator("#key-table tr[data-key-id]").first.get_attribute("data-key-id") or ""
    page.goto("/ui/cloud/credentials/new")
    submit(page, "#new-credential", {"name": "alicecred", "username": "a", "password": "pw"})
    ids["credential"] = (
        page.locator("#credentials tr[data-credential]").first.get_attribute("data-credential")
        or ""
    )
    page.goto("/ui/cloud/pods/new")
    submit(page, "#new-pod", {"name": "alice-pod", "image": "python:3", "resource_type": "CPU"})
    ids["pod"] = page.locator("#pods tr[data-pod]").first.get_attribute("data-pod") or ""
    page.goto("/ui/cloud/vms/new")
    h100 = page.locator("select[name=vm_type] option", has_text="H100").get_attribute("value")
    submit(page, "#new-vm", {"name": "alice-vm", "vm_type": h100 or ""})
    ids["vm"] = page.locator("#vms tr[data-vm]").first.get_attribute("data-vm") or ""
    page.goto("/ui/cloud/endpoints/new")
    submit(
        page,
        "#new-endpoint",
        {"name": "aliceep", "mode": "QUEUE", "image": "python:3", "init_command": "sleep 600"},
    )
    expect(page.locator("#endpoint-name")).to_have_text("aliceep")
    ids["endpoint"] = page.url.rsplit("/", 1)[1]
    assert all(ids.values()), ids
    api = world.api
    assert api is not None
    project = api.call("projects.create", name="alice-proj", description="")["id"]
    task = api.call("tasks.create", name="alice-task", type="training", project=project)["id"]
    made = server.hangar("queue", "create", "alice-q", "--served-by", "external")
    assert made.returncode == 0, made.stderr  # no worker: the task stays queued
    queue = api.call("queues.get_all", name="alice-q")["queues"][0]["id"]
    api.call("tasks.enqueue", task=task, queue=queue)
    ids.update(task_id=task, queue_id=queue, project=project)
    script = {"entry_point": "run.py", "working_dir": ".", "diff": SLEEPER}
    run = api.call("tasks.create", name="alice-run", type="training", project=project,
                   script=script)["id"]  # fmt: skip
    api.call("tasks.enqueue", task=run, queue_name="default")  # a queue Hangar serves
    ids["run_id"] = run


SLEEPER = "import time\nprint('alice-run is running', flush=True)\ntime.sleep(900)\n"


def wait_running(api: ClearmlApi, task_id: str, timeout: float = 90) -> None:
    """Until Hangar's executor worker reports running ``task_id`` (as its owner sees it)."""
    deadline = time.monotonic() + timeout
    while True:
        workers = api.call("workers.get_all")["workers"]
        if any(w.get("task", {}).get("id") == task_id for w in workers):
            return
        assert time.monotonic() < deadline, (task_id, workers)
        time.sleep(0.3)
