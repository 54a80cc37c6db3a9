"""A running session's memory as the clients show it: the figure now and the peak apart.

After a cell runs a short-lived process that holds 400 MiB, ``backend.ai session info``
shows the session's live ``mem`` stat with its peak (``stats.max``) above 400 MiB and its
current figure far below; ``hangar ps --detail`` shows the same as Used Memory and Max Used
Memory; ``backend.ai rm --stats`` prints the peak.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import LiveServer

MIB = 1 << 20
SPIKE_MIB = 400


def _memory_cgroups() -> bool:
    """Whether the sandbox can measure current memory here (a writable memory cgroup)."""
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        return os.access(v1, os.W_OK)
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    return controllers.exists() and "memory" in controllers.read_text().split()


pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir(),
        reason="python3-ipykernel is not installed",
    ),
    pytest.mark.skipif(not _memory_cgroups(), reason="no writable memory cgroup here"),
]

SPIKE = textwrap.dedent(
    f"""
    import sys
    from ai.backend.client.session import Session

    code = (
        "import subprocess, sys\\n"
        "held = 'b = b\\"x\\" * ({SPIKE_MIB} << 20)'\\n"
        "subprocess.run([sys.executable, '-c', held], check=True)\\n"
        "print('spiked')\\n"
    )
    with Session() as session:
        kernel = session.ComputeSession('memstat')
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


def live_mem(server: LiveServer, sid: str) -> dict[str, Any]:
    shown = json.loads(ok(server.official("--output", "json", "session", "info", sid)))
    (item,) = shown["items"]
    (container,) = item["containers"]
    mem: dict[str, Any] = json.loads(container["live_stat"])["mem"]
    return mem


def test_used_memory_is_the_figure_now_and_the_peak_is_kept_apart(
    live_server: LiveServer,
) -> None:
    done = live_server.official("start", "-t", "memstat", "python")
    started = ok(done) + done.stderr
    sid = re.search(r"Session ID ([0-9a-f-]{36})", started)
    assert sid, started
    assert ok(live_server.official_python(SPIKE)) == "spiked\n"

    mem = live_mem(live_server, sid.group(1))
    assert mem["unit_hint"] == "bytes"
    peak, now = int(mem["stats.max"]), int(mem["current"])
    assert peak >= SPIKE_MIB * MIB, mem
    assert now < peak - SPIKE_MIB * MIB // 2, mem  # the process that held it is gone

    listed = json.loads(ok(live_server.hangar("--output", "json", "ps", "--detail")))
    (item,) = listed["items"]
    used, max_used = float(item["used_memory"]), float(item["max_used_memory"])
    assert max_used >= SPIKE_MIB and used < max_used - SPIKE_MIB / 2, item

    removed = ok(live_server.official("rm", "--stats", "memstat"))
    row = re.search(r"^mem\s+([\d,.]+)\s+(\w+)", removed, re.M)
    assert row and row.group(2) == "MiB" and float(row.group(1).replace(",", "")) >= SPIKE_MIB, (
        removed
    )
