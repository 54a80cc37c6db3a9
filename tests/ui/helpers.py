"""What the UI tests do often: sign in, make a user."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.support.live import LiveServer

ADMIN_EMAIL = "admin@hangar.local"


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/ui/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def new_user(server: LiveServer, email: str) -> str:
    """A user made with ``hangar admin user create``; returns their password."""
    password = "password-of-" + email
    done = server.hangar("admin", "user", "create", "--email", email, "--password", password)
    assert done.returncode == 0, done.stderr
    return password
