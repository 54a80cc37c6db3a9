"""Two ``hangar server`` processes on one PostgreSQL database: one runs the embedded agent,
the other none. Sessions created and destroyed through either are placed once and end once.

The agent is the ``fake`` runtime (no sandbox): what is under test is which server process
acts on a session, not the sandbox, and 200 sandboxes would take minutes on two cores.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.bai import Signer
from tests.support.live import LiveServer, both_running

SESSIONS = 200
EVENTS = "/events/session?sessionName=*&scope=session"


class EventLog:
    """Every session event one server streams, as (name, session id)."""

    def __init__(self, server: LiveServer) -> None:
        self.server, self.seen = server, Counter[tuple[str, str]]()
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> EventLog:
        self._thread.start()
        assert self._ready.wait(10), "the event stream did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # the reader is a daemon thread: it ends with its next line or never

    def wait_for(self, names: tuple[str, ...], ids: list[str], timeout: float = 20.0) -> None:
        """Until each of ``names`` was seen at least once for every one of ``ids``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.seen[n, i] for n in names for i in ids):
                return
            time.sleep(0.1)

    def _read(self) -> None:
        server = self.server
        signer = Signer(server.access_key, server.secret_key, host=server.endpoint.split("://")[1])
        headers = signer.headers("GET", EVENTS, content_type=None)
        timeout = httpx.Timeout(5.0, read=None)
        with (
            httpx.Client(timeout=timeout) as http,
            http.stream("GET", server.endpoint + EVENTS, headers=headers) as response,
        ):
            assert response.status_code == 200, response.read()
            self._ready.set()
            name = ""
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.seen[name, json.loads(line[6:])["sessionId"]] += 1


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with_agent = LiveServer(
        home=tmp_path / "a",
        database_url=database_url,
        extra_env={"HANGAR_SERVER_KEY": key, "HANGAR_AGENT_RUNTIME": "fake"},
    )
    without = LiveServer(
        home=tmp_path / "b",
        database_url=database_url,
        extra_env={"HANGAR_SERVER_KEY": key, "HANGAR_AGENT_RUNTIME": "none"},
    )
    yield from both_running(with_agent, without)


@pytest.mark.backends("postgresql")
def test_sessions_through_two_servers_are_placed_once_and_end_once(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    assert (a.access_key, a.secret_key) == (b.access_key, b.secret_key)

    def one(i: int) -> str:
        creator, destroyer = (a, b) if i % 2 else (b, a)
        name = f"two-{i}"
        body = {"image": "python", "name": name, "maxWaitSeconds": 60}
        created = creator.signed("POST", "/session", body)
        assert created.status_code in (200, 201), created.text
        assert created.json()["status"] == "RUNNING", created.text
        destroyed = destroyer.signed("DELETE", f"/session/{name}")
        assert destroyed.status_code == 200, destroyed.text
        return str(created.json()["sessionId"])

    names = ("session_enqueued", "session_scheduled", "session_started", "session_terminated")
    with EventLog(a) as events_a, EventLog(b) as events_b:
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(one, range(SESSIONS)))
        print(f"{SESSIONS} sessions in {time.monotonic() - started:.1f} s")
        events_a.wait_for(names, ids)  # the process holding the agent places and ends all
        events_b.wait_for(names, ids)  # the other streams them too (relayed)

    assert len(set(ids)) == SESSIONS
    for server, events in (("a", events_a.seen), ("b", events_b.seen)):
        for name in names:
            counts = Counter(events[name, session_id] for session_id in ids)
            assert counts == {1: SESSIONS}, f"{server} {name}: sessions by times seen: {counts}"
    assert a.sessions_alive() == [] and b.sessions_alive() == []
    scratch = a.data_dir / "scratch"  # a kernel left behind keeps its scratch dir
    left = set(ids)
    deadline = time.monotonic() + 10  # removed by the agent after it answered
    while left and time.monotonic() < deadline:
        left = {p.name for p in scratch.iterdir()} & set(ids)
        time.sleep(0.1)
    assert sorted(left) == []


@pytest.mark.backends("postgresql")
def test_each_server_streams_the_session_events_of_the_other(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    names = ("session_enqueued", "session_scheduled", "session_started", "session_terminated")
    with EventLog(a) as events_a, EventLog(b) as events_b:
        ids = []
        for i, creator in enumerate((a, b, a, b)):
            body = {"image": "python", "name": f"seen-{i}", "maxWaitSeconds": 30}
            created = creator.signed("POST", "/session", body)
            assert created.json()["status"] == "RUNNING", created.text
            assert creator.signed("DELETE", f"/session/seen-{i}").status_code == 200
            ids.append(str(created.json()["sessionId"]))
        events_a.wait_for(names, ids)
        events_b.wait_for(names, ids)
    for server, events in (("a", events_a.seen), ("b", events_b.seen)):
        missing = [(n, i) for n in names for i in ids if events[n, i] != 1]
        assert missing == [], f"server {server} did not stream each event once: {missing}"
