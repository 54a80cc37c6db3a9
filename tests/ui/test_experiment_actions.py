"""Changing experiments in a real browser: reset, archive, publish, move, a clone with its
hyperparameters edited and enqueued, the tag filter with several tags, and a task table
that shows new tasks and new statuses by itself. Data comes in through the ClearML face.
On each selected database backend: the changes and tag filters are the database's."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.clearml import ClearmlApi, ClearmlUser, admin_of, new_user
from tests.support.live import LiveServer
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.helpers import sign_in

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend

BADGE = ".heading [data-status]"
SCRIPT = "<script>window.pwned=1</script>"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from live_server_on(request, tmp_path_factory, "ui-actions")


@pytest.fixture(scope="module")
def carol(server: LiveServer) -> ClearmlUser:
    return new_user(server, "carol@actions.test")


@pytest.fixture(scope="module")
def api(server: LiveServer, carol: ClearmlUser) -> Iterator[ClearmlApi]:
    client = ClearmlApi.of(server, carol)
    yield client
    client.close()


def project_of(api: ClearmlApi, name: str) -> str:
    made: str = api.call("projects.create", name=name, description="")["id"]
    return made


def task_in(api: ClearmlApi, name: str, project: str, **fields: object) -> str:
    made: str = api.call("tasks.create", name=name, type="training", project=project,
                         **fields)["id"]  # fmt: skip
    return made


def completed(api: ClearmlApi, task: str) -> None:
    api.call("tasks.started", task=task)
    api.call("tasks.completed", task=task)


def signed_in(page: Page, user: ClearmlUser) -> None:
    sign_in(page, user.email, "password-of-" + user.email)


def test_publish_reset_archive_and_move(page: Page, api: ClearmlApi, carol: ClearmlUser) -> None:
    home, other = project_of(api, "act-home"), project_of(api, "act-other")
    done, kept = task_in(api, "act done", home), task_in(api, "act kept", home)
    for task in (done, kept):
        completed(api, task)
    signed_in(page, carol)
    page.goto(f"/ui/experiments/tasks/{done}")
    expect(page.locator(BADGE)).to_have_text("completed")
    page.click("#publish-form button")
    expect(page.locator(BADGE)).to_have_text("published")
    expect(page.locator("#reset-form")).to_have_count(0)  # a published task stays
    assert api.call("tasks.get_by_id", task=done)["task"]["status"] == "published"
    page.goto(f"/ui/experiments/tasks/{kept}")
    page.click("#reset-form button")
    expect(page.locator(BADGE)).to_have_text("created")
    page.click("#archive-form button")
    expect(page.locator("#archived-mark")).to_be_visible()
    page.goto(f"/ui/experiments/tasks?project={home}")
    expect(page.locator(f'tr[data-task-id="{kept}"]')).to_have_count(0)
    page.goto(f"/ui/experiments/tasks?project={home}&archived=1")
    expect(page.locator(f'tr[data-task-id="{kept}"]')).to_have_count(1)
    page.goto(f"/ui/experiments/tasks/{kept}")
    page.click("#archive-form button:has-text('Restore')")
    expect(page.locator("#archived-mark")).to_have_count(0)
    page.select_option("#move-form select[name=project]", other)
    page.click("#move-form button")
    expect(page).to_have_url(re.compile(f"/ui/experiments/tasks/{kept}$"))
    assert api.call("tasks.get_by_id", task=kept)["task"]["project"] == other
    page.goto(f"/ui/experiments/tasks?project={other}")
    expect(page.locator(f'tr[data-task-id="{kept}"]')).to_have_count(1)
    page.goto(f"/ui/experiments/tasks/{done}")
    csrf = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    refused = page.request.post(f"/ui/experiments/tasks/{done}/reset", form={"csrf": csrf})
    assert refused.status in (400, 409) and "published" in refused.text().lower()


def test_a_clone_with_edited_hyperparameters_is_enqueued(
    page: Page, server: LiveServer, api: ClearmlApi, carol: ClearmlUser
) -> None:
    admin = ClearmlApi.of(server, admin_of(server))
    try:
        queue = admin.call("queues.create", name="act-line", served_by="external")["id"]
    finally:
        admin.close()
    params = {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "float"},
                       "epochs": {"section": "Args", "name": "epochs", "value": "3"},
                       "note": {"section": "Args", "name": "note", "value": SCRIPT}}}  # fmt: skip
    project = project_of(api, "act-clone")
    source = task_in(api, "act source", project, hyperparams=params)
    signed_in(page, carol)
    page.goto(f"/ui/experiments/tasks/{source}")
    page.click("#clone-edit")
    expect(page.locator('#clone-params input[aria-label="Args/note"]')).to_have_value(SCRIPT)
    page.select_option("#clone-edit-form select[name=queue]", queue)
    chosen = "#clone-edit-form select[name=queue] option:checked"
    page.evaluate(f"document.querySelector('{chosen}').value = 'nope'")
    page.click("#clone-edit-form button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()  # an unknown queue: refused, no clone
    expect(page.locator('#clone-params input[aria-label="Args/lr"]')).to_have_value("0.1")
    assert page.evaluate("window.pwned") is None
    assert [t["id"] for t in api.call("tasks.get_all", project=[project])["tasks"]] == [source]
    page.fill('#clone-params input[aria-label="Args/lr"]', "0.25")
    page.fill("#clone-edit-form input[name=name]", "act tuned")
    page.select_option("#clone-edit-form select[name=queue]", queue)
    page.click("#clone-edit-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("act tuned")
    expect(page.locator(BADGE)).to_have_text("queued")
    expect(page.locator("#hyperparams tr", has_text="Args/lr")).to_contain_text("0.25")
    clone = page.url.rsplit("/", 1)[1]
    got = api.call("tasks.get_by_id", task=clone)["task"]
    assert got["hyperparams"]["Args"]["lr"] == {"section": "Args", "name": "lr",
                                                "value": "0.25", "type": "float"}  # fmt: skip
    assert got["hyperparams"]["Args"]["epochs"]["value"] == "3"
    assert got["execution"]["queue"] == queue
    kept = api.call("tasks.get_by_id", task=source)["task"]
    assert kept["hyperparams"]["Args"]["lr"]["value"] == "0.1"
    page.goto("/ui/queues")
    expect(page.locator(f'section[data-queue-id="{queue}"]')).to_contain_text("act tuned")


def test_several_tags_filter_any_or_every(page: Page, api: ClearmlApi, carol: ClearmlUser) -> None:
    project = project_of(api, "act-tags")
    ids = {name: task_in(api, name, project, tags=tags) for name, tags in
           (("only red", ["red"]), ("only blue", ["blue"]), ("red blue", ["red", "blue"]),
            ("green", ["green"]))}  # fmt: skip
    signed_in(page, carol)
    page.goto(f"/ui/experiments/tasks?project={project}")
    rows = page.locator("tr[data-task-id]")
    expect(rows).to_have_count(4)
    page.select_option("#tag-filter", ["red", "blue"])
    expect(rows).to_have_count(3)
    expect(page.locator("#task-table")).not_to_contain_text("green")
    page.select_option("#task-filters select[name=tags]", "all")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-task-id", ids["red blue"])
    page.reload()  # the filters are in the address
    expect(rows).to_have_count(1)
    assert sorted(page.locator("#tag-filter option:checked").all_inner_texts()) == ["blue", "red"]


def test_the_task_table_shows_new_tasks_and_statuses_by_itself(
    page: Page, api: ClearmlApi, carol: ClearmlUser
) -> None:
    project = project_of(api, "act-live")
    first = task_in(api, "live first", project)
    signed_in(page, carol)
    page.goto(f"/ui/experiments/tasks?project={project}")
    expect(page.locator("tr[data-task-id]")).to_have_count(1)
    page.evaluate("window.sameDocument = true")
    second = task_in(api, "live second", project)
    completed(api, first)
    expect(page.locator(f'tr[data-task-id="{second}"]')).to_contain_text("live second")
    expect(page.locator(f'tr[data-task-id="{first}"] [data-status]')).to_have_text("completed")
    assert page.evaluate("window.sameDocument === true")
    page.check(f'tr[data-task-id="{first}"] input[type=checkbox]')
    task_in(api, "live third", project)  # a table with a ticked box waits
    page.wait_for_timeout(4_000)
    expect(page.locator("tr[data-task-id]")).to_have_count(2)
    expect(page.locator(f'tr[data-task-id="{first}"] input[type=checkbox]')).to_be_checked()
