"""Clear refusals instead of silent waits and silent success, as a user of the official
``backend.ai`` CLI and of ``hangar`` sees them: impossible requests refused at creation,
``hangar run`` showing why it waits and failing when the cell fails, a query-mode OOM
named as such, and a session on a LOST agent failing the client."""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_remote_agents import agent, manager  # noqa: F401 - fixtures
from tests.support.live import LiveAgent, LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
CORES = len(os.sched_getaffinity(0))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cgroup_memory_writable() -> bool:
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        return os.access(v1, os.W_OK)
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    return (
        controllers.is_file()
        and "memory" in controllers.read_text().split()
        and os.access("/sys/fs/cgroup", os.W_OK)
    )


def test_impossible_requests_are_refused_at_creation(live_server: LiveServer) -> None:
    for resource, named in [
        ("foo=1", "resource slot 'foo'"),
        ("gpu=1", "resource slot 'gpu'"),
        ("cuda.device=1", "resource slot 'cuda.device'"),
        (f"cpu={CORES * 32}", f"can ever hold cpu={CORES * 32}"),
    ]:
        done = live_server.official("run", "--rm", "-r", resource, "-c", "print(1)", "python")
        shown = done.stdout + done.stderr
        assert named in shown, shown
        assert f"has cpu={CORES}, mem=" in shown and "GiB" in shown, shown  # the largest agent
        ours = live_server.hangar("run", "--rm", "-r", resource, "-c", "print(1)", "python")
        assert ours.returncode == 1 and named in ours.stderr, ours.stderr
        assert len(ours.stderr.strip().splitlines()) == 1, ours.stderr
    assert live_server.sessions_alive() == []


def test_hangar_run_shows_why_it_waits(live_server: LiveServer) -> None:
    holder = live_server.hangar("start", "-t", "holder", "-r", f"cpu={CORES}", "python")
    assert holder.returncode == 0, holder.stderr
    # A terminal as rich sees one, wide enough to keep the reason on one line.
    tty = {"TTY_INTERACTIVE": "1", "FORCE_COLOR": "1", "COLUMNS": "200"}
    done = live_server.hangar(
        "run", "--rm", "-t", "queued", "--max-wait", "3", "-r", "cpu=1", "-c", "print(1)",
        "python", **tty,
    )  # fmt: skip
    assert done.returncode == 1
    screen = ANSI.sub("", done.stderr)
    assert "Waiting for the session to start (queued)" in screen
    assert "PENDING: not enough cpu on any agent" in screen, screen
    removed = live_server.hangar("rm", "queued", "holder")
    assert removed.returncode == 0, removed.stderr


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [("1/0", 1), ("raise SystemExit(3)", 3), ("import no_such_module_here", 1),
     ("import sys; sys.exit()", 0), ("print('fine')", 0)],
)  # fmt: skip
def test_hangar_run_exits_non_zero_when_the_cell_fails(
    live_server: LiveServer, code: str, exit_code: int
) -> None:
    done = live_server.hangar("run", "--rm", "-c", code, "python")
    assert done.returncode == exit_code, done.stdout + done.stderr
    assert live_server.sessions_alive() == []


def test_the_official_cli_still_sees_exit_code_0_for_a_failed_cell(
    live_server: LiveServer,
) -> None:
    done = live_server.official("run", "--rm", "-c", "1/0", "python")
    assert "ZeroDivisionError" in done.stderr
    assert "Execution finished. (exit code = 0)" in done.stdout + done.stderr


@pytest.mark.skipif(not cgroup_memory_writable(), reason="no writable memory cgroup here")
def test_query_mode_oom_says_memory_limit_exceeded(live_server: LiveServer) -> None:
    done = live_server.official(
        "run", "--rm", "-r", "mem=256m", "-c", "x = bytearray(1024**3)", "python"
    )
    shown = done.stdout + done.stderr
    assert "memory limit exceeded (256 MiB); the kernel was restarted" in shown, shown
    assert "no output" not in shown


@pytest.fixture
def lost(manager: LiveServer, agent: LiveAgent) -> Iterator[LiveServer]:  # noqa: F811
    """A session ``lost-sess`` on a remote agent that then goes silent (LOST)."""
    started = manager.official("start", "-t", "lost-sess", "python")
    assert started.returncode == 0, started.stdout + started.stderr
    agent.signal(signal.SIGSTOP)
    try:
        agent.wait_status("LOST", timeout=20)
        yield manager
    finally:
        agent.signal(signal.SIGCONT)
    agent.wait_status("ALIVE")
    manager.official("rm", "lost-sess")  # its kernel may outlive the agent process


def test_a_session_on_a_lost_agent_fails_the_client(lost: LiveServer) -> None:
    done = lost.official("run", "-t", "lost-sess", "-c", "print(1)", "python")
    assert done.returncode != 0, done.stdout + done.stderr
    shown = done.stdout + done.stderr
    assert "503" in shown or "Service Unavailable" in shown, shown
    assert "i-far-away, which is not connected" in shown, shown
    ours = lost.hangar("run", "-t", "lost-sess", "-c", "print(1)", "python")
    assert ours.returncode == 1
    assert "not connected" in ours.stderr and "Traceback" not in ours.stderr
