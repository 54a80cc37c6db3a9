"""Container images through the official Backend.AI client: an administrator adds a private
registry on loopback (``admin etcd set``), rescans it (labels, sizes, digests), and seed
002's batch loop and ``backend.ai run`` execute in the pulled image's own Python."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.test_bai_apps import app_proxy, download_key, ssh
from tests.support.live import BAI_PYTHON, LiveServer
from tests.support.oci_images import (
    ImageBuild,
    file,
    other_python,
    other_python_files,
    other_python_stdlib,
    python_files,
    shell_rootfs,
    symlink,
)
from tests.support.registry import Registry, registry_holding

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("official_client"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]
USER, PASSWORD = "team", "registry-pw-1"
LABELS = {
    "ai.backend.kernelspec": "1",
    "ai.backend.features": "batch query uid-match",
    "ai.backend.base-distro": "debian12",
    "ai.backend.runtime-type": "python",
    "ai.backend.runtime-path": "/usr/bin/python3",
    "ai.backend.resource.min.cpu": "1",
    "ai.backend.resource.min.mem": "256m",
    "ai.backend.service-ports": "",
}
QUERY_LOOP = """
import sys
from ai.backend.client.session import Session

with Session() as session:
    kern = session.ComputeSession.get_or_create(sys.argv[1])
    code = 'import time, sys\\nprint("start", sys.prefix, flush=True)\\n'
    code += 'time.sleep(3)\\nprint("done")'
    mode, run_id = 'query', None
    while True:
        result = kern.execute(run_id, code, mode=mode)
        run_id = result['runId']
        for rec in result.get('console', []):
            if rec[0] in ('stdout', 'stderr'):
                print(rec[1], end='')
        if result['status'] == 'finished':
            break
        mode, code = 'continue', ''
    kern.destroy()
"""
BATCH_LOOP = """
import sys
from ai.backend.client.session import Session

with Session() as session:
    kern = session.ComputeSession.get_or_create(sys.argv[1])
    kern.upload(['mycode.py'])
    mode, run_id, code = 'batch', None, ''
    opts = {'exec': 'python mycode.py arg1 arg2'}
    while True:
        result = kern.execute(run_id, code, mode=mode, opts=opts)
        opts.clear()
        run_id = result['runId']
        for rec in result.get('console', []):
            if rec[0] in ('stdout', 'stderr'):
                print(rec[1], end='')
        if result['status'] == 'finished':
            break
        mode = 'continued'
    kern.destroy()
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    check = 'test "$(pwd)" = /app && test "$GREETING" = hi && test -f job.sh'
    rng = random.Random(16)
    big = [file(f"big/{n}.bin", rng.randbytes(8 << 20)) for n in range(24)]
    escape = [symlink("etc/evil", "../../../../../../../../etc")]
    images = {
        "team/python:3.11": ImageBuild([shell_rootfs(), python_files()], labels=LABELS,
                                       env=["PATH=/usr/bin:/bin", "IMAGE_NAME=team-python"]),
        "team/job:1": ImageBuild([shell_rootfs(), [file("app/job.sh", "exit 0\n")]],
                                 env=["PATH=/usr/bin:/bin", "GREETING=hi"], working_dir="/app",
                                 entrypoint=["/bin/sh", "-c"], cmd=[check]),
        "team/big:1": ImageBuild([shell_rootfs(), big]),
        "team/escape:1": ImageBuild([shell_rootfs(), escape]),
    }  # fmt: skip
    other = other_python()
    if other is not None:  # as python.org's images: /usr/local, no ipykernel, no labels
        layers = [shell_rootfs(), other_python_files(other), other_python_stdlib(other)]
        build = ImageBuild(layers, compression="zstd", env=["PATH=/usr/local/bin:/usr/bin:/bin"])
        images["team/python-other:1"] = build
    yield from registry_holding(tmp_path_factory, images, username=USER, password=PASSWORD)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def add_registry(live_server: LiveServer, registry: Registry) -> None:
    key = f"config/docker/registry/{registry.host}"
    value = f'{{"": "http://{registry.host}", "username": "{USER}", "password": "{PASSWORD}"}}'
    ok(live_server.official("admin", "etcd", "set", key, value))
    ok(live_server.official("admin", "image", "rescan", "-r", registry.host))


SERVE_8080 = """
import pathlib, subprocess, sys, time, urllib.request
pathlib.Path("index.html").write_text("served from the image")
subprocess.Popen([sys.executable, "-m", "http.server", "8080"],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:8080/"); break
    except OSError:
        time.sleep(0.1)
print("serving")
"""


def test_an_image_sessions_sshd_and_http_port_answer_through_the_app_proxy(
    live_server: LiveServer, registry: Registry, tmp_path: Path
) -> None:
    add_registry(live_server, registry)
    image = f"{registry.host}/team/python:3.11"
    ok(live_server.official("start", "-t", "img-web", "--preopen", "8080", image))
    assert "serving" in ok(live_server.official("run", "-t", "img-web", "-c", SERVE_8080, image))
    with app_proxy(live_server, "img-web", "8080") as port:
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        assert page.status_code == 200 and page.text == "served from the image"
    key = download_key(live_server, "img-web", tmp_path / "keys")
    with app_proxy(live_server, "img-web", "sshd") as port:
        done = ssh(port, key, "cat /etc/os-release; echo $IMAGE_NAME; ls /usr/sbin/sshd")
    assert done.stdout == "ID=hangar-test\nteam-python\n", done.stdout + done.stderr
    assert "No such file" in done.stderr


def test_a_private_registrys_image_runs_seed_002s_batch_loop(
    live_server: LiveServer, registry: Registry, tmp_path: Path
) -> None:
    key = f"config/docker/registry/{registry.host}"
    ok(live_server.official("admin", "etcd", "set", key, f"http://{registry.host}"))
    ok(live_server.official("admin", "etcd", "set", f"{key}/username", USER))
    ok(live_server.official("admin", "etcd", "set", f"{key}/password", PASSWORD))
    shown = ok(live_server.official("admin", "etcd", "get", key, "--prefix"))
    assert PASSWORD not in shown and USER in shown
    ok(live_server.official("admin", "image", "rescan", "-r", registry.host))
    listed = ok(live_server.official("admin", "image", "list"))
    assert "team/python" in listed and "sha256:" in listed
    image = f"{registry.host}/team/python:3.11"

    (tmp_path / "mycode.py").write_text(
        "import os, sys\nprint('args', sys.argv[1:], os.environ['IMAGE_NAME'], sys.version[:4])\n"
    )
    done = ok(subprocess.run(
        [str(BAI_PYTHON), "-c", BATCH_LOOP, image], cwd=tmp_path, env=live_server.client_env(),
        capture_output=True, text=True, timeout=180,
    ))  # fmt: skip
    assert "args ['arg1', 'arg2'] team-python 3.11" in done
    assert live_server.sessions_alive() == []

    done = ok(subprocess.run(
        [str(BAI_PYTHON), "-c", QUERY_LOOP, image], cwd=tmp_path, env=live_server.client_env(),
        capture_output=True, text=True, timeout=180,
    ))  # fmt: skip
    assert "start /usr\ndone\n" in done

    run = ok(live_server.official("run", "--rm", "--exec", "python mycode.py x", image,
                                  "mycode.py", cwd=tmp_path))  # fmt: skip
    assert "args ['x'] team-python" in run


def test_seed_002s_query_loop_runs_in_an_image_python_without_ipykernel(
    live_server: LiveServer, registry: Registry, tmp_path: Path
) -> None:
    """Nothing installed in the image: Hangar's standard-library kernel runs its Python."""
    other = other_python()
    if other is None:
        pytest.skip("no Python of another version than the host's here to build an image from")
    add_registry(live_server, registry)
    image = f"{registry.host}/team/python-other:1"
    done = ok(subprocess.run(
        [str(BAI_PYTHON), "-c", QUERY_LOOP, image], cwd=tmp_path, env=live_server.client_env(),
        capture_output=True, text=True, timeout=180,
    ))  # fmt: skip
    assert "start /usr/local\ndone\n" in done
    code = "import sys\nprint(sys.version_info[:2])\n1 / 0"
    run = live_server.official("run", "--rm", "-c", code, image)
    major, minor = other.name.split(".")[:2]
    assert f"({major}, {minor})" in run.stdout and "ZeroDivisionError" in run.stdout + run.stderr
    assert live_server.sessions_alive() == []


def test_an_image_whose_layers_escape_is_refused(
    live_server: LiveServer, registry: Registry
) -> None:
    key = f"config/docker/registry/{registry.host}"
    value = f'{{"": "http://{registry.host}", "username": "{USER}", "password": "{PASSWORD}"}}'
    ok(live_server.official("admin", "etcd", "set", key, value))
    ok(live_server.official("admin", "image", "rescan", "-r", registry.host))
    done = live_server.official("start", "-t", "escape", f"{registry.host}/team/escape:1")
    assert "has an error during scheduling/startup" in done.stdout + done.stderr
    shown = ok(live_server.official("ps", "--status", "ERROR"))
    assert "escape" in shown and "points out of the image" in shown
    assert not Path("/etc/evil").exists()


def test_a_batch_session_without_a_command_runs_the_images_entrypoint(
    live_server: LiveServer, registry: Registry
) -> None:
    key = f"config/docker/registry/{registry.host}"
    value = f'{{"": "http://{registry.host}", "username": "{USER}", "password": "{PASSWORD}"}}'
    ok(live_server.official("admin", "etcd", "set", key, value))
    ok(live_server.official("admin", "image", "rescan", "-r", registry.host))
    image = f"{registry.host}/team/job:1"
    ok(live_server.official("start", "-t", "the-job", "--type", "batch", image))
    deadline = time.monotonic() + 60
    while True:
        listed = json.loads(ok(live_server.official("--output", "json", "ps", "--status", "ALL")))
        item = next(i for i in listed["items"] if i["name"] == "the-job")
        if item["status"] in ("TERMINATED", "ERROR") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert (item["status"], item["result"]) == ("TERMINATED", "SUCCESS"), item


def test_a_preparing_session_shows_its_pulls_progress(
    live_server: LiveServer, registry: Registry
) -> None:
    key = f"config/docker/registry/{registry.host}"
    value = f'{{"": "http://{registry.host}", "username": "{USER}", "password": "{PASSWORD}"}}'
    ok(live_server.official("admin", "etcd", "set", key, value))
    ok(live_server.official("admin", "image", "rescan", "-r", registry.host))
    body = {"image": f"{registry.host}/team/big:1", "clientSessionToken": "pull-watch",
            "enqueueOnly": True}  # fmt: skip
    created = live_server.signed("POST", "/session", body)
    assert created.status_code in (200, 201), created.text
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = live_server.signed("GET", "/session/pull-watch").json()
        seen.append((info["status"], info.get("statusInfo") or ""))
        if info["status"] not in ("PENDING", "SCHEDULED", "PREPARING", "PULLING"):
            break
        time.sleep(0.1)
    preparing = [text for status, text in seen if status == "PREPARING" and text]
    pattern = r"pulling \S+/team/big:1: [0-9.]+ of 19\d\.\d MiB \(\d+%\)"
    assert any(re.match(pattern, text) for text in preparing), seen
    assert seen[-1] == ("RUNNING", ""), seen[-1]
    live_server.signed("DELETE", "/session/pull-watch")
    deadline = time.monotonic() + 30
    while live_server.sessions_alive() and time.monotonic() < deadline:
        time.sleep(0.2)  # the kernel and its overlay are gone before the server stops
    assert live_server.sessions_alive() == []
