"""Sessions in the web UI: create, watch it turn RUNNING live, destroy; isolation; XSS.
On each selected database backend, except the tests the database does not matter to."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.live import LiveServer
from tests.ui.backends import live_server_on, server_per_backend
from tests.ui.helpers import ADMIN_EMAIL, new_user, sign_in

pytestmark = pytest.mark.integration
pytest_generate_tests = server_per_backend

SCRIPT = "<script>window.pwned=1</script>"


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    yield from live_server_on(request, tmp_path_factory, "ui-sessions")


def create(page: Page, name: str, *, command: str = "") -> str:
    """Fills the new-session form; returns the new session's id (from the detail page URL)."""
    page.goto("/ui/sessions/new")
    page.fill("input[name=name]", name)
    python = page.locator("select[name=image] option", has_text="python").first
    page.select_option("select[name=image]", value=python.get_attribute("value") or "")
    if command:
        page.select_option("select[name=type]", "batch")
        page.fill("input[name=command]", command)
    page.click("button:has-text('Create')")
    expect(page).to_have_url(re.compile(r"/ui/sessions/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_create_watch_running_live_and_destroy(page: Page, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    session_id = create(page, "ui-first")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    badge = page.locator(f'.heading[data-session-id="{session_id}"] [data-status]')
    expect(badge).to_have_text("RUNNING", timeout=60_000)
    assert page.evaluate("window.sameDocument === true")  # updated by the event stream
    page.goto("/ui/sessions")
    row = page.locator(f'tr[data-session-id="{session_id}"]')
    expect(row).to_contain_text("ui-first")
    expect(row.locator("[data-status]")).to_have_text("RUNNING")
    page.goto(f"/ui/sessions/{session_id}")
    page.click("button:has-text('Restart')")
    expect(page).to_have_url(re.compile(f"/ui/sessions/{session_id}$"))
    expect(badge).to_have_text("RUNNING", timeout=60_000)
    page.click("button:has-text('Destroy')")
    expect(page).to_have_url(re.compile(r"/ui/sessions$"))
    page.goto("/ui/sessions?status=all")
    expect(row.locator("[data-status]")).to_have_text(re.compile("TERMINAT"), timeout=30_000)
    assert not [s for s in server.sessions_alive() if s["id"] == session_id and
                s["status"] == "RUNNING"]  # fmt: skip


def test_the_list_shows_a_session_started_elsewhere_without_a_reload(
    page: Page, server: LiveServer
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    page.goto("/ui/sessions")
    expect(page.locator("#session-table")).to_be_visible()
    page.evaluate("window.sameDocument = true")
    page.wait_for_function("document.documentElement.dataset.live === 'open'")
    body = {"name": "ui-from-cli", "image": "python", "enqueueOnly": True}
    assert server.signed("POST", "/session", body).status_code in (200, 201)
    row = page.locator("tr", has_text="ui-from-cli")
    expect(row.locator("[data-status]")).to_have_text("RUNNING", timeout=60_000)
    assert page.evaluate("window.sameDocument === true")
    assert server.signed("DELETE", "/session/ui-from-cli").status_code < 300


LISTEN = """() => new Promise((opened) => {
  window.seen = [];
  const source = new EventSource("/ui/sessions/events");
  source.addEventListener("session", (event) => window.seen.push(event.data));
  source.onopen = () => opened(true);
})"""


def test_another_user_sees_none_of_the_first_users_sessions(
    page: Page, browser: Browser, server: LiveServer
) -> None:
    password = new_user(server, "other@example.com")
    other = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(other, "other@example.com", password)
        expect(other.locator("header nav")).to_be_visible()
        assert other.evaluate(LISTEN)
        sign_in(page, ADMIN_EMAIL, server.password)
        mine = create(page, "ui-private")
        badge = page.locator(f'.heading[data-session-id="{mine}"] [data-status]')
        expect(badge).to_have_text("RUNNING", timeout=60_000)
        assert other.evaluate("window.seen") == []  # no event of the admin's session
        other.goto("/ui/sessions?status=all")
        expect(other.locator("#session-table")).to_contain_text("No sessions.")
        other.goto("/ui/")
        expect(other.locator("main")).not_to_contain_text("ui-private")
        for path in (f"/ui/sessions/{mine}", f"/ui/sessions/{mine}/log"):
            assert other.goto(path).status == 404  # type: ignore[union-attr]
        csrf = other.evaluate(
            "JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
        )
        for action in ("destroy", "restart"):
            refused = other.request.post(f"/ui/sessions/{mine}/{action}", form={"csrf": csrf})
            assert refused.status == 404
    finally:
        other.context.close()
    page.goto(f"/ui/sessions/{mine}")
    expect(page.locator("h1")).to_have_text("ui-private")
    expect(page.locator("[data-status]")).to_have_text("RUNNING")
    page.click("button:has-text('Destroy')")


def test_a_preset_sets_the_resources(page: Page, server: LiveServer) -> None:
    slots = '{\\"cpu\\": \\"1\\", \\"mem\\": \\"768m\\"}'
    query = (f'mutation {{ create_resource_preset(name: "ui-small", props: '
             f'{{resource_slots: "{slots}"}}) {{ ok msg }} }}')  # fmt: skip
    made = server.signed("POST", "/admin/gql", {"query": query, "variables": {}})
    assert made.json()["data"]["create_resource_preset"]["ok"], made.text
    sign_in(page, ADMIN_EMAIL, server.password)
    page.goto("/ui/sessions/new")
    page.select_option("select[name=preset]", "ui-small")
    page.fill("input[name=mem]", "2g")  # the preset wins over the fields
    page.fill("input[name=name]", "ui-preset")
    page.click("button:has-text('Create')")
    expect(page).to_have_url(re.compile(r"/ui/sessions/[0-9a-f-]{36}$"))
    expect(page.locator("dl.facts")).to_contain_text(str(768 * 2**20))
    page.click("button:has-text('Destroy')")


@pytest.mark.backends("sqlite")  # the database does not matter
def test_script_in_a_log_line_and_a_name_renders_inert(page: Page, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    session_id = create(page, "ui-xss", command=f"echo '{SCRIPT}'")
    log = page.locator("#session-log")
    expect(log).to_contain_text(SCRIPT, timeout=60_000)
    assert page.evaluate("window.pwned") is None
    expect(page.locator(".heading [data-status]")).to_have_text("TERMINATED", timeout=30_000)
    page.reload()
    expect(page.locator("#session-result")).to_have_text("SUCCESS")
    history = page.locator("#session-history")
    for status in ("PENDING", "RUNNING", "TERMINATED"):
        expect(history).to_contain_text(status)
    page.goto("/ui/sessions/new")
    page.fill("input[name=name]", SCRIPT)
    page.evaluate("document.querySelector('input[name=name]').removeAttribute('pattern')")
    page.click("button:has-text('Create')")
    expect(page.locator("[role=alert]")).to_contain_text("Name:")
    expect(page.locator("input[name=name]")).to_have_value(SCRIPT)
    assert page.evaluate("window.pwned") is None
    assert session_id


@pytest.mark.backends("sqlite")  # the database does not matter
def test_phone_sized_screen_reads_the_list_without_sideways_scrolling(
    browser: Browser, server: LiveServer
) -> None:
    context = browser.new_context(base_url=server.endpoint, viewport={"width": 390, "height": 844})
    try:
        phone = context.new_page()
        sign_in(phone, ADMIN_EMAIL, server.password)
        for path in ("/ui/", "/ui/sessions?status=all"):
            phone.goto(path)
            expect(phone.locator("main h1, main h2").first).to_be_visible()
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()


def test_a_mounted_folder_and_environment_reach_the_session(page: Page, server: LiveServer) -> None:
    """The form mounts a folder at a path of the user's choice and sets variables: the
    batch command writes a variable's value through the mount, the folder then holds it."""
    sign_in(page, ADMIN_EMAIL, server.password)
    page.goto("/ui/folders")
    page.fill("#new-folder input[name=name]", "ui-mounted")
    page.click("#new-folder button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/folders/ui-mounted$"))
    page.goto("/ui/sessions/new")
    page.fill("textarea[name=env]", "not a variable")
    page.click("button:has-text('Create')")
    expect(page.locator("[role=alert]")).to_contain_text("Environment, line 1")
    expect(page.locator("textarea[name=env]")).to_have_value("not a variable")
    page.fill("input[name=name]", "ui-mounts")
    python = page.locator("select[name=image] option", has_text="python").first
    page.select_option("select[name=image]", value=python.get_attribute("value") or "")
    page.select_option("select[name=type]", "batch")
    page.check('#mounts input[name=mount][value="ui-mounted"]')
    page.fill('#mounts input[name="mount_path.ui-mounted"]', "data/in")
    page.fill("textarea[name=env]", "# greeting\nGREETING=hello from env\nCOUNT=3")
    script = (
        'echo "$GREETING x$COUNT" > /home/work/data/in/out.txt && cat /home/work/data/in/out.txt'
    )
    page.fill("input[name=command]", script)
    page.click("button:has-text('Create')")
    expect(page).to_have_url(re.compile(r"/ui/sessions/[0-9a-f-]{36}$"))
    expect(page.locator("#session-log")).to_contain_text("hello from env x3", timeout=60_000)
    expect(page.locator(".heading [data-status]")).to_have_text("TERMINATED", timeout=30_000)
    page.goto("/ui/folders/ui-mounted")
    expect(page.locator("main")).to_contain_text("out.txt")
