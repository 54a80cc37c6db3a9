"""The API's listening socket stays in the server: no session process (kernel, Jupyter
kernel, service) may hold it, or a sandboxed user could accept the API's connections."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.live import LiveServer


def _listening_inode(port: int) -> str:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                return fields[9]
    raise AssertionError(f"nothing listens on port {port}")


def _holders(inode: str) -> set[int]:
    wanted = f"socket:[{inode}]"
    holders = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == wanted for fd in fds):
                holders.add(int(pid))
        except OSError:  # gone, or not ours to read
            continue
    return holders


def test_session_processes_do_not_hold_the_api_socket(live_server: LiveServer) -> None:
    started = live_server.official("start", "-t", "fdcheck", "python")
    assert started.returncode == 0, started.stderr
    ran = live_server.official("run", "--rm", "-c", "print(6 * 7)", "python")  # a query kernel
    assert "42" in ran.stdout, ran.stdout + ran.stderr
    port = urlsplit(live_server.endpoint).port
    assert port is not None and live_server.proc is not None
    assert _holders(_listening_inode(port)) == {live_server.proc.pid}
