"""The home page: the signed-in user's queued experiments, running sessions, cost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.clearml import ClearmlApi
from tests.support.live import LiveServer
from tests.ui.helpers import ADMIN_EMAIL, new_user, sign_in

pytestmark = pytest.mark.integration


@pytest.fixture
def admin_api(server: LiveServer) -> Iterator[ClearmlApi]:
    api = ClearmlApi.of(server)
    yield api
    api.close()


def test_home_lists_my_queued_experiments_only(
    page: Page, server: LiveServer, admin_api: ClearmlApi
) -> None:
    queue = admin_api.call("queues.create", name="ui-waiting", served_by="external")["id"]
    for name in ("first <b>experiment</b>", "second experiment"):
        task = admin_api.call("tasks.create", name=name, type="training")["id"]
        admin_api.call("tasks.enqueue", task=task, queue=queue)
    sign_in(page, ADMIN_EMAIL, server.password)
    card = page.locator("section", has_text="Queued experiments")
    expect(card).to_contain_text("first <b>experiment</b> in ui-waiting, #1")
    expect(card).to_contain_text("second experiment in ui-waiting, #2")
    expect(page.locator("#cost")).to_contain_text("(no daily limit)")
    page.click("text=Sign out")
    sign_in(page, "home@example.com", new_user(server, "home@example.com"))
    expect(card).to_contain_text("None of your experiments is waiting in a queue.")
