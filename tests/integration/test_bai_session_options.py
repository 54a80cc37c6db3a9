"""Session options and server behaviour a user notices, against a real ``hangar server``.

Dependencies between sessions, ``starts_at``, agent pinning and ``resource_opts``,
``owner_access_key`` on file transfer, the wording for a missing download, and event
streams that end when the server shuts down.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bai import Signer
from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ALL = (
    "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING,TERMINATED,ERROR,CANCELLED"
)


def signer_of(server: LiveServer, access_key: str = "", secret_key: str = "") -> Signer:
    host = server.endpoint.split("://", 1)[1]
    return Signer(access_key or server.access_key, secret_key or server.secret_key, host=host)


@pytest.mark.serial  # the stream must end within 2 s, the server exit within 3 s
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


# Helpers -------------------------------------------------------------------------------


def text(done: subprocess.CompletedProcess[str]) -> str:
    return ANSI.sub("", done.stdout + done.stderr)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    shown = text(done)
    assert done.returncode == 0, shown
    return shown


def graphql(server: LiveServer, query: str) -> dict[str, Any]:
    response = server.signed("POST", "/admin/gql", {"query": query, "variables": {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


def session_named(server: LiveServer, name: str, access_key: str = "") -> dict[str, Any]:
    """The newest session called ``name`` (of the admin, or of ``access_key``)."""
    key = f', access_key: "{access_key}"' if access_key else ""
    query = (
        f'query {{ compute_session_list(limit: 100, offset: 0{key}, status: "{ALL}") '
        "{ items { id name status status_info result starts_at resource_opts "
        "containers { agent } } } }"
    )
    items = [i for i in graphql(server, query)["compute_session_list"]["items"]
             if i["name"] == name]  # fmt: skip
    assert items, f"no session {name}"
    return dict(items[0])


def wait_named(server: LiveServer, name: str, *wanted: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        found = session_named(server, name)
        if found["status"] in wanted:
            return found
        time.sleep(0.1)
    pytest.fail(f"{name} stayed {found.get('status')} ({found.get('status_info')}), not {wanted}")


def plain_user(server: LiveServer, email: str) -> tuple[str, str]:
    """A new user with role ``user``; returns its access and secret key."""
    done = server.hangar("admin", "user", "create", "--email", email, "--password", "pw-12345678")
    shown = text(done)
    assert done.returncode == 0, shown
    access = re.search(r"Access key: (\S+)", shown)
    secret = re.search(r"Secret key: (\S+)", shown)
    assert access and secret, shown
    return access.group(1), secret.group(1)


def create_batch(server: LiveServer, name: str, command: str, *extra: str,
                 **env: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return server.official(
        "session", "create", "--type", "batch", "-c", command, "-t", name, "--enqueue-only",
        *extra, "python", **env,
    )  # fmt: skip


# Dependencies and starts_at --------------------------------------------------------------


def test_dependencies_with_the_official_cli(live_server: LiveServer) -> None:
    ok(create_batch(live_server, "dep-first", "sleep 1; exit 0"))
    ok(create_batch(live_server, "dep-second", "exit 0", "--depends", "dep-first"))
    waiting = session_named(live_server, "dep-second")
    if waiting["status"] == "PENDING":
        assert waiting["status_info"] in (None, "") or "dep-first" in waiting["status_info"]
    wait_named(live_server, "dep-first", "TERMINATED")
    done = wait_named(live_server, "dep-second", "TERMINATED")
    assert done["result"] == "SUCCESS"

    first_id = session_named(live_server, "dep-first")["id"]
    shown = ok(live_server.official("session", "info", done["id"]))
    assert "dep-first" in shown or first_id in shown  # `session info` lists dependencies

    ok(create_batch(live_server, "dep-fails", "sleep 1; exit 4"))
    ok(create_batch(live_server, "dep-doomed", "exit 0", "--depends", "dep-fails"))
    doomed = wait_named(live_server, "dep-doomed", "CANCELLED")
    assert "dep-fails" in doomed["status_info"] and "FAILURE" in doomed["status_info"]

    unknown = create_batch(live_server, "dep-lost", "exit 0", "--depends", "no-such-session")
    assert unknown.returncode != 0
    assert "No such session to depend on: no-such-session" in text(unknown)


def test_starts_at_with_the_official_cli(live_server: LiveServer) -> None:
    ok(create_batch(live_server, "later-job", "exit 0", "--starts-at", "1h"))
    waiting = wait_named(live_server, "later-job", "PENDING")
    deadline = time.monotonic() + 10
    while "starts_at" not in (waiting["status_info"] or "") and time.monotonic() < deadline:
        time.sleep(0.2)
        waiting = session_named(live_server, "later-job")
    assert waiting["status_info"].startswith("waiting until ")
    starts = datetime.fromisoformat(waiting["starts_at"])
    assert timedelta(minutes=59) < starts - datetime.now(UTC) <= timedelta(hours=1)
    ok(live_server.official("session", "rm", "later-job"))
    assert session_named(live_server, "later-job")["status"] == "CANCELLED"

    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    ok(create_batch(live_server, "soon-job", "exit 0", "--starts-at", soon))
    assert session_named(live_server, "soon-job")["status"] == "PENDING"
    assert wait_named(live_server, "soon-job", "TERMINATED")["result"] == "SUCCESS"

    bad = create_batch(live_server, "bad-job", "exit 0", "--starts-at", "whenever")
    assert bad.returncode != 0 and "starts_at" in text(bad)


# agentList, resource_opts ------------------------------------------------------------------


SHM_SCRIPT = """\
import os
st = os.statvfs("/dev/shm")
print("SHM", st.f_blocks * st.f_frsize)
"""


def test_assign_agent_and_shmem_with_the_official_cli(
    live_server: LiveServer, tmp_path: Path
) -> None:
    (tmp_path / "shm.py").write_text(SHM_SCRIPT)
    shown = ok(live_server.official(
        "run", "--rm", "-r", "mem=512m", "--resource-opts", "shmem=64m",
        "--exec", "python shm.py", "python", "shm.py", cwd=tmp_path,
    ))  # fmt: skip
    assert f"SHM {64 << 20}" in shown

    ok(live_server.official("session", "create", "-t", "find-agent", "python"))
    agent = session_named(live_server, "find-agent")["containers"][0]["agent"]
    assert agent
    ok(live_server.official(
        "session", "create", "-t", "pinned-one", "--assign-agent", agent,
        "--resource-opts", "shmem=32m", "-r", "mem=256m", "python",
    ))  # fmt: skip
    pinned = wait_named(live_server, "pinned-one", "RUNNING")
    assert pinned["containers"][0]["agent"] == agent
    assert json.loads(pinned["resource_opts"]) == {"shmem": str(32 << 20)}

    missing = live_server.official(
        "session", "create", "-t", "pinned-lost", "--assign-agent", "i-nowhere", "python"
    )
    assert missing.returncode != 0 and "No such agent instance: i-nowhere" in text(missing)
    too_big = live_server.official(
        "session", "create", "-t", "shm-big", "--resource-opts", "shmem=1g", "-r", "mem=256m",
        "python",
    )  # fmt: skip
    assert too_big.returncode != 0 and "less than the requested memory" in text(too_big)

    access, secret = plain_user(live_server, "plain@example.com")
    refused = live_server.official(
        "session", "create", "-t", "users-pin", "--assign-agent", agent, "python",
        BACKEND_ACCESS_KEY=access, BACKEND_SECRET_KEY=secret,
    )  # fmt: skip
    assert refused.returncode != 0 and "administrators" in text(refused)
    for name in ("find-agent", "pinned-one"):
        ok(live_server.official("session", "rm", name))


# owner_access_key on file transfer, missing downloads --------------------------------------


SDK_FILES = """\
import json, sys, tempfile, pathlib
from ai.backend.client.session import Session
from ai.backend.client.exceptions import BackendAPIError
owner = sys.argv[1] if len(sys.argv) > 1 else None
base = pathlib.Path(tempfile.mkdtemp())
(base / "hello.txt").write_text("hi from the admin")
out = {}
with Session() as api:
    sess = api.ComputeSession("users-box", owner)
    def attempt(name, action):
        try:
            out[name] = action()
        except BackendAPIError as exc:
            out[name] = {"error": exc.status, "data": exc.data}
    attempt("upload", lambda: sess.upload([str(base / "hello.txt")], basedir=str(base)).status)
    attempt("ls", lambda: json.loads(sess.list_files(".")["files"]))
    dest = base / "dest"
    dest.mkdir()
    attempt("download", lambda: sess.download(["hello.txt"], dest=str(dest)))
    out["downloaded"] = (dest / "hello.txt").read_text() if (dest / "hello.txt").exists() else None
    attempt("missing", lambda: sess.download(["nope.txt"], dest=str(dest)))
print(json.dumps(out, default=str))
"""


def run_sdk(server: LiveServer, owner: str | None, **env: str) -> dict[str, Any]:
    script = SDK_FILES.replace("sys.argv[1] if len(sys.argv) > 1 else None", repr(owner))
    done = server.official_python(script, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_owner_access_key_on_files_with_the_official_sdk(live_server: LiveServer) -> None:
    access, secret = plain_user(live_server, "owner@example.com")
    as_user = {"BACKEND_ACCESS_KEY": access, "BACKEND_SECRET_KEY": secret}
    ok(live_server.official("session", "create", "-t", "users-box", "python", **as_user))

    by_admin = run_sdk(live_server, access)
    assert by_admin["upload"] == 204
    assert "hello.txt" in [f["filename"] for f in by_admin["ls"]]
    assert by_admin["downloaded"] == "hi from the admin"
    assert by_admin["missing"]["error"] == 400
    assert by_admin["missing"]["data"]["msg"] == "The file is not found."

    # The user's own view has the admin's file.
    shown = ok(live_server.official("session", "ls", "users-box", **as_user))
    assert "hello.txt" in shown

    # The user cannot use the admin's key; the admin's own session of that name is unknown.
    ok(live_server.official("session", "create", "-t", "users-box", "python"))
    by_user = run_sdk(live_server, live_server.access_key, **as_user)
    for step in ("upload", "ls", "download"):
        assert by_user[step]["error"] == 403, by_user
    assert by_user["downloaded"] is None
    shown = ok(live_server.official("session", "ls", "users-box"))
    assert "hello.txt" not in shown
    for env in ({}, as_user):
        ok(live_server.official("session", "rm", "users-box", **env))


UID_SCRIPT = """\
import os, pathlib
print("IDS", os.getuid(), os.getgid())
up = pathlib.Path("uploaded.txt")
print("READ", up.read_text().strip())
up.write_text("changed in the session\\n")
pathlib.Path("made.txt").write_text("made in the session\\n")
"""


def test_sandbox_user_has_a_dedicated_uid(live_server: LiveServer, tmp_path: Path) -> None:
    """The sandbox runs as uid/gid 64000 by default (no host account's ids), and files moved
    with upload/download stay readable and writable on both sides."""
    (tmp_path / "ids.py").write_text(UID_SCRIPT)
    (tmp_path / "uploaded.txt").write_text("from the client\n")
    ok(live_server.official("session", "create", "-t", "uid-box", "python"))
    ok(live_server.official("session", "upload", "uid-box", "ids.py", "uploaded.txt",
                            cwd=tmp_path))  # fmt: skip
    done = live_server.official_python(
        "from ai.backend.client.session import Session\n"
        "with Session() as api:\n"
        "    s = api.ComputeSession('uid-box')\n"
        "    r = s.execute('r1', mode='batch', opts={'exec': 'python ids.py'})\n"
        "    while r['status'] != 'finished':\n"
        "        r = s.execute('r1', mode='continue')\n"
        "    print(r['console'], r['exitCode'])\n"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "IDS 64000 64000" in done.stdout and "READ from the client" in done.stdout
    dest = tmp_path / "back"
    dest.mkdir()
    ok(live_server.official("session", "download", "uid-box", "uploaded.txt", "made.txt",
                            "--dest", str(dest)))  # fmt: skip
    assert (dest / "uploaded.txt").read_text() == "changed in the session\n"
    assert (dest / "made.txt").read_text() == "made in the session\n"
    scratch = live_server.data_dir / "scratch"
    owned = {(p.stat().st_uid, p.stat().st_gid) for p in scratch.glob("*/made.txt")}
    assert owned == {(64000, 64000)}
    ok(live_server.official("session", "rm", "uid-box"))
