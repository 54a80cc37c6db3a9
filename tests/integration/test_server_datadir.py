"""One data dir, one server: a second ``hangar server`` on a held data dir, or on a busy
port, says so in one line and exits non-zero without touching anything; ``hangar admin``
works beside a running server, names its data dir and refuses one that does not exist."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.support.live import HANGAR, LiveServer

pytestmark = pytest.mark.integration


def second_server(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HANGAR), "server"], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_second_server_on_the_same_data_dir_is_refused(
    live_server: LiveServer, tmp_path: Path
) -> None:
    started = live_server.official("start", "-t", "kept", "python")
    assert started.returncode == 0, started.stdout + started.stderr
    config = live_server.home / "config" / "hangar" / "client.toml"
    before = config.read_text()
    assert live_server.proc is not None
    done = second_server(live_server.server_env())  # same data dir, another free port
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(live_server.data_dir) in lines[0]
    assert f"process {live_server.proc.pid}" in lines[0]
    assert config.read_text() == before  # the client config still points at the first one
    alive = live_server.sessions_alive()
    assert [(s["name"], s["status"]) for s in alive] == [("kept", "RUNNING")]
    assert live_server.official("rm", "kept").returncode == 0  # sessions outlive the server


def test_a_busy_port_is_one_line(database_url: str, tmp_path: Path) -> None:
    server = LiveServer(home=tmp_path / "home", database_url=database_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = second_server({**server.server_env(), "HANGAR_PORT": str(port)})
    assert done.returncode != 0
    assert done.stderr.strip() == f"error: port {port} is in use; set HANGAR_PORT"
    assert not (server.home / "config" / "hangar" / "client.toml").exists()


def test_admin_beside_a_running_server_names_its_data_dir(live_server: LiveServer) -> None:
    done = live_server.hangar("admin", "keypair", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert live_server.access_key in done.stdout
    assert done.stderr.strip() == f"hangar admin: data dir {live_server.data_dir}"


def test_admin_refuses_a_data_dir_that_does_not_exist(live_server: LiveServer) -> None:
    missing = live_server.home / "no-such-dir"
    done = live_server.hangar("admin", "keypair", "list", HANGAR_DATA_DIR=str(missing))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"no Hangar data dir at {missing}" in done.stderr
    assert not missing.exists()
