"""The sandbox when the agent is not root: bwrap maps the agent's uid to the work user in a
user namespace. Files the agent itself can read must still be hidden by the masks.

Runs a small agent as uid 4242 through ``setpriv`` (so the test needs root), with the host's
``/usr/bin/python3`` importing this source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import hangar

AGENT_UID = 4242
PYTHON = "/usr/bin/python3"
SOURCE = str(Path(hangar.__file__).resolve().parents[1])
AGENT = """
import asyncio, json, sys
from pathlib import Path
from hangar.agent.runtimes.base import KernelSpec
from hangar.agent.runtimes.bubblewrap import BubblewrapConfig, BubblewrapRuntime

data = Path(sys.argv[1])

async def main():
    config = BubblewrapConfig(state_dir=data / "agent", hidden_paths=(data,))
    runtime = BubblewrapRuntime.start(config)
    await runtime.create(KernelSpec("u1", data / "scratch" / "u1"))
    script = f"id -u; cat {data}/server.key; grep -E '^CapEff' /proc/self/status; touch f"
    handle = await runtime.run("u1", ["/bin/sh", "-c", script])
    out, err, status = await handle.communicate()
    owner = (data / "scratch" / "u1" / "f").stat().st_uid
    await runtime.destroy("u1", remove_scratch=True)
    print(json.dumps({"privileged": runtime.options.privileged, "mode": runtime.limit_mode,
                      "out": out.decode(), "err": err.decode(), "owner": owner}))

asyncio.run(main())
"""


def as_agent(*argv: str) -> subprocess.CompletedProcess[str]:
    setpriv = ["setpriv", f"--reuid={AGENT_UID}", f"--regid={AGENT_UID}", "--clear-groups"]
    env = {"PYTHONPATH": SOURCE, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [*setpriv, "--", *argv], capture_output=True, text=True, env=env, cwd="/", timeout=60
    )


@pytest.fixture
def agent_data_dir(data_dir: Path) -> Path:
    if os.geteuid() != 0 or shutil.which("bwrap") is None or not os.access(PYTHON, os.X_OK):
        pytest.skip("needs root (to become a non-root agent), bwrap and /usr/bin/python3")
    probe = as_agent(PYTHON, "-c", "import hangar.agent.runtimes.bubblewrap")
    if probe.returncode != 0:
        pytest.skip(f"the source tree is not readable by uid {AGENT_UID}: {probe.stderr[-300:]}")
    (data_dir / "server.key").chmod(0o600)
    for path in [data_dir, *data_dir.rglob("*")]:
        os.chown(path, AGENT_UID, AGENT_UID)
    return data_dir


def test_non_root_agent_maps_work_user_and_hides_its_own_files(agent_data_dir: Path) -> None:
    secret = (agent_data_dir / "server.key").read_text()
    result = as_agent(PYTHON, "-c", AGENT, str(agent_data_dir))
    if result.returncode != 0 and "does not start" in result.stderr:
        pytest.skip(f"unprivileged user namespaces are unavailable: {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["privileged"] is False
    assert report["out"].splitlines() == ["1000", "CapEff:\t0000000000000000"]
    assert secret not in report["out"] and "No such file or directory" in report["err"]
    assert report["owner"] == AGENT_UID  # the work user's files belong to the agent on the host
