"""Work outlives the server: a real ``hangar server`` restarted under running sessions, driven
with the official ``backend.ai`` CLI and SDK (issue 12 item 2; issue 20 items 4 and 10).

A batch job keeps running and its log keeps growing, a query kernel keeps its globals and
``id_container`` stays the same, a kernel killed while the server was down ends its session
as ERROR with the reason (and a second restart brings no zombie back), a session cut off
while PREPARING starts again, and the pre-started kernels a kill -9 leaves are swept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer

pytestmark = pytest.mark.usefixtures("official_client")

QUERY = textwrap.dedent(
    """
    import sys
    from ai.backend.client.session import Session
    with Session() as api:
        result = api.ComputeSession(sys.argv[1]).execute(mode="query", code=sys.argv[2])
        print("".join(text for kind, text in result["console"] if kind == "stdout"), end="")
    """
)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def logs(server: LiveServer, session: str) -> str:
    return server.official("session", "logs", session).stdout


def query(server: LiveServer, session: str, code: str) -> str:
    script = QUERY.replace("sys.argv[1]", repr(session)).replace("sys.argv[2]", repr(code))
    return ok(server.official_python(script))


def row(server: LiveServer, name: str) -> dict[str, Any]:
    gql = (
        "query { compute_session_list(limit: 100, offset: 0) "
        "{ items { id name status status_info result } } }"
    )
    response = server.signed("POST", "/admin/gql", {"query": gql, "variables": {}})
    rows = response.json()["data"]["compute_session_list"]["items"]
    return dict(next(r for r in rows if r["name"] == name))


def until(check: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def crash(server: LiveServer) -> None:
    """kill -9 of the server process (and only it)."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()


def kept_pid(server: LiveServer, session_id: str, name: str) -> int:
    """The supervisor of a session's kept process (see hangar.agent.runtimes.detached)."""
    import json

    record = server.data_dir / "agent" / "kept" / session_id / name / "process.json"
    return int(json.loads(record.read_text())["pid"])


def test_a_batch_job_runs_on_across_a_restart(live_server: LiveServer) -> None:
    command = "for i in $(seq 1 40); do echo tick $i; sleep 0.25; done; exit 4"
    ok(live_server.official("start", "-t", "long-job", "--type", "batch", "-c", command, "python"))
    until(lambda: "tick 2" in logs(live_server, "long-job"), what="first ticks")

    live_server.stop(keep_sessions=True)  # SIGTERM, as Ctrl-C would
    time.sleep(2)  # the job goes on meanwhile
    live_server.start()
    assert row(live_server, "long-job")["status"] == "RUNNING"
    text = logs(live_server, "long-job")
    assert "tick 1\n" in text and "tick 2\n" in text  # kept, not emptied
    seen = max(int(line.split()[1]) for line in text.splitlines() if line.startswith("tick"))
    assert seen >= 8, text  # written while the server was down
    until(lambda: "tick 40" in logs(live_server, "long-job"), what="the end")
    until(lambda: row(live_server, "long-job")["status"] == "TERMINATED", what="the end")
    done = row(live_server, "long-job")
    assert done["result"] == "FAILURE"  # exit 4: it ended as it would have
    assert logs(live_server, "long-job").count("tick 1\n") == 1  # not rerun


def test_a_query_kernel_keeps_its_globals_and_key_across_a_restart(
    live_server: LiveServer,
) -> None:
    ok(live_server.official("start", "-t", "keep-x", "python"))
    assert query(live_server, "keep-x", "x = 41\nprint(x)") == "41\n"
    key = query(live_server, "keep-x", "print(open('/home/work/id_container.pub').read())")
    live_server.stop(keep_sessions=True)
    live_server.start()
    assert query(live_server, "keep-x", "print(x + 1)") == "42\n"
    assert query(live_server, "keep-x", "print(open('/home/work/id_container.pub').read())") == key
    # sshd still accepts the key the user holds
    authorized = query(live_server, "keep-x", "print(open('/tmp/.hangar/authorized_keys').read())")
    assert authorized == key
    ok(live_server.official("rm", "keep-x"))


def test_a_kernel_killed_while_the_server_is_down_fails_its_session(
    live_server: LiveServer,
) -> None:
    ok(live_server.official("start", "-t", "doomed", "python"))
    assert query(live_server, "doomed", "x = 1\nprint(x)") == "1\n"
    session_id = row(live_server, "doomed")["id"]
    crash(live_server)
    supervisor = kept_pid(live_server, session_id, "query")
    os.killpg(supervisor, signal.SIGKILL)  # the kernel dies while no server runs

    live_server.start()
    until(lambda: row(live_server, "doomed")["status"] != "RUNNING", what="the session to end")
    failed = row(live_server, "doomed")
    assert failed["status"] == "ERROR", failed
    assert failed["status_info"].startswith("kernel-lost"), failed
    assert "lost while the agent was down" in logs(live_server, "doomed")

    live_server.stop(keep_sessions=True)
    live_server.start()  # no RUNNING zombie on the second restart either
    assert row(live_server, "doomed")["status"] == "ERROR"
    assert not any(s["status"] == "RUNNING" for s in live_server.sessions_alive())


def test_a_session_cut_off_while_preparing_starts_again(
    live_server: LiveServer, tmp_path: Path
) -> None:
    script = tmp_path / "slow-boot.sh"
    script.write_text("echo booting; sleep 3; echo booted > booted.txt\n")
    ok(live_server.official("start", "-t", "slow-boot", "--bootstrap-script", str(script),
                            "--enqueue-only", "python"))  # fmt: skip
    until(lambda: row(live_server, "slow-boot")["status"] == "PREPARING", what="PREPARING")
    crash(live_server)
    live_server.start()
    until(
        lambda: row(live_server, "slow-boot")["status"] in ("RUNNING", "ERROR"),
        timeout=60,
        what="the session to leave PREPARING",
    )
    assert row(live_server, "slow-boot")["status"] == "RUNNING"
    assert query(live_server, "slow-boot", "print(open('booted.txt').read())") == "booted\n\n"


def test_pre_started_kernels_left_by_a_crash_are_swept(database_url: str, tmp_path: Path) -> None:
    pools = {"HANGAR_KERNEL_POOL_SIZE": "1", "HANGAR_SANDBOX_POOL_SIZE": "1"}
    server = LiveServer(home=tmp_path / "home", database_url=database_url, extra_env=pools)
    server.start()
    try:
        scratch = server.data_dir / "scratch"
        until(lambda: len(list(scratch.glob("pool-*"))) == 2, what="a pre-started kernel")
        leftovers = [p.name for p in scratch.glob("pool-*")]
        time.sleep(1)  # let them finish starting
        crash(server)
        server.start()
        for leftover in leftovers:
            gone = scratch / leftover
            until(lambda: not gone.exists(), timeout=20, what="the sweep")  # noqa: B023
            assert not (server.data_dir / "agent" / "kept" / leftover).exists()
            cgroups = [Path(f"/sys/fs/cgroup/{c}/hangar") / leftover for c in ("pids", "memory")]
            assert not any(path.exists() for path in [*cgroups, Path("/sys/fs/cgroup/hangar")
                                                      / leftover])  # fmt: skip
    finally:
        server.stop()
