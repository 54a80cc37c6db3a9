"""Lifecycle callbacks from a real server: a session created with ``callback_url`` gets its
events POSTed there in Backend.AI's callback format."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_session_callback_url_receives_its_lifecycle(
    live_server: LiveServer, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    body = {"image": "python", "name": "hooked", "callback_url": url}
    created = live_server.signed("POST", "/session", body)
    assert created.status_code in (200, 201), created.text
    session_id = created.json()["sessionId"]
    assert live_server.signed("DELETE", "/session/hooked").status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "terminated" not in [r["event"] for r in received]:
        time.sleep(0.05)
    events = [r["event"] for r in received]
    assert events[:1] == ["enqueued"] and events[-1] == "terminated", events
    assert {"scheduled", "preparing", "started"} <= set(events), events
    assert {r["session_id"] for r in received} == {session_id}
    assert all(r["type"] == "session_lifecycle" and r["when"] for r in received)
