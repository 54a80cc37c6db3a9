"""ClearML's conventional ports: a server told HANGAR_CLEARML_API_PORT / _WEB_PORT /
_FILES_PORT also listens there, and the official SDK pointed at those three addresses
(as it derives them from an API on 8008: web 8080, files 8081) tracks, uploads and reads
back through them; a taken port stops the start with a line naming its setting."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.clearml import CLEARML_PYTHON, ClearmlApi, clearml_server, run_sdk
from tests.support.live import LiveServer
from tests.support.postgres import free_port

pytestmark = pytest.mark.integration

PORTS = {"api": free_port(), "web": free_port(), "files": free_port()}

SCRIPT = """
import json
import numpy as np
from clearml import Task

task = Task.init(project_name="ports", task_name="conventional")
task.upload_artifact("config", artifact_object={"lr": 0.1})
task.get_logger().report_image("img", "a", iteration=1, image=np.zeros((4, 4, 3), np.uint8))
task.flush(wait_for_uploads=True)
url = task.artifacts["config"].url
back = Task.get_task(task_id=task.id).artifacts["config"].get()
task.close()
print(json.dumps({"id": task.id, "url": url, "back": back}))
"""


@pytest.fixture(scope="module")
def ported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from clearml_server(
        tmp_path_factory.mktemp("ports"),
        extra_env={
            "HANGAR_CLEARML_API_PORT": str(PORTS["api"]),
            "HANGAR_CLEARML_WEB_PORT": str(PORTS["web"]),
            "HANGAR_CLEARML_FILES_PORT": str(PORTS["files"]),
        },
    )


def at(role: str) -> str:
    return f"http://127.0.0.1:{PORTS[role]}"


def test_the_sdk_works_through_the_conventional_ports(ported: LiveServer) -> None:
    done = run_sdk(ported, SCRIPT, CLEARML_API_HOST=at("api"), CLEARML_WEB_HOST=at("web"),
                   CLEARML_FILES_HOST=at("files"))  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["back"] == {"lr": 0.1}
    assert found["url"].startswith(at("files") + "/")
    api = ClearmlApi.of(ported)
    try:
        auth = {"Authorization": f"Bearer {api.token}"}
        key = found["url"].removeprefix(at("files") + "/")
        on_port = httpx.get(found["url"], headers=auth)
        on_main = httpx.get(f"{ported.endpoint}/files/{key}", headers=auth)
        assert on_port.status_code == on_main.status_code == 200
        assert json.loads(on_port.content) == {"lr": 0.1} and on_port.content == on_main.content
        task = httpx.get(f"{at('api')}/tasks.get_by_id", params={"task": found["id"]},
                         headers=auth)  # fmt: skip
        assert task.json()["data"]["task"]["name"] == "conventional"
        assert httpx.get(f"{at('web')}/healthz").status_code == 200
    finally:
        api.close()
    log = ported.log_path.read_text()
    assert f"files_server http://127.0.0.1:{PORTS['files']}" in log


def test_the_sdk_derives_these_ports_from_an_api_on_8008() -> None:
    """Why 8008/8080/8081: the SDK's own derivation, given only the API host."""
    code = (
        "from clearml.backend_api.session import Session\n"
        "print(Session.get_app_server_host(), Session.get_files_server_host())\n"
    )
    env = {"CLEARML_API_HOST": "http://127.0.0.1:8008", "HOME": "/nonexistent"}
    done = subprocess.run([str(CLEARML_PYTHON), "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.split() == ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]


def test_a_taken_port_stops_the_start_naming_its_setting(
    ported: LiveServer, tmp_path: Path
) -> None:
    other = LiveServer(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
                       extra_env={"HANGAR_CLEARML_FILES_PORT": str(PORTS["files"])})  # fmt: skip
    done = other.hangar("server")
    assert done.returncode == 1
    assert "HANGAR_CLEARML_FILES_PORT" in done.stdout + done.stderr
