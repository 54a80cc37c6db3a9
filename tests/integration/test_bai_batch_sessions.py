"""Batch sessions started with the official CLI run their command without a Jupyter kernel
beside it (none started with the session, none taken from the pool), while an interactive
session on the same server has one; the batch session still finishes with its result."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.live import LiveServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir(),
        reason="python3-ipykernel is not installed",
    ),
    pytest.mark.skipif(
        not Path("/sys/fs/cgroup/memory").is_dir(), reason="needs cgroup v1 to find processes"
    ),
]


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def start(server: LiveServer, *args: str) -> str:
    match = re.search(r"Session ID ([0-9a-f-]{36})", ok(server.official("start", *args)))
    assert match
    return match.group(1)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def jupyter_runs_in(session_id: str) -> bool:
    """Whether a Jupyter kernel process runs in the session's (memory) cgroup on this host."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            groups = (proc / "cgroup").read_text()
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        memory = [line for line in groups.splitlines() if ":memory:" in line]
        if memory and session_id in memory[0] and b"ipykernel" in command:
            return True
    return False


def status(server: LiveServer, session_id: str) -> tuple[str, str]:
    listed = json.loads(ok(server.official("--output", "json", "ps", "--status", "ALL")))
    item = next(i for i in listed["items"] if i["session_id"] == session_id)
    return item["status"], item["result"]


def test_batch_sessions_run_without_a_jupyter_kernel(live_server: LiveServer) -> None:
    notebook = start(live_server, "-t", "notebook", "python")
    wait_for(lambda: jupyter_runs_in(notebook), "the interactive session's Jupyter kernel")

    command = "while [ ! -f go ]; do sleep 0.05; done; echo batch-done"
    batch = start(live_server, "-t", "nightly-job", "--type", "batch", "-c", command, "python")
    assert status(live_server, batch)[0] == "RUNNING"
    assert (live_server.data_dir / "scratch" / batch).is_dir()  # its command is waiting
    assert not jupyter_runs_in(batch)
    (live_server.data_dir / "scratch" / batch / "go").touch()

    wait_for(lambda: status(live_server, batch)[0] == "TERMINATED", "the batch session to end")
    assert status(live_server, batch) == ("TERMINATED", "SUCCESS")
    assert "batch-done" in ok(live_server.official("session", "logs", batch))
    assert jupyter_runs_in(notebook)
