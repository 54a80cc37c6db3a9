"""Session options and server behaviour a user notices, against a real ``hangar server``.

Dependencies between sessions, ``starts_at``, agent pinning and ``resource_opts``,
``owner_access_key`` on file transfer, the wording for a missing download, and event
streams that end when the server shuts down.
"""

from __future__ import annotations

import shutil
import signal
import time

import httpx
import pytest

from tests.support.bai import Signer
from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


def signer_of(server: LiveServer, access_key: str = "", secret_key: str = "") -> Signer:
    host = server.endpoint.split("://", 1)[1]
    return Signer(access_key or server.access_key, secret_key or server.secret_key, host=host)


def test_event_streams_end_promptly_on_shutdown(live_server: LiveServer) -> None:
    """SIGTERM with an open ``/events/session`` stream: the stream ends and the server exits
    well within uvicorn's graceful-shutdown timeout (5 s)."""
    target = "/events/session?sessionName=*&scope=*"
    headers = signer_of(live_server).headers("GET", target, content_type=None)
    assert live_server.proc is not None
    with (
        httpx.Client(timeout=httpx.Timeout(10.0)) as http,
        http.stream("GET", live_server.endpoint + target, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        started = time.monotonic()
        live_server.proc.send_signal(signal.SIGTERM)
        body = b"".join(response.iter_bytes())  # ends when the server closes the stream
        ended = time.monotonic() - started
        live_server.proc.wait(10)
        exited = time.monotonic() - started
    assert b"Traceback" not in body
    assert ended < 2.0, f"the stream stayed open {ended:.1f}s after SIGTERM"
    assert exited < 3.0, f"the server took {exited:.1f}s to exit"
    assert live_server.proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises it
    assert "returned without completing" not in live_server.log_path.read_text()
