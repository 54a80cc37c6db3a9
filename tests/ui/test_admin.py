"""Administration in a real browser: users, keypairs, usage CSV, agents, presets,
announcement and freeze; a non-admin is refused everywhere, forged posts too."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.cloud import FAKE_INVENTORY
from tests.support.live import LiveServer
from tests.ui.helpers import ADMIN_EMAIL, new_user, sign_in

pytestmark = pytest.mark.integration

ADMIN_PAGES = ["/ui/admin", "/ui/admin/usage", "/ui/admin/usage.csv", "/ui/admin/agents",
               "/ui/admin/presets"]  # fmt: skip
ADMIN_POSTS = {
    "/ui/admin/users": {"email": "sneaky@admin.test", "password": "sneaky-password"},
    "/ui/admin/users/deactivate": {"email": ADMIN_EMAIL},
    "/ui/admin/keypairs": {"email": ADMIN_EMAIL, "is_admin": "on"},
    "/ui/admin/keypairs/revoke": {"access_key": "x"},
    "/ui/admin/api-keys": {"email": ADMIN_EMAIL},
    "/ui/admin/api-keys/revoke": {"id": "1"},
    "/ui/admin/announcement": {"message": "pwned"},
    "/ui/admin/status": {"status": "frozen"},
    "/ui/admin/presets": {"name": "sneaky", "cpu": "1"},
    "/ui/admin/presets/x/delete": {},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The module's server has fake GPUs (2x RTX 4090, 1x H100) for the agents page."""
    home = tmp_path_factory.mktemp("ui-admin")
    live = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db",
                      extra_env={"HANGAR_FAKE_ACCELERATORS": FAKE_INVENTORY})  # fmt: skip
    live.start()
    try:
        yield live
    finally:
        live.stop()


def admin_signed_in(page: Page, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    expect(page.locator("header nav")).to_contain_text("Administration")


def csrf_of(page: Page) -> str:
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    assert token
    return token


def test_admin_creates_a_user_who_sees_none_of_the_admins_things(
    page: Page, context: BrowserContext, browser_context_of_user: BrowserContext, server: LiveServer
) -> None:
    admin_signed_in(page, server)
    page.goto("/ui/folders")
    page.fill("#new-folder input[name=name]", "admins-private")
    page.click("#new-folder button[type=submit]")
    page.goto("/ui/admin")
    page.fill("#new-user input[name=email]", "carol@admin.test")
    page.fill("#new-user input[name=full_name]", "Carol")
    page.fill("#new-user input[name=password]", "carol-password")
    page.click("#new-user button[type=submit]")
    row = page.locator('#user-table tr[data-user="carol@admin.test"]')
    expect(row.locator("[data-status]")).to_have_text("active")
    carol = browser_context_of_user.new_page()
    sign_in(carol, "carol@admin.test", "carol-password")
    expect(carol.locator("header nav")).to_be_visible()
    expect(carol.locator("header nav")).not_to_contain_text("Administration")
    carol.goto("/ui/folders")
    expect(carol.locator("#folder-table")).to_contain_text("No folders.")
    expect(carol.locator("body")).not_to_contain_text("admins-private")
    carol.goto("/ui/sessions")
    expect(carol.locator("body")).not_to_contain_text(ADMIN_EMAIL)


@pytest.fixture
def browser_context_of_user(
    context: BrowserContext, server: LiveServer
) -> Iterator[BrowserContext]:
    """A second profile (own cookies) in the same browser, for a second signed-in user."""
    assert context.browser is not None
    other = context.browser.new_context(base_url=server.endpoint)
    other.set_default_timeout(20_000)
    yield other
    other.close()


def test_deactivated_user_cannot_sign_in(page: Page, context: BrowserContext,
                                         server: LiveServer) -> None:  # fmt: skip
    password = new_user(server, "dave@admin.test")
    admin_signed_in(page, server)
    page.goto("/ui/admin")
    row = page.locator('#user-table tr[data-user="dave@admin.test"]')
    row.locator("button", has_text="Deactivate").click()
    expect(row.locator("[data-status]")).to_have_text("inactive")
    other = context.browser.new_context(base_url=server.endpoint) if context.browser else None
    assert other is not None
    try:
        dave = other.new_page()
        sign_in(dave, "dave@admin.test", password)
        expect(dave.locator("[role=alert]")).to_be_visible()
        expect(dave.locator("header nav")).to_have_count(0)
    finally:
        other.close()


def test_non_admin_gets_403_on_every_admin_page_and_post(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    password = new_user(server, "erin@admin.test")
    sign_in(page, "erin@admin.test", password)
    expect(page.locator("header nav")).not_to_contain_text("Administration")
    page.goto("/ui/folders")
    token = csrf_of(page)
    for target in ADMIN_PAGES:
        response = context.request.get(target)
        assert response.status == 403, target
        assert "administrators" in response.text(), target
    for target, form in ADMIN_POSTS.items():
        response = context.request.post(target, form={**form, "csrf": token})
        assert response.status == 403, target
    announcement = context.request.get(server.endpoint + "/ui/")
    assert "pwned" not in announcement.text()


def test_forged_admin_post_is_refused(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    admin_signed_in(page, server)
    form = {"email": "forged@admin.test", "password": "forged-password"}
    missing = context.request.post("/ui/admin/users", form=form)
    wrong = context.request.post("/ui/admin/users", form={**form, "csrf": "0" * 64})
    for response in (missing, wrong):
        assert response.status == 403
        assert "CSRF" in response.text()
    page.goto("/ui/admin")
    expect(page.locator("#user-table")).not_to_contain_text("forged@admin.test")


def test_script_in_a_user_name_renders_inert(page: Page, server: LiveServer) -> None:
    admin_signed_in(page, server)
    page.goto("/ui/admin")
    name = "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"
    page.fill("#new-user input[name=email]", "mallory@admin.test")
    page.fill("#new-user input[name=full_name]", name)
    page.fill("#new-user input[name=password]", "mallory-password")
    page.click("#new-user button[type=submit]")
    row = page.locator('#user-table tr[data-user="mallory@admin.test"]')
    expect(row).to_contain_text(name)  # shown as text
    assert page.evaluate("window.pwned === undefined")
    assert row.locator("script, img").count() == 0


def test_usage_csv_has_the_header_and_a_row_per_user(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    for email in ("frank@admin.test", "grace@admin.test"):
        new_user(server, email)
    admin_signed_in(page, server)
    page.goto("/ui/admin/usage")
    expect(page.locator('#usage-users tr[data-user="frank@admin.test"]')).to_be_visible()
    href = page.locator("#usage-csv").get_attribute("href")
    assert href
    response = context.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text())))
    assert rows[0] == ["user", "cost", "currency", "gpu_hours", "cpu_core_hours",
                       "storage_gib_hours", "items", "period_start", "period_end"]  # fmt: skip
    users = [row[0] for row in rows[1:]]
    assert len(users) == len(set(users))
    assert {ADMIN_EMAIL, "frank@admin.test", "grace@admin.test"} <= set(users)
    page.goto("/ui/admin")
    listed = page.locator("#user-table tr[data-user]")
    assert listed.count() == len(users)
    bad = context.request.get("/ui/admin/usage.csv?from=yesterday")
    assert bad.status == 400
    assert "expected a date" in bad.text()


def test_keypair_secret_is_shown_once_and_revoked(page: Page, server: LiveServer) -> None:
    new_user(server, "heidi@admin.test")
    admin_signed_in(page, server)
    page.goto("/ui/admin")
    page.select_option("#new-keypair select[name=email]", "heidi@admin.test")
    page.click("#new-keypair button[type=submit]")
    secret = page.locator("#issued-secret [data-secret-key]")
    expect(secret).to_have_text(re.compile(r"\S{20,}"))
    access_key = page.locator("#issued-secret [data-access-key]").inner_text()
    row = page.locator(f'#keypair-table tr[data-keypair="{access_key}"]')
    expect(row).to_contain_text("heidi@admin.test")
    page.goto("/ui/admin")
    expect(page.locator("#issued-secret")).to_have_count(0)
    row.locator("button", has_text="Revoke").click()
    expect(page.locator(f'#keypair-table tr[data-keypair="{access_key}"]')).to_have_count(0)
    page.select_option("#new-api-key select[name=email]", "heidi@admin.test")
    page.fill("#new-api-key input[name=name]", "heidi's")
    page.click("#new-api-key button[type=submit]")
    key = page.locator("#issued-api-key [data-key]").inner_text()
    assert key.startswith("hk_")
    assert (
        httpx.get(server.endpoint + "/v2/volumes", headers={"X-Api-Key": key}).json()["code"]
        == 10000
    )
    key_row = page.locator("#api-key-table tr", has_text="heidi's")
    key_row.locator("button", has_text="Revoke").click()
    expect(key_row.locator("[data-active]")).to_have_text("revoked")
    expect(page.locator("#issued-api-key")).to_have_count(0)
    assert (
        httpx.get(server.endpoint + "/v2/volumes", headers={"X-Api-Key": key}).json()["code"]
        != 10000
    )


def test_agents_show_gpus_and_health_presets_announcement_freeze(
    page: Page, server: LiveServer
) -> None:
    admin_signed_in(page, server)
    page.goto("/ui/admin/agents")
    agent = page.locator("#agents tr[data-agent]").first
    expect(agent.locator("[data-gpus]")).to_contain_text("H100")
    expect(agent.locator("[data-gpus]")).to_contain_text("RTX 4090")
    expect(agent.locator("[data-health]")).to_contain_text("alive")
    page.goto("/ui/admin/presets")
    page.fill("#new-preset input[name=name]", "small-gpu")
    page.fill("#new-preset input[name=cpu]", "2")
    page.fill("#new-preset input[name=mem]", "4g")
    page.click("#new-preset button[type=submit]")
    expect(page.locator('#presets tr[data-preset="small-gpu"]')).to_contain_text("cpu=2")
    page.fill("#new-preset input[name=name]", "empty")
    page.click("#new-preset button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("at least one slot")
    page.locator('#presets tr[data-preset="small-gpu"] button').click()
    expect(page.locator('#presets tr[data-preset="small-gpu"]')).to_have_count(0)
    page.goto("/ui/admin")
    page.fill("#announcement input[name=message]", "Maintenance at 18:00")
    page.click("#announcement button:has-text('Publish')")
    page.goto("/ui/")
    expect(page.locator("body")).to_contain_text("Maintenance at 18:00")
    page.goto("/ui/admin")
    page.click("#announcement button:has-text('Clear')")
    expect(page.locator("#announcement")).to_contain_text("None shown.")
    page.click("#freeze button")
    expect(page.locator("[data-manager-status]")).to_have_text("frozen")
    page.click("#freeze button")
    expect(page.locator("[data-manager-status]")).to_have_text("running")
