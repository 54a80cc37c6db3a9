"""The session terminal in the web UI: xterm.js over the session's shell."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.support.live import LiveServer
from tests.ui.helpers import ADMIN_EMAIL, new_user, sign_in
from tests.ui.test_ui_sessions import create

pytestmark = pytest.mark.integration

SCREEN = "#terminal .xterm-rows"
SHELL_WAIT = 30_000  # a tab's first shell starts the session's web-terminal app


def running(page: Page, name: str) -> str:
    session_id = create(page, name)
    badge = page.locator(f'.heading[data-session-id="{session_id}"] [data-status]')
    expect(badge).to_have_text("RUNNING", timeout=60_000)
    return session_id


def test_typing_python_in_the_terminal_prints_42(
    page: Page, server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    session_id = running(page, "ui-term")
    page.reload()
    page.click("a:has-text('Terminal')")
    expect(page).to_have_url(re.compile(rf"/ui/sessions/{session_id}/terminal$"))
    expect(page.locator("#terminal")).to_have_attribute("data-state", "open")
    page.locator("#terminal").click()
    page.keyboard.type('python3 -c "print(6*7)"\n')
    expect(page.locator(SCREEN)).to_contain_text("42", timeout=SHELL_WAIT)
    rows = page.locator(f"{SCREEN} > div").all_inner_texts()
    assert any(row.strip() == "42" for row in rows), rows
    page.keyboard.type("mkdir -p out && printf made > out/by-shell.txt && echo wr''itten\n")
    expect(page.locator(SCREEN)).to_contain_text("written")  # before the tab's shell ends
    assert foreign_origin_close(page, server, session_id) == 4403
    files_tab(page, session_id, tmp_path)
    page.goto(f"/ui/sessions/{session_id}")
    page.click("button:has-text('Destroy')")


def foreign_origin_close(page: Page, server: LiveServer, session_id: str) -> int | None:
    """The close code a socket with the viewer's cookie but another site's Origin gets."""
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    url = server.endpoint.replace("http", "ws", 1) + f"/ui/sessions/{session_id}/terminal/ws"
    with connect(url, origin=Origin("http://elsewhere.example"), proxy=None,
                 additional_headers={"Cookie": cookie}) as socket:  # fmt: skip
        try:
            socket.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def files_tab(page: Page, session_id: str, tmp_path: Path) -> None:
    """The session's Files tab: upload into scratch with progress shown on the way (the
    upload throttled to ~2 MB/s), download byte-exact, browse a dir."""
    page.goto(f"/ui/sessions/{session_id}")
    page.click("a:has-text('Files')")
    data = os.urandom(3_000_000)
    payload: FilePayload = {"name": "blob.bin", "mimeType": "text/plain", "buffer": data}
    page.set_input_files("#scratch-upload input[type=file]", files=[payload])
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": 2_000_000})  # fmt: skip
    page.click("#scratch-upload button[type=submit]")
    status = page.locator("#scratch-upload-status")
    expect(status).to_have_text(re.compile(r"Uploading… ([1-9]|[1-9][0-9])%"))
    expect(page.locator('tr[data-file="blob.bin"]')).to_contain_text(str(len(data)), timeout=30_000)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
             "downloadThroughput": -1, "uploadThroughput": -1})  # fmt: skip
    with page.expect_download() as info:
        page.click('tr[data-file="blob.bin"] a.download')
    info.value.save_as(tmp_path / "blob.bin")
    assert (tmp_path / "blob.bin").read_bytes() == data
    page.click('tr[data-file="out"] a')
    expect(page.locator('tr[data-file="by-shell.txt"] td').nth(1)).to_have_text("4")


def test_each_tab_gets_a_shell_of_its_own(page: Page, server: LiveServer) -> None:
    """Two tabs on one session: what one types and sets stays in its shell; ``?shared=1``
    attaches to the session's shared shell, where the other tab's work is not seen either."""
    sign_in(page, ADMIN_EMAIL, server.password)
    session_id = running(page, "ui-term-tabs")
    other = page.context.new_page()
    for tab in (page, other):
        tab.goto(f"/ui/sessions/{session_id}/terminal")
        expect(tab.locator("#terminal")).to_have_attribute("data-state", "open")
    page.locator("#terminal").click()
    page.keyboard.type('export MARK=first-tab; echo "pid $$ mark $MARK"\n')
    expect(page.locator(SCREEN)).to_contain_text("mark first-tab", timeout=SHELL_WAIT)
    other.locator("#terminal").click()
    other.keyboard.type('echo "other [$MARK]"\n')
    expect(other.locator(SCREEN)).to_contain_text("other []", timeout=SHELL_WAIT)
    expect(other.locator(SCREEN)).not_to_contain_text("first-tab")
    first_pid = re.search(r"pid (\d+) mark first-tab", page.locator(SCREEN).inner_text())
    other.keyboard.type('echo "pid $$ here"\n')
    expect(other.locator(SCREEN)).to_contain_text(re.compile(r"pid \d+ here"))
    other_pid = re.search(r"pid (\d+) here", other.locator(SCREEN).inner_text())
    assert first_pid and other_pid and first_pid[1] != other_pid[1]
    other.goto(f"/ui/sessions/{session_id}/terminal?shared=1")
    expect(other.locator("#terminal")).to_have_attribute("data-state", "open")
    other.locator("#terminal").click()
    other.keyboard.type('echo "shared [$MARK]"\n')
    expect(other.locator(SCREEN)).to_contain_text("shared []", timeout=SHELL_WAIT)
    other.close()
    page.goto(f"/ui/sessions/{session_id}")
    page.click("button:has-text('Destroy')")


def test_another_user_cannot_open_the_terminal(
    page: Page, browser: Browser, server: LiveServer
) -> None:
    password = new_user(server, "term-other@example.com")
    sign_in(page, ADMIN_EMAIL, server.password)
    session_id = running(page, "ui-term-private")
    other = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(other, "term-other@example.com", password)
        for tab in ("terminal", "files", "files/download?file=x"):
            assert other.goto(f"/ui/sessions/{session_id}/{tab}").status == 404  # type: ignore[union-attr]
        closed = other.evaluate(
            """(path) => new Promise((done) => {
                 const ws = new WebSocket("ws://" + location.host + path);
                 ws.onmessage = () => done("data");
                 ws.onclose = (e) => done(e.code + " " + e.reason);
               })""",
            f"/ui/sessions/{session_id}/terminal/ws",
        )
        assert closed == "4403 No such session."
    finally:
        other.context.close()
    page.goto(f"/ui/sessions/{session_id}")
    page.click("button:has-text('Destroy')")


NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "c1",
            "metadata": {},
            "outputs": [],
            "source": ["print('answer', 6 * 7)"],
        }
    ],  # fmt: skip
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
    },  # fmt: skip
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_jupyter_opens_in_a_tab_through_the_app_proxy_and_runs_a_cell(
    page: Page, browser: Browser, server: LiveServer
) -> None:
    sign_in(page, ADMIN_EMAIL, server.password)
    session_id = running(page, "ui-jupyter")
    page.goto(f"/ui/sessions/{session_id}/files")
    payload: FilePayload = {"name": "six.ipynb", "mimeType": "application/json",
                            "buffer": json.dumps(NOTEBOOK).encode()}  # fmt: skip
    page.set_input_files("#scratch-upload input[type=file]", files=[payload])
    page.click("#scratch-upload button[type=submit]")
    expect(page.locator('tr[data-file="six.ipynb"]')).to_be_visible()
    page.goto(f"/ui/sessions/{session_id}")
    with page.context.expect_page() as opened:
        page.click("#open-jupyter")
    jupyter = opened.value
    jupyter.set_default_timeout(60_000)
    wait = 60_000  # the notebook server and then its kernel start on first use
    expect(jupyter).to_have_url(re.compile(rf"/ui/sessions/{session_id}/jupyter/tree"))
    expect(jupyter.locator("#notebook_list")).to_contain_text("six.ipynb", timeout=wait)
    jupyter.goto(f"/ui/sessions/{session_id}/jupyter/notebooks/six.ipynb")
    expect(jupyter.locator("#kernel_indicator_icon.kernel_idle_icon")).to_be_attached(timeout=wait)
    jupyter.locator(".cell .CodeMirror").first.click()
    jupyter.keyboard.press("Shift+Enter")  # over the kernel's WebSocket, through the proxy
    expect(jupyter.locator(".output_area").first).to_contain_text("answer 42", timeout=wait)
    jupyter.close()
    other_password = new_user(server, "jupyter-other@example.com")
    other = browser.new_context(base_url=server.endpoint).new_page()
    try:
        sign_in(other, "jupyter-other@example.com", other_password)
        for path in ("jupyter/", "jupyter/api/contents", "jupyter/files/six.ipynb"):
            assert other.goto(f"/ui/sessions/{session_id}/{path}").status == 404  # type: ignore[union-attr]
    finally:
        other.context.close()
    page.goto(f"/ui/sessions/{session_id}")
    page.click("button:has-text('Destroy')")
