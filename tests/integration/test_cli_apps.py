"""``hangar app``: a session's service apps on local ports, used as the seed (3.3) says: ssh
with the session's ``id_container`` through the sshd port, Jupyter's REST API over HTTP, the
web terminal's page and WebSocket; Ctrl+C stops the proxy with exit status 130, quietly."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support.live import HANGAR, LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server missing"),
]

SSH_OPTIONS = (
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
)  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def app_proxy(
    server: LiveServer, port: int, *args: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``hangar app ARGS`` (bound to ``port``) in the background; yields it and its first
    lines once it listens. On the way out it gets Ctrl+C while a client connection is open,
    and must end at once with 130 and no traceback."""
    proc = subprocess.Popen(
        [str(HANGAR), "app", *args], env=server.server_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        assert "A local proxy to the application" in first, first + proc.stderr.read()  # type: ignore[union-attr]
        yield proc, first + proc.stdout.readline()
    finally:
        with socket.create_connection(("127.0.0.1", port)) as held:  # a connection still open
            held.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            time.sleep(0.5)
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err


def test_app_proxies_sshd_jupyter_and_ttyd(live_server: LiveServer, tmp_path: Path) -> None:
    out = ok(live_server.hangar("start", "-t", "mysess", "python"))
    assert "jupyter" in out and "ttyd" in out and "sshd" in out
    ok(live_server.hangar("download", "mysess", "id_container", "--dest", str(tmp_path)))
    key = tmp_path / "id_container"
    key.chmod(0o600)

    port = free_port()
    with app_proxy(live_server, port, "mysess", "sshd", "-b", str(port)) as (_, said):
        assert f"tcp://127.0.0.1:{port}" in said
        done = subprocess.run(
            ["ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(port), "work@localhost",
             "id -un; pwd; python -c 'print(6*7)'"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["work", "/home/work", "42"]

    port = free_port()
    with app_proxy(live_server, port, "-b", str(port), "mysess", "jupyter") as (_, said):
        url = f"http://127.0.0.1:{port}/"
        assert url in said
        api = httpx.get(url + "api", timeout=30)
        assert api.status_code == 200 and "version" in api.json()
        kernels = httpx.get(url + "api/kernelspecs", timeout=30)
        assert kernels.status_code == 200 and kernels.json()["kernelspecs"]

    port = free_port()
    with app_proxy(live_server, port, "mysess", "ttyd", "-b", f"127.0.0.1:{port}"):
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "xterm" in page.text
        shown = asyncio.run(type_in_terminal(f"ws://127.0.0.1:{port}/websocket"))
        assert "TTYD_42" in shown

    ok(live_server.hangar("rm", "mysess"))


async def type_in_terminal(url: str) -> str:
    """Type a command into the web terminal, as its page does, and return what it shows."""
    async with connect(url) as ws:
        await ws.send(json.dumps(["set_size", 24, 80]))
        await ws.send(json.dumps(["stdin", "echo TTYD_$((6*7))\r"]))
        shown, deadline = "", time.monotonic() + 30
        while "TTYD_42\r\n" not in shown and time.monotonic() < deadline:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame[0] == "stdout":
                shown += frame[1]
        return shown


def test_app_refuses_an_unknown_app_and_a_busy_port(live_server: LiveServer) -> None:
    ok(live_server.hangar("start", "-t", "mysess", "python"))
    unknown = live_server.hangar("app", "mysess", "nosuchapp", "-b", str(free_port()))
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        'Error: Session mysess has no app "nosuchapp" (available: jupyter, ttyd, sshd).'
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = live_server.hangar("app", "mysess", "sshd", "-b", str(port))
    assert taken.returncode == 1
    lines = taken.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: Cannot listen on 127.0.0.1:{port}")
    missing = live_server.hangar("app", "nosuchsession", "sshd", "-b", str(free_port()))
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == ["Error: No such session. (404)"]
    ok(live_server.hangar("rm", "mysess"))


def test_own_ssh_key_from_the_ssh_vfolder(live_server: LiveServer, tmp_path: Path) -> None:
    # The seed's commands: a keypair of one's own, its public key in a ".ssh" vfolder.
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-f", "id_container",
                    "-N", ""], cwd=tmp_path, check=True)  # fmt: skip
    (tmp_path / "authorized_keys").write_text((tmp_path / "id_container.pub").read_text())
    ok(live_server.hangar("vfolder", "create", ".ssh"))
    ok(live_server.hangar("vfolder", "upload", ".ssh", "authorized_keys", cwd=tmp_path))
    ok(live_server.hangar("start", "-t", "mysess", "python"))
    port = free_port()
    with app_proxy(live_server, port, "mysess", "sshd", "-b", str(port)):
        done = subprocess.run(
            ["ssh", *SSH_OPTIONS, "-i", str(tmp_path / "id_container"), "-p", str(port),
             "work@localhost", "echo own-key; stat -c %a ~/.ssh"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["own-key", "700"]
    ok(live_server.hangar("rm", "mysess"))
