"""Signing in and out of the web UI, its cookie, CSRF refusals and per-role navigation."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.live import LiveServer
from tests.ui.helpers import ADMIN_EMAIL, new_user, sign_in

pytestmark = pytest.mark.integration


def test_sign_in_lands_on_home_with_admin_navigation(page: Page, server: LiveServer) -> None:
    page.goto("/ui/sessions")  # a page behind sign-in: sent to the form, then back here
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", server.password)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/ui/sessions$"))
    expect(page.locator("header nav")).to_contain_text("Administration")
    page.goto("/ui/")
    expect(page.locator("h2", has_text="Today's cost")).to_be_visible()


def test_wrong_password_says_so_and_sets_no_session(page: Page, context: BrowserContext) -> None:
    sign_in(page, ADMIN_EMAIL, "not-the-password")
    expect(page.locator("[role=alert]")).to_have_text("Wrong email or password.")
    assert "hangar_ui" not in {c["name"] for c in context.cookies()}


def test_session_cookie_is_httponly_and_samesite(
    page: Page, context: BrowserContext, server: LiveServer
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    expect(page.locator("header nav")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "hangar_ui")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http on loopback; https sets it (unit test)
    assert page.evaluate("document.cookie").find("hangar_ui=") == -1


def test_forged_posts_are_refused(page: Page, context: BrowserContext, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    expect(page.locator("header nav")).to_be_visible()
    form = {"name": "forged", "image": "python", "type": "interactive"}
    missing = context.request.post("/ui/sessions", form=form)
    wrong = context.request.post("/ui/sessions", form={**form, "csrf": "0" * 64})
    sign_out = context.request.post("/ui/logout", form={})
    for response in (missing, wrong, sign_out):
        assert response.status == 403
        assert "CSRF" in response.text()
    page.goto("/ui/sessions")  # still signed in, and nothing was created
    expect(page.locator("#session-table")).not_to_contain_text("forged")


def test_sign_in_post_without_token_is_refused(server: LiveServer) -> None:
    response = httpx.post(
        server.endpoint + "/ui/login", data={"email": ADMIN_EMAIL, "password": server.password}
    )
    assert response.status_code == 403
    assert "hangar_ui=" not in response.headers.get("set-cookie", "")


def test_sign_out_ends_the_session(page: Page, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/login"))


def test_user_changes_password_and_sees_no_admin_pages(page: Page, server: LiveServer) -> None:
    old = new_user(server, "pw@example.com")
    sign_in(page, "pw@example.com", old)
    expect(page.locator("header nav")).not_to_contain_text("Administration")
    page.goto("/ui/admin")
    expect(page.locator("[role=alert]")).to_contain_text("administrators")
    page.goto("/ui/account/password")
    page.fill("input[name=old]", old)
    page.fill("input[name=new]", "a-new-secret-1")
    page.fill("input[name=again]", "a-new-secret-1")
    page.click("button:has-text('Change password')")
    expect(page.locator("[role=status]")).to_have_text("Your password was changed.")
    page.click("text=Sign out")
    sign_in(page, "pw@example.com", old)
    expect(page.locator("[role=alert]")).to_have_text("Wrong email or password.")
    sign_in(page, "pw@example.com", "a-new-secret-1")
    expect(page.locator("header nav")).to_contain_text("Sessions")


def test_browser_at_root_goes_to_the_ui_and_api_clients_do_not(server: LiveServer) -> None:
    browser = httpx.get(server.endpoint + "/", headers={"Accept": "text/html,*/*"})
    assert browser.status_code == 302 and browser.headers["location"] == "/ui/"
    api = httpx.get(server.endpoint + "/", headers={"Accept": "*/*"})
    assert api.status_code == 200 and "version" in api.json()
    assert f"Web UI   {server.endpoint}/ui/" in server.log_path.read_text()  # the start says so
