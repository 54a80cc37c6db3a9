"""Session networks through a real ``hangar server`` and the official CLI.

Code in a session reaches neither the server's API nor anything else on the host's loopback
nor the host's own address; with the default ``egress`` policy it reaches the outside world
(where this machine does); a session's own ``python -m http.server 8000`` is reached through
the app proxy (``--preopen 8000`` then ``backend.ai app``) and nowhere else; and another
session cannot listen in on a session's Jupyter kernel (issue 20's sniffer).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.test_bai_apps import app_proxy, ok
from tests.support.live import BAI_CLI, LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client", "as_root"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
OUTSIDE = (("1.1.1.1", 80), ("8.8.8.8", 53), ("9.9.9.9", 53))
PROBE = textwrap.dedent(
    """
    import socket
    for name, host, port in TARGETS:
        try:
            socket.create_connection((host, port), 4).close()
            print(name, "connected")
        except OSError as e:
            print(name, "failed", e)
    """
)
SNIFFER = textwrap.dedent(
    """
    import time, zmq
    ports = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and local.startswith("0100007F:"):
            ports.add(int(local.split(":")[1], 16))
    context = zmq.Context()
    subs = []
    for port in ports:
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(f"tcp://127.0.0.1:{port}")
        subs.append(sub)
    poller = zmq.Poller()
    for sub in subs:
        poller.register(sub, zmq.POLLIN)
    print("listening on", len(subs), "ports", flush=True)
    heard = []
    deadline = time.time() + SECONDS
    while time.time() < deadline:
        for sub, _ in poller.poll(200):
            heard.append(b"".join(sub.recv_multipart()))
    print("HEARD", b"".join(heard))
    """
)


@pytest.fixture
def as_root() -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("private session networks need the agent to run as root")


def host_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # sends nothing
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def reachable_outside() -> tuple[str, int] | None:
    for address in OUTSIDE:
        with contextlib.suppress(OSError), socket.create_connection(address, 3):
            return address
    return None


@contextlib.contextmanager
def host_listener() -> Iterator[int]:
    """A service on every host address (as PostgreSQL or a daemon would be); yields its port."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                server.accept()[0].close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def run_code(server: LiveServer, session: str, code: str) -> str:
    return ok(server.official("run", "-t", session, "-c", code, "python"))


def test_a_session_reaches_no_service_of_the_host(live_server: LiveServer) -> None:
    api_port = int(live_server.endpoint.rsplit(":", 1)[1].strip("/"))
    with host_listener() as port:
        targets = [("api", "127.0.0.1", api_port), ("loopback", "127.0.0.1", port)]
        address = host_address()
        if address is not None:
            targets.append(("address", address, port))
        for _, host, target_port in targets:  # control: all of them answer the host
            socket.create_connection((host, target_port), 4).close()
        shown = run_code(live_server, "probe", f"TARGETS = {targets!r}\n{PROBE}")
    for name, _, _ in targets:
        assert f"{name} failed" in shown, shown


def test_egress_reaches_outside_where_the_machine_does(live_server: LiveServer) -> None:
    outside = reachable_outside()
    if outside is None:
        pytest.skip("this machine reaches no address outside itself")
    shown = run_code(live_server, "egress", f"TARGETS = [('outside', *{outside!r})]\n{PROBE}")
    assert "outside connected" in shown, shown


def test_a_sessions_own_port_is_reached_through_the_app_proxy_only(
    live_server: LiveServer,
) -> None:
    ok(live_server.official("start", "-t", "webapp", "--preopen", "8000", "python"))
    code = textwrap.dedent(
        """
        import pathlib, subprocess, sys, time, urllib.request
        pathlib.Path("index.html").write_text("served from inside the session")
        subprocess.Popen([sys.executable, "-m", "http.server", "8000", "-b", "127.0.0.1"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:8000/"); break
            except OSError:
                time.sleep(0.1)
        print("serving")
        """
    )
    assert "serving" in run_code(live_server, "webapp", code)
    apps = live_server.signed("GET", "/stream/session/webapp/apps").json()
    assert any(a["name"] == "8000" and a["protocol"] == "preopen" for a in apps), apps
    with app_proxy(live_server, "webapp", "8000") as port:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "served from inside the session" in page.text
    with contextlib.suppress(httpx.HTTPError):  # the host's own 8000 is not the session's
        assert "served from inside" not in httpx.get("http://127.0.0.1:8000/", timeout=3).text


def test_another_session_hears_nothing_of_a_sessions_jupyter_kernel(
    live_server: LiveServer,
) -> None:
    secret = f"SECRET-{uuid.uuid4().hex[:12]}"
    run_code(live_server, "victim", "print('ready')")  # its Jupyter kernel listens now
    run_code(live_server, "spying", "print('ready')")
    sniffer = subprocess.Popen(
        [str(BAI_CLI), "run", "-t", "spying", "-c", f"SECONDS = 8\n{SNIFFER}", "python"],
        env=live_server.client_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert sniffer.stdout is not None
        started = sniffer.stdout.readline()
        deadline = time.monotonic() + 60
        while "listening on" not in started and time.monotonic() < deadline:
            started = sniffer.stdout.readline()
            assert started, "the sniffer ended early"
        run_code(
            live_server,
            "victim",
            f"import time\nfor _ in range(10):\n    print({secret!r}); time.sleep(0.2)",
        )
        heard, _ = sniffer.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            sniffer.kill()
    assert "HEARD" in heard, heard
    assert secret not in heard
