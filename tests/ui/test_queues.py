"""Queues in a real browser: an experiment enqueued from its page runs on Hangar's executor
to completed; the queue page reorders and dequeues one's own tasks and shows other users'
entries without their names. The queue page's reads and changes run on each selected
database backend."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.integration.test_clearml_remote import executor_env
from tests.support.clearml import ClearmlApi, ClearmlUser, admin_of, new_user, run_sdk
from tests.support.live import LiveServer
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.helpers import sign_in

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend

CREATE = """
import json
from clearml import Task
task = Task.create(project_name="ui-queues", task_name="ui remote run", script="job.py")
task.set_parameters({"Args/lr": "0.1"})
print(json.dumps(task.id))
"""

JOB = """
from clearml import Task
task = Task.init()
print("the job ran")
for i in range(50):
    task.get_logger().report_scalar("loss", "train", value=1.0 / (i + 1), iteration=i)
task.flush(wait_for_uploads=True)
"""


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The module's server runs queued tasks itself (the executor, with the SDK's site)."""
    yield from live_server_on(request, tmp_path_factory, "ui-queues", executor_env())


@pytest.fixture(scope="module")
def alice(server: LiveServer) -> ClearmlUser:
    return new_user(server, "alice@queues.test")


@pytest.fixture(scope="module")
def api(server: LiveServer, alice: ClearmlUser) -> Iterator[ClearmlApi]:
    client = ClearmlApi.of(server, alice)
    yield client
    client.close()


def password_of(user: ClearmlUser) -> str:
    return "password-of-" + user.email


@pytest.mark.backends("sqlite")  # executor on PostgreSQL: test_clearml_remote_handoff
def test_an_experiment_enqueued_in_the_ui_runs_to_completed(
    page: Page, server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    folder = server.home / "ui-job"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    made = run_sdk(server, CREATE, user=alice, cwd=folder)
    assert made.returncode == 0, made.stderr[-3000:]
    task_id = json.loads(made.stdout.strip().splitlines()[-1])
    sign_in(page, alice.email, password_of(alice))
    page.goto(f"/ui/experiments/tasks/{task_id}")
    badge = page.locator(".heading [data-status]")
    expect(badge).to_have_text("created")
    page.click("#enqueue-form button")
    expect(badge).to_have_text(re.compile("queued|in_progress|completed"))
    expect(page.locator("#enqueue-form")).to_have_count(0)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    expect(badge).to_have_text("completed", timeout=180_000)
    assert page.evaluate("window.sameDocument === true")  # the badge polled itself
    page.reload()
    expect(page.locator("#charts")).to_have_attribute("data-drawn", "1", timeout=20_000)
    expect(page.locator("#task-log")).to_contain_text("the job ran")
    expect(page.locator("#hyperparams")).to_contain_text("Args/lr")
    page.goto("/ui/queues")  # the run's worker is Hangar's own, seen as the task's owner sees it
    expect(page.locator("#workers")).to_contain_text("hangar:default")


def test_the_queue_page_reorders_and_dequeues_my_tasks_only(
    page: Page, server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    admin = ClearmlApi.of(server, admin_of(server))
    bob = new_user(server, "bob@queues.test")
    bob_api = ClearmlApi.of(server, bob)
    try:
        queue = admin.call("queues.create", name="ui-line", served_by="external")["id"]
        mine = []
        for name in ("first mine", "second mine"):
            task = api.call("tasks.create", name=name, type="training")["id"]
            api.call("tasks.enqueue", task=task, queue=queue)
            mine.append(task)
        secret = bob_api.call("tasks.create", name="bob's secret", type="training")["id"]
        bob_api.call("tasks.enqueue", task=secret, queue=queue)
    finally:
        admin.close()
        bob_api.close()
    sign_in(page, alice.email, password_of(alice))
    page.goto("/ui/queues")
    card = page.locator(f'section[data-queue-id="{queue}"]')
    expect(card.locator("[data-length]")).to_have_text("3")
    expect(card.locator(".queue-chart")).to_have_attribute("data-drawn", "1")
    expect(card.locator(".queue-chart canvas")).to_have_count(1)
    expect(page.locator("#worker-charts")).to_have_attribute("data-drawn", "1")
    expect(card).not_to_contain_text("bob's secret")
    theirs = card.locator(f'tr[data-task-id="{secret}"]')
    expect(theirs).to_contain_text("another user's task")
    expect(theirs.locator("button")).to_have_count(0)
    card.locator(f'tr[data-task-id="{mine[1]}"] button[title="move top"]').click()
    expect(card.locator("table.list tbody tr").first).to_contain_text("second mine")
    card.locator(f'tr[data-task-id="{mine[0]}"] button:has-text("Dequeue")').click()
    expect(card.locator("[data-length]")).to_have_text("2")
    assert api.call("tasks.get_by_id", task=mine[0])["task"]["status"] == "created"
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    refused = page.request.post(f"/ui/queues/{queue}/tasks/{secret}/dequeue", form={"csrf": csrf})
    assert refused.status == 404 and "bob's secret" not in refused.text()


def test_the_queue_page_shows_new_entries_by_itself(
    page: Page, server: LiveServer, alice: ClearmlUser, api: ClearmlApi
) -> None:
    admin = ClearmlApi.of(server, admin_of(server))
    try:
        queue = admin.call("queues.create", name="ui-live-line", served_by="external")["id"]
    finally:
        admin.close()
    sign_in(page, alice.email, password_of(alice))
    page.goto("/ui/queues")
    card = page.locator(f'section[data-queue-id="{queue}"]')
    expect(card.locator("[data-length]")).to_have_text("0")
    chart = f"document.getElementById('queue-chart-{queue}')"
    page.evaluate(f"window.sameDocument = true; {chart}.kept = true")
    task = api.call("tasks.create", name="arrives later", type="training")["id"]
    api.call("tasks.enqueue", task=task, queue=queue)
    expect(card.locator("[data-length]")).to_have_text("1")
    expect(card.locator(f'tr[data-task-id="{task}"]')).to_contain_text("arrives later")
    assert page.evaluate(f"{chart}.kept === true")  # the chart's element was kept as drawn
    api.call("tasks.dequeue", task=task)
    expect(card.locator("[data-length]")).to_have_text("0")
    assert page.evaluate("window.sameDocument === true")
