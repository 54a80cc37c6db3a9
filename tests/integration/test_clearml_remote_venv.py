"""A queued task's requirements go into a venv in its session, from the wheels every session
shares read-only (pip offline here); a requirement that cannot be installed fails the task."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_clearml_remote import FINAL, SDK_SITE, wait_status
from tests.support.clearml import ClearmlApi
from tests.support.live import LiveServer

pytestmark = pytest.mark.integration

JOB = """
import venvpkg
from clearml import Task
task = Task.init()
print("value", venvpkg.VALUE)
"""


def build_wheel(folder: Path) -> Path:
    source = folder / "pkg"
    (source / "venvpkg").mkdir(parents=True)
    (source / "venvpkg" / "__init__.py").write_text("VALUE = 42\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "venvpkg"\nversion = "1.0"\n'
    )
    wheels = folder / "wheels"
    subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)], check=True)  # fmt: skip
    return wheels


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("venv")
    env = {
        "HANGAR_EXECUTOR_SDK_PATH": str(SDK_SITE),
        "HANGAR_EXECUTOR_WHEEL_DIR": str(build_wheel(home)),
        "HANGAR_EXECUTOR_PIP_OFFLINE": "1",
    }
    live = LiveServer(home=home, database_url=f"sqlite+aiosqlite:///{home}/h.db", extra_env=env)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def run_task(api: ClearmlApi, pip: str) -> tuple[dict[str, object], list[str]]:
    script = {"entry_point": "job.py", "diff": JOB, "requirements": {"pip": pip}}
    task_id = api.call("tasks.create", name="with requirements", type="training",
                       script=script)["id"]  # fmt: skip
    api.call("tasks.enqueue", task=task_id, queue_name="default")
    task = wait_status(api, task_id, FINAL, timeout=180)
    log = [
        e["msg"] for e in api.call("events.get_task_log", task=task_id, batch_size=500)["events"]
    ]
    return task, log


def test_requirements_go_into_a_venv_from_the_shared_wheels(server: LiveServer) -> None:
    api = ClearmlApi.of(server)
    task, log = run_task(api, "clearml == 2.1.12\nvenvpkg==1.0\n")
    assert task["status"] == "completed", (task, log)
    assert "value 42" in log
    assert any(m.startswith("[hangar] environment ready in") for m in log), log
    api.close()


def test_a_requirement_that_cannot_be_installed_fails_the_task(server: LiveServer) -> None:
    api = ClearmlApi.of(server)
    task, log = run_task(api, "no-such-package==9.9\n")
    assert task["status"] == "failed", (task, log)
    assert any("pip install failed" in m for m in log), log
    api.close()
