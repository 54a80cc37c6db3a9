"""A session's scratch disk and the server's own disk, as the official client sees them.

A session writing past its disk (HANGAR_SESSION_DEFAULT_DISK) gets ENOSPC, its next cell
works, and ``session info`` shows the disk's size as the scratch figure's capacity. A server
whose data dir has less free than HANGAR_DISK_RESERVE refuses new sessions and uploads with
a message saying so, and keeps answering everything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangar.agent.runtimes.disk import ScratchDisks
from tests.support.live import LiveServer

MIB = 1 << 20

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir(),
        reason="python3-ipykernel is not installed",
    ),
]

FILL_THEN_WRITE = textwrap.dedent(
    """
    import sys
    from ai.backend.client.session import Session

    cells = [
        "import errno\\n"
        "try:\\n"
        "    with open('fill', 'wb') as f:\\n"
        "        for _ in range(200):\\n"
        "            f.write(b'x' * (1 << 20))\\n"
        "except OSError as e:\\n"
        "    print('refused', errno.errorcode[e.errno])\\n",
        "import os; os.remove('fill'); open('small.txt', 'w').write('ok'); print('usable')\\n",
    ]
    with Session() as session:
        kernel = session.ComputeSession('diskfill')
        for code in cells:
            run_id, mode, out = None, 'query', ''
            while True:
                result = kernel.execute(run_id, code, mode=mode)
                run_id, mode, code = result['runId'], 'continue', ''
                out += ''.join(r[1] for r in result.get('console', []) if r[0] == 'stdout')
                if result['status'] == 'finished':
                    break
            print(out, end='')
    """
)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def serve(database_url: str, home: Path, **env: str) -> Iterator[LiveServer]:
    server = LiveServer(home=home, database_url=database_url, extra_env=env)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):  # sessions outlive the server: end them first
            for session in server.sessions_alive():
                server.official("rm", session["name"])
        server.stop()
        # Pre-started kernels are left for the next start to sweep; there is none here.
        disks = ScratchDisks(server.data_dir / "agent" / "disks", 1)
        for image in disks.images.glob("*.img"):
            disks.detach(image.stem)


@pytest.fixture
def small_disk_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"):
        pytest.skip("scratch disks need root and loop devices")
    yield from serve(database_url, tmp_path / "home", HANGAR_SESSION_DEFAULT_DISK="64m")


@pytest.fixture
def full_disk_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    yield from serve(database_url, tmp_path / "home", HANGAR_DISK_RESERVE="100000t")


def test_a_session_writing_past_its_disk_gets_enospc_and_goes_on(
    small_disk_server: LiveServer,
) -> None:
    server = small_disk_server
    done = server.official("start", "-t", "diskfill", "python")
    sid = re.search(r"Session ID ([0-9a-f-]{36})", ok(done) + done.stderr)
    assert sid, done.stdout + done.stderr
    out = ok(server.official_python(FILL_THEN_WRITE))
    assert out.splitlines() == ["refused ENOSPC", "usable"]
    shown = json.loads(ok(server.official("--output", "json", "session", "info", sid.group(1))))
    (item,) = shown["items"]
    (container,) = item["containers"]
    scratch = json.loads(container["live_stat"])["io_scratch_size"]
    assert 32 * MIB < int(scratch["capacity"]) <= 64 * MIB, scratch
    assert "diskfill" in ok(server.official("ps"))  # the server keeps answering
    ok(server.official("rm", "diskfill"))


def test_a_session_may_ask_for_its_own_disk_size(small_disk_server: LiveServer) -> None:
    server = small_disk_server
    done = server.official(
        "start", "-t", "bigdisk", "--resource-opts", "disk=128m", "-r", "mem=256m", "python"
    )
    sid = re.search(r"Session ID ([0-9a-f-]{36})", ok(done) + done.stderr)
    assert sid, done.stdout + done.stderr
    shown = json.loads(ok(server.official("--output", "json", "session", "info", sid.group(1))))
    (container,) = shown["items"][0]["containers"]
    scratch = json.loads(container["live_stat"])["io_scratch_size"]
    assert 96 * MIB < int(scratch["capacity"]) <= 128 * MIB, scratch
    refused = server.official("start", "-t", "nodisk", "--resource-opts", "disk=lots", "python")
    assert refused.returncode != 0 and "disk: invalid size" in refused.stdout + refused.stderr


def test_a_server_short_of_disk_refuses_sessions_and_uploads(
    full_disk_server: LiveServer, tmp_path: Path
) -> None:
    server = full_disk_server
    refused = server.official("start", "-t", "nodisk", "python")
    assert refused.returncode != 0
    assert "disk is almost full" in refused.stdout + refused.stderr
    ok(server.official("vfolder", "create", "data"))  # no bytes: still allowed
    (tmp_path / "f.txt").write_text("hello")
    refused = server.official("vfolder", "upload", "data", "f.txt", cwd=tmp_path)
    assert "disk is almost full" in refused.stdout + refused.stderr
    assert "data" in ok(server.official("vfolder", "list"))
