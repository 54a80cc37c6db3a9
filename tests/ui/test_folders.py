"""Folders in the web UI: upload with progress (tus from the browser), resume, download
byte-exact, rename/move/delete, invitations, isolation and inert file names."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, Request, Route, expect

from tests.support.live import LiveServer
from tests.ui.helpers import ADMIN_EMAIL, new_user, sign_in

pytestmark = pytest.mark.integration

CHUNK = 4 * 1024 * 1024  # static/folders.js
WATCH_PROGRESS = """() => {
  window.progress = [];
  const bar = document.getElementById("upload-progress");
  new MutationObserver(() => window.progress.push(Number(bar.getAttribute("value"))))
    .observe(bar, {attributes: true, attributeFilter: ["value"]});
}"""


def create_folder(page: Page, name: str) -> None:
    page.goto("/ui/folders")
    page.fill("#new-folder input[name=name]", name)
    page.click("#new-folder button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/ui/folders/{re.escape(name)}$"))


def upload(page: Page, name: str, data: bytes) -> None:
    payload: FilePayload = {"name": name, "mimeType": "application/octet-stream", "buffer": data}
    page.set_input_files("#upload-form input[type=file]", files=[payload])
    page.click("#upload-form button[type=submit]")


def download(page: Page, name: str, tmp_path: Path) -> bytes:
    with page.expect_download() as info:
        page.locator(f'tr[data-file="{name}"] a.download').click()
    saved = tmp_path / "downloaded"
    info.value.save_as(saved)
    return saved.read_bytes()


def test_upload_with_progress_then_download_byte_exact(
    page: Page, server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-data")
    data = os.urandom(2 * CHUNK + 12345)
    page.evaluate(WATCH_PROGRESS)
    upload(page, "weights.bin", data)
    expect(page.locator("#upload-status")).to_contain_text("Uploaded 1 file(s).")
    expect(page.locator('tr[data-file="weights.bin"]')).to_contain_text(str(len(data)))
    seen = page.evaluate("window.progress")
    assert seen[-1] == 100
    assert any(0 < value < 100 for value in seen), seen
    assert download(page, "weights.bin", tmp_path) == data
    page.goto("/ui/folders")
    expect(page.locator('tr[data-folder="ui-data"]')).to_contain_text("me")


def test_an_interrupted_upload_resumes_where_it_stopped(
    page: Page, server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-resume")
    data = os.urandom(2 * CHUNK + 777)
    offsets: list[int] = []

    def cut_after_first_chunk(route: Route, request: Request) -> None:
        if request.method == "PATCH" and int(request.headers["upload-offset"]) > 0:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/storage/upload?*", cut_after_first_chunk)
    upload(page, "resumed.bin", data)
    expect(page.locator("#upload-status")).to_contain_text("interrupted", timeout=30_000)
    page.unroute("**/storage/upload?*")

    def note_offset(request: Request) -> None:
        if request.method == "PATCH":
            offsets.append(int(request.headers["upload-offset"]))

    page.on("request", note_offset)
    page.click("#upload-form button[type=submit]")  # the same file, chosen still
    expect(page.locator('tr[data-file="resumed.bin"]')).to_contain_text(str(len(data)))
    assert offsets and offsets[0] == CHUNK  # the first chunk was not sent again
    assert download(page, "resumed.bin", tmp_path) == data


def test_rename_move_and_delete(page: Page, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-change")
    upload(page, "a.txt", b"alpha\n")
    row = page.locator('tr[data-file="a.txt"]')
    expect(row).to_be_visible()
    row.locator("summary").click()
    row.locator("input[name=new_name]").fill("b.txt")
    row.locator("button:has-text('Rename')").click()
    expect(page.locator('tr[data-file="b.txt"]')).to_be_visible()
    expect(page.locator('tr[data-file="a.txt"]')).to_have_count(0)
    page.fill("input[name=dir]", "sub")
    page.click("button:has-text('Create') >> nth=-1")
    moved = page.locator('tr[data-file="b.txt"]')
    moved.locator("summary").click()
    moved.locator("input[name=dst]").fill("sub/b.txt")
    moved.locator("button:has-text('Move')").click()
    page.click('tr[data-file="sub"] a')
    expect(page.locator('tr[data-file="b.txt"]')).to_be_visible()
    inner = page.locator('tr[data-file="b.txt"]')
    inner.locator("summary").click()
    inner.locator("button:has-text('Delete')").click()
    expect(page.locator("#file-table")).to_contain_text("No files.")
    page.goto("/ui/folders/ui-change")
    page.fill("#settings input[name=new_name]", "ui-renamed")
    page.click("#settings button:has-text('Rename')")
    expect(page).to_have_url(re.compile(r"/ui/folders/ui-renamed$"))
    page.click("button:has-text('Delete folder')")
    expect(page).to_have_url(re.compile(r"/ui/folders$"))
    expect(page.locator("#folder-table")).not_to_contain_text("ui-renamed")


def test_a_name_taken_is_refused_with_the_reason(page: Page, server: LiveServer) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-twice")
    page.goto("/ui/folders")
    page.fill("#new-folder input[name=name]", "ui-twice")
    page.click("#new-folder button[type=submit]")
    expect(page.locator("[role=alert]")).to_be_visible()


def test_an_invitation_declined_gives_no_access(
    page: Page, browser: Browser, server: LiveServer
) -> None:
    password = new_user(server, "decliner@example.com")
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-offered")
    page.fill("#share input[name=emails]", "decliner@example.com")
    page.click("#share button:has-text('Invite')")
    expect(page.locator("#share")).to_contain_text("decliner@example.com (rw)")
    guest = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(guest, "decliner@example.com", password)
        guest.goto("/ui/folders")
        invitation = guest.locator("#invitations li", has_text="ui-offered")
        invitation.locator("button:has-text('Decline')").click()
        expect(guest.locator("#invitations")).to_have_count(0)
        expect(guest.locator("#folder-table")).not_to_contain_text("ui-offered")
        assert guest.goto("/ui/folders/ui-offered").status == 404  # type: ignore[union-attr]
    finally:
        guest.context.close()
    page.goto("/ui/folders/ui-offered")
    expect(page.locator("#share")).not_to_contain_text("decliner@example.com")


def test_shared_with_another_user_who_accepts(
    page: Page, browser: Browser, server: LiveServer, tmp_path: Path
) -> None:
    password = new_user(server, "guest@example.com")
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-shared")
    upload(page, "notes.txt", b"shared bytes\n")
    expect(page.locator('tr[data-file="notes.txt"]')).to_be_visible()
    page.fill("#share input[name=emails]", "guest@example.com")
    page.select_option("#share select[name=permission]", "ro")
    page.click("#share button:has-text('Invite')")
    expect(page.locator("#share")).to_contain_text("guest@example.com (ro)")
    guest = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(guest, "guest@example.com", password)
        guest.goto("/ui/folders")
        expect(guest.locator("#folder-table")).not_to_contain_text("ui-shared")
        invitation = guest.locator("#invitations li", has_text="ui-shared")
        expect(invitation).to_contain_text(ADMIN_EMAIL)
        invitation.locator("button:has-text('Accept')").click()
        expect(guest.locator('tr[data-folder="ui-shared"]')).to_contain_text("ro")
        guest.click('tr[data-folder="ui-shared"] a')
        assert download(guest, "notes.txt", tmp_path) == b"shared bytes\n"
        expect(guest.locator("#upload")).to_have_count(0)  # read-only for the guest
    finally:
        guest.context.close()


def test_another_user_sees_none_of_the_first_users_folders(
    page: Page, browser: Browser, server: LiveServer
) -> None:
    password = new_user(server, "stranger@example.com")
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-private")
    upload(page, "secret.txt", b"mine\n")
    expect(page.locator('tr[data-file="secret.txt"]')).to_be_visible()
    other = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(other, "stranger@example.com", password)
        other.goto("/ui/folders")
        expect(other.locator("#folder-table")).to_contain_text("No folders.")
        for path in ("/ui/folders/ui-private", "/ui/folders/ui-private/download?file=secret.txt"):
            assert other.goto(path).status == 404  # type: ignore[union-attr]
        csrf = other.evaluate(
            "JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']"
        )
        asked = other.request.post("/ui/folders/ui-private/upload-session",
                                   headers={"X-CSRF-Token": csrf},
                                   data={"path": "x", "size": 1})  # fmt: skip
        assert asked.status == 404
        for action in ("delete", "rename"):
            refused = other.request.post(f"/ui/folders/ui-private/{action}",
                                         form={"csrf": csrf, "new_name": "taken"})  # fmt: skip
            assert refused.status in (400, 404)
        refused = other.request.post("/ui/folders/ui-private/files/delete",
                                     form={"csrf": csrf, "target": "secret.txt"})  # fmt: skip
        assert refused.status == 404
    finally:
        other.context.close()
    page.reload()
    expect(page.locator('tr[data-file="secret.txt"]')).to_be_visible()


def test_a_file_name_with_script_renders_inert(page: Page, server: LiveServer) -> None:
    name = "<svg onload=window.pwned=1><script>window.pwned=2<"
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-xss")
    upload(page, name, b"x")
    expect(page.locator("#file-table")).to_contain_text(name)
    page.reload()
    expect(page.locator("#file-table")).to_contain_text(name)
    assert page.evaluate("window.pwned") is None


def test_deleting_a_folder_a_session_mounts_is_refused_clearly(
    page: Page, server: LiveServer
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    create_folder(page, "ui-held")
    started = server.official("start", "-t", "ui-holder", "-m", "ui-held", "python")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        page.click("button:has-text('Delete folder')")
        alert = page.locator("[role=alert]")
        expect(alert).to_contain_text("mounted by 1 session")
        expect(alert.locator("a", has_text="ui-holder")).to_be_visible()
        page.goto("/ui/folders")
        expect(page.locator('tr[data-folder="ui-held"]')).to_be_visible()
    finally:
        server.official("rm", "ui-holder")
    page.goto("/ui/folders/ui-held")
    page.click("button:has-text('Delete folder')")
    expect(page.locator('tr[data-folder="ui-held"]')).to_have_count(0)
