"""Remote agents: ``hangar agent --manager URL`` in its own process, with its own data dir,
running the sessions a ``hangar server`` without an embedded agent schedules on it.

Driven with the official client: batch and query runs, files, the terminal WebSocket and an
app through the app proxy; then what happens when the manager restarts (kernels live on),
the agent restarts (sessions start again with their files), and the agent goes silent (LOST;
its sessions can be removed; kernels of sessions removed meanwhile are destroyed when it comes
back). The shared token guards both directions.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import BAI_CLI, HANGAR, LiveAgent, LiveServer, running_agent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

QUERY = textwrap.dedent(
    """
    import sys
    from ai.backend.client.session import Session
    with Session() as api:
        result = api.ComputeSession(sys.argv[1]).execute(mode="query", code=sys.argv[2])
        print("".join(text for kind, text in result["console"] if kind == "stdout"), end="")
    """
)

PTY = textwrap.dedent(
    """
    import asyncio, base64, json, sys
    from ai.backend.client.session import AsyncSession

    async def main():
        async with AsyncSession() as api:
            async with api.ComputeSession(sys.argv[1]).stream_pty() as pty:
                await pty.send_str(json.dumps({"type": "resize", "rows": 31, "cols": 97}))
                line = base64.b64encode(b"echo far-$((6*7)) $(id -un); stty size\\n").decode()
                await pty.send_str(json.dumps({"type": "stdin", "chars": line}))
                seen = ""
                while not ("far-42 work" in seen and "31 97" in seen):
                    frame = await asyncio.wait_for(pty.raw_websocket.receive_json(), 30)
                    seen += base64.b64decode(frame["data"]).decode(errors="replace")
                print("OK")

    asyncio.run(main())
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def manager(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server with no embedded agent, on a fixed port (agents keep its URL across restarts),
    declaring agents LOST after 2 s of silence."""
    server = LiveServer(
        home=tmp_path / "manager",
        database_url=database_url,
        extra_env={
            "HANGAR_AGENT_RUNTIME": "none",
            "HANGAR_PORT": str(free_port()),
            "HANGAR_AGENT_LOST_SECONDS": "2",
        },  # fmt: skip
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def agent(manager: LiveServer, tmp_path: Path) -> Iterator[LiveAgent]:
    # with the default kernel pool (live servers run without one)
    remote = LiveAgent(manager, tmp_path / "agent", agent_id="i-far-away",
                       extra_env={"HANGAR_KERNEL_POOL_SIZE": "1"})  # fmt: skip
    yield from running_agent(remote)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def query(server: LiveServer, session: str, code: str) -> str:
    return ok(server.official_python(QUERY.replace("sys.argv[1]", repr(session))
                                     .replace("sys.argv[2]", repr(code))))  # fmt: skip


def session_row(server: LiveServer, name: str) -> dict[str, str]:
    gql = "query { compute_session_list(limit: 100, offset: 0) { items { name status agents } } }"
    response = server.signed("POST", "/admin/gql", {"query": gql, "variables": {}})
    rows = response.json()["data"]["compute_session_list"]["items"]
    return next(row for row in rows if row["name"] == name)


def test_sessions_run_on_the_remote_agent(
    manager: LiveServer, agent: LiveAgent, tmp_path: Path
) -> None:
    listed = ok(manager.official("admin", "agent", "list"))
    assert "i-far-away" in listed and "ALIVE" in listed

    ran = ok(
        manager.official("run", "--rm", "-c", 'import os; print("far", os.getcwd())', "python")
    )
    assert "far /home/work" in ran

    ok(manager.official("start", "-t", "far-sess", "python"))
    assert session_row(manager, "far-sess")["agents"] == ["i-far-away"]
    assert query(manager, "far-sess", "x = 20\nprint(x * 2 + 2)") == "42\n"
    assert query(manager, "far-sess", "print(x)") == "20\n"  # one kernel, globals kept

    (tmp_path / "note.txt").write_text("carried over\n")
    ok(manager.official("session", "upload", "far-sess", "note.txt", cwd=tmp_path))
    assert "note.txt" in ok(manager.official("session", "ls", "far-sess"))
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    ok(manager.official("session", "download", "far-sess", "note.txt", cwd=fetched))
    assert (fetched / "note.txt").read_text() == "carried over\n"
    assert "carried over" in query(manager, "far-sess", "print(open('note.txt').read())")

    # the terminal: bytes and resize control through the agent's WebSocket
    pty = manager.official_python(PTY.replace("sys.argv[1]", repr("far-sess")))
    assert pty.stdout.split() == ["OK"], pty.stdout + pty.stderr

    # an app through the app proxy: Jupyter's REST API answers
    port = free_port()
    proxy = subprocess.Popen(
        [str(BAI_CLI), "app", "far-sess", "jupyter", "-b", f"127.0.0.1:{port}"],
        env=manager.client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline, status = time.monotonic() + 60, 0
        while status != 200 and time.monotonic() < deadline:
            try:
                status = httpx.get(
                    f"http://127.0.0.1:{port}/api/kernelspecs", timeout=5
                ).status_code
            except httpx.HTTPError:
                time.sleep(0.3)
        assert status == 200
    finally:
        proxy.send_signal(signal.SIGKILL)
        proxy.wait()
    ok(manager.official("rm", "far-sess"))
    # The agent answers the destroy first and removes the scratch dir right after.
    scratch = agent.home / "data" / "scratch"
    deadline = time.monotonic() + 15
    while any(scratch.glob("*-*-*-*-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(scratch.glob("*-*-*-*-*"))  # scratch removed


def test_manager_and_agent_restarts_and_a_lost_agent(
    manager: LiveServer, agent: LiveAgent, tmp_path: Path
) -> None:
    ok(manager.official("start", "-t", "keep-sess", "python"))
    assert query(manager, "keep-sess", "x = 41\nopen('mark', 'w').write('m')\nprint(x)") == "41\n"

    # The manager restarts; the agent keeps running its kernels and reports again.
    manager.stop(keep_sessions=True)
    manager.start()
    agent.wait_status("ALIVE")
    deadline = time.monotonic() + 20
    while True:  # until the agent's next heartbeat reconnected it
        done = manager.official_python(
            QUERY.replace("sys.argv[1]", '"keep-sess"').replace("sys.argv[2]", '"print(x + 1)"')
        )
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        assert "not connected" in done.stdout + done.stderr
        time.sleep(0.3)
    assert done.stdout == "42\n", done.stdout + done.stderr  # the same kernel: x is still there

    # The agent restarts: its kernels run on and the new agent takes them over, so the
    # session keeps its files and its interpreter's globals.
    agent.stop(keep_sessions=True)
    agent.start()
    deadline = time.monotonic() + 30
    while True:
        done = manager.official_python(
            QUERY.replace("sys.argv[1]", '"keep-sess"').replace(
                "sys.argv[2]", "\"print(open('mark').read(), x + 2)\""
            )
        )
        if done.stdout == "m 43\n" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert done.stdout == "m 43\n", done.stdout + done.stderr
    assert session_row(manager, "keep-sess")["status"] == "RUNNING"

    # The agent goes silent (stopped, as in a network partition): it is LOST after 2 s, no
    # new session is placed on it, and its session can still be removed.
    agent.signal(signal.SIGSTOP)
    try:
        agent.wait_status("LOST", timeout=20)
        ok(manager.official("start", "-t", "wait-sess", "--enqueue-only", "python"))
        time.sleep(1)
        assert session_row(manager, "wait-sess")["status"] == "PENDING"
        ok(manager.official("rm", "keep-sess"))
        assert session_row(manager, "keep-sess")["status"] == "TERMINATED"
    finally:
        agent.signal(signal.SIGCONT)
    # Back: the kernel of the session removed meanwhile is destroyed, and the queued session
    # starts on it.
    agent.wait_status("ALIVE")
    deadline = time.monotonic() + 30
    scratch = agent.home / "data" / "scratch"
    while time.monotonic() < deadline:
        kernels = [p for p in scratch.iterdir() if len(p.name) == 36]
        if len(kernels) == 1 and session_row(manager, "wait-sess")["status"] == "RUNNING":
            break
        time.sleep(0.3)
    assert session_row(manager, "wait-sess")["status"] == "RUNNING"
    assert [p.name for p in scratch.iterdir() if len(p.name) == 36] == [
        manager_session_id(manager, "wait-sess")
    ]


def manager_session_id(server: LiveServer, name: str) -> str:
    gql = "query { compute_session_list(limit: 100, offset: 0) { items { id name } } }"
    response = server.signed("POST", "/admin/gql", {"query": gql, "variables": {}})
    rows = response.json()["data"]["compute_session_list"]["items"]
    return str(next(row["id"] for row in rows if row["name"] == name))


def test_the_agent_token_guards_both_directions(
    manager: LiveServer, agent: LiveAgent, tmp_path: Path
) -> None:
    beat = {"agent_id": "i-intruder", "url": "http://127.0.0.1:9", "boot": "b1", "kernels": []}
    url = manager.endpoint + "/hangar/agents/heartbeat"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        refused = httpx.post(url, json=beat, headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
    token = (manager.data_dir / "agent-token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    bad = httpx.post(url, json={**beat, "url": "ftp://x"}, headers=auth, timeout=10)
    assert bad.status_code == 400 and "url" in bad.json()["msg"]
    assert httpx.get(url, headers=auth, timeout=10).status_code == 405
    # a well-formed beat from an agent that does not answer its URL registers nothing
    gone = httpx.post(url, json=beat, headers=auth, timeout=30)
    assert gone.status_code == 502, gone.text
    # another agent cannot take a live agent's id
    taken = httpx.post(
        url, json={**beat, "agent_id": "i-far-away", "url": "http://127.0.0.1:9"}, headers=auth
    )
    assert taken.status_code == 409, taken.text
    # a beat naming another agent's URL: the call back tells the truth, nothing is replaced
    liar = httpx.post(
        url, json={**beat, "agent_id": "i-claimed", "url": agent.url}, headers=auth, timeout=30
    )
    assert liar.status_code == 400 and "calls itself i-far-away" in liar.json()["msg"]
    listed = ok(manager.official("admin", "agent", "list"))
    assert "i-intruder" not in listed and "i-claimed" not in listed and "i-far-away" in listed
    assert "42" in ok(manager.official("run", "--rm", "-c", "print(6 * 7)", "python"))

    # the agent's own API refuses callers without the token
    assert httpx.get(agent.url + "/info", timeout=10).status_code == 401
    wrong = httpx.get(agent.url + "/info", headers={"Authorization": "Bearer no"}, timeout=10)
    assert wrong.status_code == 401
    assert httpx.get(agent.url + "/info", headers=auth, timeout=10).json()["info"]["agent_id"] == (
        "i-far-away"
    )

    # an agent holding a wrong token never registers, and says why in its log
    bad_token = tmp_path / "bad-token"
    bad_token.write_text("not-the-token\n")
    impostor = LiveAgent(manager, tmp_path / "impostor", agent_id="i-impostor",
                         token_file=bad_token)  # fmt: skip
    impostor.start()
    try:
        deadline = time.monotonic() + 20
        while "refused the agent (HTTP 401)" not in impostor.log_path.read_text():
            assert time.monotonic() < deadline, impostor.log_path.read_text()
            time.sleep(0.2)
        assert impostor.status() is None
    finally:
        impostor.stop()


def test_hangar_agent_explains_what_it_lacks(manager: LiveServer, tmp_path: Path) -> None:
    env = {k: v for k, v in manager.server_env().items() if not k.startswith("HANGAR_AGENT")}
    env["HANGAR_DATA_DIR"] = str(tmp_path / "lonely")
    no_token = subprocess.run(
        [str(HANGAR), "agent", "--manager", manager.endpoint, "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert no_token.returncode == 2
    assert "agent token" in no_token.stderr and "Traceback" not in no_token.stderr
    bad_url = subprocess.run(
        [str(HANGAR), "agent", "--manager", "head:8090"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad_url.returncode == 2 and "http(s) URL" in bad_url.stderr


def test_a_batch_job_runs_on_across_manager_and_agent_restarts(
    manager: LiveServer, agent: LiveAgent
) -> None:
    command = "for i in $(seq 1 30); do echo tick $i; sleep 0.3; done; exit 0"
    ok(manager.official("start", "-t", "far-job", "--type", "batch", "-c", command, "python"))

    def logs() -> str:
        return manager.official("session", "logs", "far-job").stdout

    def until(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 60
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {logs()}"
            time.sleep(0.3)

    until(lambda: "tick 2\n" in logs(), "the first ticks")
    manager.stop(keep_sessions=True)
    manager.start()
    agent.wait_status("ALIVE")
    until(lambda: "tick 12\n" in logs(), "ticks after the manager's restart")
    agent.stop(keep_sessions=True)
    agent.start()
    until(lambda: session_row(manager, "far-job")["status"] == "TERMINATED", "the end")
    # Under load the job may end before the manager is back, or as the agent goes away (its
    # log is then only there, kept by the manager once the agent is back).
    until(lambda: manager.official("session", "logs", "far-job").returncode == 0, "the log")
    text = ok(manager.official("session", "logs", "far-job"))
    assert text.count("tick 1\n") == 1 and "tick 30\n" in text, text  # one run, to its end
    agent.stop(keep_sessions=True)  # the manager kept the ended job's log: still readable
    assert ok(manager.official("session", "logs", "far-job")) == text
