"""Service apps through the app proxy, with the official CLI/SDK and real clients.

Jupyter (its REST and kernel WebSocket API, as the notebook page uses it), OpenSSH's ``ssh``
and ``scp`` (by hand and through ``backend.ai ssh``/``scp``), the web terminal's WebSocket and
the SDK's ``stream_pty``: each reaches the session's sandbox as the user ``work``. Someone
else's session, unknown apps and wrong keys are refused with the documented errors.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import termios
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from tests.support.live import BAI_CLI, LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server missing"),
]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SSH_OPTIONS = (
    "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
)  # fmt: skip


def ok(done: subprocess.CompletedProcess[str]) -> str:
    shown = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, shown
    return shown


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_session(server: LiveServer, name: str, **env: str) -> str:
    """``backend.ai start`` with the default resources, as a user types it."""
    return ok(server.official("start", "-t", name, "python", **env))


@contextlib.contextmanager
def app_proxy(server: LiveServer, session: str, app: str, **env: str) -> Iterator[int]:
    """``backend.ai app SESSION APP -b PORT`` in the background; yields PORT once it listens."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BAI_CLI), "app", session, app, "-b", f"127.0.0.1:{port}"],
        env=server.client_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        seen = []
        while f"127.0.0.1:{port}" not in "".join(seen):
            line = proc.stdout.readline()
            assert line, f"backend.ai app exited early: {''.join(seen)}"
            seen.append(line)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def client_path(server: LiveServer) -> dict[str, str]:
    """Environment for CLI commands that run ``backend.ai`` and ``ssh`` from PATH."""
    (server.home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    return {"PATH": f"{BAI_CLI.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def download_key(server: LiveServer, session: str, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    ok(server.official("session", "download", session, "id_container", cwd=directory))
    key = directory / "id_container"
    key.chmod(0o600)
    return key


def ssh(port: int, key: Path, command: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", *SSH_OPTIONS, *extra, "-i", str(key), "-p", str(port), "work@127.0.0.1", command],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def ssh_login(port: int, key: Path, typed: str, until: str) -> str:
    """``ssh -tt`` without a command (a login shell, as a person gets) on a local pty: type
    ``typed`` and return what the terminal showed once ``until`` appeared in it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    command = ["ssh", *SSH_OPTIONS, "-tt", "-i", str(key), "-p", str(port), "work@127.0.0.1"]
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)  # fmt: skip
    os.close(slave)
    seen = ""
    try:
        os.write(master, typed.encode())
        deadline = time.monotonic() + 60
        while until not in seen:
            ready, _, _ = select.select([master], [], [], max(0, deadline - time.monotonic()))
            assert ready, f"no {until!r} in: {seen!r}"
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the login ended
                chunk = b""
            assert chunk, f"the login ended without {until!r}: {seen!r}"
            seen = ANSI.sub("", seen + chunk.decode(errors="replace"))
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    return seen


# Jupyter ---------------------------------------------------------------------------------


def jupyter_message(code: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex, "username": "test", "session": uuid.uuid4().hex,
            "msg_type": "execute_request", "version": "5.3",
            "date": datetime.now(UTC).isoformat(),
        },
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True,
        },
    }  # fmt: skip


def run_in_jupyter(port: int, code: str) -> str:
    """Start a kernel through the notebook server's API, run ``code``, return its stdout."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        page = http.get("/tree")
        assert page.status_code == 200 and "Jupyter" in page.text
        xsrf = http.cookies["_xsrf"]
        made = http.post("/api/kernels", json={"name": "python3"}, headers={"X-XSRFToken": xsrf})
        assert made.status_code == 201, made.text
        kernel_id = made.json()["id"]
        cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        url = f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels"
        request = jupyter_message(code)
        out: list[str] = []
        with ws_connect(url, additional_headers={"Cookie": cookies}, open_timeout=30) as ws:
            ws.send(json.dumps(request))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                reply = json.loads(ws.recv(timeout=60))
                if reply["parent_header"].get("msg_id") != request["header"]["msg_id"]:
                    continue
                if reply["msg_type"] == "stream":
                    out.append(reply["content"]["text"])
                if reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
                    break
        gone = http.delete(f"/api/kernels/{kernel_id}", headers={"X-XSRFToken": xsrf})
        assert gone.status_code == 204
        return "".join(out)


def test_apps_are_listed_and_jupyter_works_through_the_app_proxy(live_server: LiveServer) -> None:
    started = start_session(live_server, "note")
    assert "This session provides the following app services: jupyter, ttyd, sshd" in started
    shown = ok(live_server.official("apps", "note", "-l"))
    assert "jupyter, ttyd, sshd" in shown
    listed = live_server.signed("GET", "/stream/session/note/apps").json()
    assert {a["name"]: a["protocol"] for a in listed} == {
        "jupyter": "http",
        "ttyd": "http",
        "sshd": "tcp",
    }
    fields = "name,service_ports,occupied_slots"
    ps = live_server.official("--output", "json", "ps", "--format", fields)
    ok(ps)
    (item,) = json.loads(ps.stdout)["items"]
    assert item["occupied_slots"]["mem"] == str(1 << 30)  # the default: Jupyter fits
    assert [(p["name"], p["ports"]) for p in item["service_ports"]] == [
        ("jupyter", [8081]),
        ("ttyd", [7681]),
        ("sshd", [2200]),
    ]

    with app_proxy(live_server, "note", "jupyter") as port:
        code = "import getpass, os; print(getpass.getuser(), os.getcwd(), 6 * 7)"
        assert run_in_jupyter(port, code).split() == ["work", "/home/work", "42"]
        # A second connection reuses the running notebook server and its state on disk.
        code = "open('made-in-jupyter.txt', 'w').write('hi'); print('written')"
        assert run_in_jupyter(port, code).strip() == "written"
    listing = ok(live_server.official("session", "ls", "note"))
    assert "made-in-jupyter.txt" in listing


# SSH ---------------------------------------------------------------------------------------


def test_ssh_logs_in_as_work_with_the_session_key_and_refuses_others(
    live_server: LiveServer, tmp_path: Path
) -> None:
    start_session(live_server, "shel")
    key = download_key(live_server, "shel", tmp_path / "keys")
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    with app_proxy(live_server, "shel", "sshd") as port:
        done = ssh(port, key, "id -un; pwd; echo $BACKENDAI_SESSION_NAME; python -c 'print(6*7)'")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["work", "/home/work", "shel", "42"]
        with_tty = ssh(port, key, "tty", "-tt")  # a login with a terminal gets a pty
        assert with_tty.returncode == 0, with_tty.stderr
        assert with_tty.stdout.strip().startswith("/dev/pts/")
        # A login shell (no command) reads /etc/profile yet keeps the session's PATH: the
        # image's python is found, the same python3 as for commands run over ssh.
        python3 = ssh(port, key, "command -v python3")
        assert python3.returncode == 0 and python3.stdout.strip(), python3.stderr
        typed = (
            "python -c 'print(\"py\", 6*7)'; python3 -c 'print(\"py3\", 6*7)'; "
            'echo "is $(command -v python3)"; exit\r'
        )
        shown = ssh_login(port, key, typed, f"is {python3.stdout.strip()}")
        assert "py 42" in shown and "py3 42" in shown and "not found" not in shown, shown

        stranger = tmp_path / "stranger"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                       check=True)  # fmt: skip
        refused = ssh(port, stranger, "id")
        assert refused.returncode == 255
        assert "Permission denied (publickey)" in refused.stderr

        # The user's own key, from /home/work/.ssh/authorized_keys (a ".ssh" vfolder's place).
        upload_dir = tmp_path / "upload"
        (upload_dir / ".ssh").mkdir(parents=True)
        (upload_dir / ".ssh" / "authorized_keys").write_text(
            (tmp_path / "stranger.pub").read_text()
        )
        uploaded = live_server.official(
            "session", "upload", "shel", ".ssh/authorized_keys", cwd=upload_dir
        )
        ok(uploaded)
        welcomed = ssh(port, stranger, "id -un")
        assert welcomed.returncode == 0, welcomed.stderr
        assert welcomed.stdout.strip() == "work"


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append((int(entry.name), (entry / "cmdline").read_text().replace("\0", " ")))
        except (OSError, ValueError, IndexError):
            continue
    return found


def official_via_proxy(
    server: LiveServer, *args: str, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """``backend.ai ssh``/``scp``. They stop their ``backend.ai app`` proxy with a single
    SIGINT and wait for it; the proxy loses that signal when it lands in a finalizer
    (aiohttp's ``Connection.__del__``: "Exception ignored ... KeyboardInterrupt") and then
    runs on. Once ssh/scp has ended, Ctrl-C is pressed on such a proxy again, as a person
    would; the command's own outcome is what the test sees."""
    proc = subprocess.Popen(
        [str(BAI_CLI), *args], env=server.client_env(**env), cwd=cwd, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        try:
            out, err = proc.communicate(timeout=5)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
            running = children(proc.pid)
            if not any(" app " not in command for _, command in running):
                for pid, _ in running:  # only the proxy is left
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGINT)


def test_backend_ai_ssh_and_scp_commands(live_server: LiveServer, tmp_path: Path) -> None:
    start_session(live_server, "clis")
    env = client_path(live_server)
    port = str(free_port())
    done = official_via_proxy(
        live_server, "ssh", "clis", "-p", port, "echo", "from-$(id -un)", cwd=tmp_path, **env
    )
    assert "from-work" in ok(done)

    source = tmp_path / "payload.txt"
    source.write_text("carried by scp\n")
    port = str(free_port())
    copied = official_via_proxy(
        live_server, "scp", "clis", "-p", port, str(source), "work@localhost:copied.txt",
        cwd=tmp_path, **env,
    )  # fmt: skip
    ok(copied)
    back = tmp_path / "back"
    back.mkdir()
    ok(live_server.official("session", "download", "clis", "copied.txt", cwd=back))
    assert (back / "copied.txt").read_text() == "carried by scp\n"


# Terminals ---------------------------------------------------------------------------------


def test_web_terminal_serves_a_page_and_echoes(live_server: LiveServer) -> None:
    start_session(live_server, "ttys")
    with app_proxy(live_server, "ttys", "ttyd") as port:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and "xterm" in page.text
        script = httpx.get(f"http://127.0.0.1:{port}/xterm/xterm.js", timeout=30)
        assert script.status_code == 200
        with ws_connect(f"ws://127.0.0.1:{port}/websocket", open_timeout=30) as ws:
            ws.send(json.dumps(["set_size", 30, 100]))
            ws.send(json.dumps(["stdin", "echo typed-by-$(id -un); stty size\r"]))
            seen = ""
            deadline = time.monotonic() + 60
            while not ("typed-by-work" in seen and "30 100" in seen):
                assert time.monotonic() < deadline, seen
                message = json.loads(ws.recv(timeout=60))
                if message[0] == "stdout":
                    seen += ANSI.sub("", message[1])
            assert "echo typed-by-$(id -un)" in seen  # the terminal echoes what was typed


PTY_SCRIPT = textwrap.dedent(
    """
    import asyncio, base64, json
    from ai.backend.client.session import AsyncSession

    async def main():
        async with AsyncSession() as api:
            session = api.ComputeSession("{name}")
            async with session.stream_pty() as pty:
                await pty.send_str(json.dumps({{"type": "resize", "rows": 33, "cols": 99}}))
                line = "echo pty-$((6*7)) $(id -un); stty size\\n"
                chars = base64.b64encode(line.encode()).decode()
                await pty.send_str(json.dumps({{"type": "stdin", "chars": chars}}))
                seen = ""
                while not ("pty-42 work" in seen and "33 99" in seen):
                    frame = await asyncio.wait_for(pty.raw_websocket.receive_json(), 30)
                    assert frame["type"] == "out"
                    seen += base64.b64decode(frame["data"]).decode(errors="replace")
                print("ECHOED" if "echo pty-$((6*7))" in seen else "NO-ECHO")
                print("OK")

    asyncio.run(main())
    """
)


def test_stream_pty_echoes_input_and_follows_resize(live_server: LiveServer) -> None:
    start_session(live_server, "term")
    done = live_server.official_python(PTY_SCRIPT.format(name="term"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["ECHOED", "OK"]


# Refusals ----------------------------------------------------------------------------------


def test_other_users_sessions_and_unknown_apps_are_refused(
    live_server: LiveServer, tmp_path: Path
) -> None:
    start_session(live_server, "mine")
    made = live_server.hangar(
        "admin", "user", "create", "--email", "eve@example.com", "--password", "pw-eve-12345"
    )
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(": ", 1) for line in made.stdout.strip().splitlines() if ": " in line)
    eve = {"BACKEND_ACCESS_KEY": lines["Access key"], "BACKEND_SECRET_KEY": lines["Secret key"]}

    refused = live_server.official("app", "mine", "sshd", "-b", str(free_port()), **eve)
    assert refused.returncode != 0
    assert "404" in ANSI.sub("", refused.stdout + refused.stderr)
    stolen = live_server.official("session", "download", "mine", "id_container", **eve,
                                  cwd=tmp_path)  # fmt: skip
    assert stolen.returncode != 0 and not (tmp_path / "id_container").exists()

    # The CLI says so, then waits for Ctrl-C (it keeps its event loop running regardless).
    unknown = subprocess.Popen(
        [str(BAI_CLI), "app", "mine", "nosuchapp", "-b", str(free_port())],
        env=live_server.client_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    assert unknown.stdout is not None
    try:
        said = unknown.stdout.readline()
    finally:
        unknown.send_signal(signal.SIGINT)
        try:
            unknown.wait(10)
        except subprocess.TimeoutExpired:  # the signal can be lost (see official_via_proxy)
            unknown.kill()
            unknown.wait()
    assert 'The app "nosuchapp" is not supported by the session.' in said
    # The WebSocket endpoints answer before the upgrade, with problem+json.
    for target, status, slug in (
        ("/stream/session/mine/tcpproxy?app=nosuchapp", 404, "object-not-found"),
        ("/stream/session/mine/tcpproxy?app=sshd&port=1", 400, "invalid-api-params"),
        ("/stream/session/mine/tcpproxy", 400, "invalid-api-params"),
        ("/stream/session/nosuchsession/pty", 404, "object-not-found"),
        ("/stream/session/mine/tcpproxy?app=sshd&envs=%7B%22A%22%3A%221%22%7D", 400,
         "invalid-api-params"),
    ):  # fmt: skip
        answer = upgrade(live_server, target)
        assert answer.status_code == status, (target, answer.text)
        assert answer.json()["type"].endswith(slug)


def upgrade(server: LiveServer, target: str, **keys: str) -> httpx.Response:
    """A signed WebSocket upgrade request, as the official client sends it."""
    from tests.support.bai import Signer

    host = server.endpoint.split("://", 1)[1]
    signer = Signer(
        keys.get("access_key", server.access_key), keys.get("secret_key", server.secret_key),
        host=host,
    )  # fmt: skip
    headers = signer.headers("GET", target, content_type="application/octet-stream")
    headers.update({
        "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    })  # fmt: skip
    headers.pop("Content-Type", None)
    return httpx.get(server.endpoint + target, headers=headers, timeout=30)
