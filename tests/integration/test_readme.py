"""The README's examples, read from README.md itself so that the two cannot drift apart."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.live import ROOT, LiveServer

pytestmark = pytest.mark.integration


def indented_blocks(text: str) -> list[str]:
    """The README's code blocks: runs of lines indented by four spaces, dedented."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") or (current and not line.strip()):
            current.append(line[4:])
            continue
        if current:
            blocks.append(current)
        current = []
    if current:
        blocks.append(current)
    return ["\n".join(block).strip() + "\n" for block in blocks]


def readme_block(containing: str) -> str:
    found = [b for b in indented_blocks((ROOT / "README.md").read_text()) if containing in b]
    assert len(found) == 1, f"README.md has {len(found)} code blocks with {containing!r}"
    return found[0]


def test_indented_blocks_are_read_whole() -> None:
    text = "intro\n\n    a = 1\n\n    b = 2\ntext\n\n    c"
    assert indented_blocks(text) == ["a = 1\n\nb = 2\n", "c\n"]


@pytest.mark.backends("sqlite")
def test_the_readme_sdk_example_runs(live_server: LiveServer, tmp_path: Path) -> None:
    snippet = readme_block("from hangar.client import Session")
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        env=live_server.server_env(),  # the client config the server wrote, as on a laptop
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "42\n"
    assert live_server.sessions_alive() == []  # the example cleans up after itself


@pytest.mark.backends("sqlite")
@pytest.mark.usefixtures("official_client")
def test_the_readme_invite_example_works(live_server: LiveServer) -> None:
    lines = [
        line.split("#", 1)[0].strip()
        for line in readme_block("backend.ai vfolder invite").splitlines()
    ]
    *as_admin, as_bob = [shlex.split(line) for line in lines if line]
    assert as_bob == ["backend.ai", "vfolder", "invitations"]
    done = live_server.official("vfolder", "create", "mydata1", "local")
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = []
    for argv in as_admin:
        done = live_server.official(*argv[1:])
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
        outputs.append(done.stdout)
    keys = dict(re.findall(r"^(access_key|secret_key)\s+(\S+)$", "".join(outputs), re.M))
    bob = {"BACKEND_ACCESS_KEY": keys["access_key"], "BACKEND_SECRET_KEY": keys["secret_key"]}
    done = live_server.official(*as_bob[1:], input="1\na\n", **bob)
    assert "You can now access vfolder mydata1" in done.stdout, done.stdout + done.stderr
    listed = live_server.official("vfolder", "list", **bob).stdout
    assert re.search(r"mydata1 .* ro ", listed), listed


@pytest.mark.backends("sqlite")
def test_the_readme_clearml_example_runs(live_server: LiveServer) -> None:
    from tests.support.clearml import CLEARML_PYTHON

    setup = readme_block("export CLEARML_CONFIG_FILE")
    script = live_server.home / "track.py"
    script.write_text(readme_block('task_name="first run"'))
    # As on a laptop: the server wrote its client files under ~/.config/hangar.
    (live_server.home / ".config").symlink_to(live_server.home / "config")
    env = {k: v for k, v in live_server.server_env().items() if not k.startswith("CLEARML_")}
    env.pop("XDG_CONFIG_HOME")
    done = subprocess.run(
        ["bash", "-c", f"{setup}\nexec {CLEARML_PYTHON} {script}"],
        env=env, cwd=live_server.home, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loss 0.02" in done.stdout
    outputs = []
    for line in readme_block("hangar experiments ls").splitlines():
        argv = shlex.split(line)
        assert argv[0] == "hangar"
        shown = live_server.hangar(*argv[1:])
        assert shown.returncode == 0, f"{argv}: {shown.stdout}{shown.stderr}"
        outputs.append(shown.stdout)
    listed, details, scalars = outputs
    assert "first run" in listed and "completed" in listed
    assert "lr" in details and "0.1" in details
    assert scalars.count("train") == 3 and "0.02" in scalars


def test_the_readme_queue_example_runs(tmp_path: Path) -> None:
    from tests.integration.test_clearml_remote import executor_env
    from tests.support.clearml import CLEARML_PYTHON, ClearmlApi

    server = LiveServer(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
                        extra_env={"HANGAR_EXECUTOR_SDK_PATH": executor_env()[
                            "HANGAR_EXECUTOR_SDK_PATH"]})  # fmt: skip
    server.start()
    try:
        setup = readme_block("export CLEARML_CONFIG_FILE")
        (tmp_path / "train.py").write_text(readme_block("task = Task.init()  # on Hangar"))
        (tmp_path / "enqueue.py").write_text(
            readme_block('Task.enqueue(task, queue_name="default")')
        )
        (tmp_path / ".config").symlink_to(tmp_path / "config")
        env = {k: v for k, v in server.server_env().items() if not k.startswith("CLEARML_")}
        env.pop("XDG_CONFIG_HOME")
        done = subprocess.run(
            ["bash", "-c", f"{setup}\nexec {CLEARML_PYTHON} enqueue.py"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        task_id = done.stdout.strip().splitlines()[-1]
        for line in readme_block("hangar queue show default").splitlines():
            argv = shlex.split(line.split("#", 1)[0])
            run = server.hangar if argv[0] == "hangar" else server.official
            shown = run(*argv[1:])
            assert shown.returncode == 0, f"{argv}: {shown.stdout}{shown.stderr}"
        api = ClearmlApi.of(server)
        deadline = time.monotonic() + 120
        while (task := api.call("tasks.get_all", id=[task_id])["tasks"][0])["status"] not in (
            "completed",
            "failed",
            "stopped",
        ):
            assert time.monotonic() < deadline, task
            time.sleep(0.3)
        assert task["status"] == "completed", task
        log = api.call("events.get_task_log", task=task_id)["events"]
        assert any(e["msg"] == "trained with lr 0.05" for e in log), log
        shown = server.hangar("experiments", "show", "queued run")
        assert "completed" in shown.stdout, shown.stdout + shown.stderr
        api.close()
    finally:
        server.stop()


@pytest.mark.backends("sqlite")
@pytest.mark.usefixtures("official_client")
def test_the_readme_images_example_runs(live_server: LiveServer, tmp_path: Path) -> None:
    """Every line of the README's images block, against a private loopback registry (its
    host and scheme put in for registry.example.com:5000 and https)."""
    from tests.support.live import BAI_CLI, HANGAR
    from tests.support.oci_images import ImageBuild, Layout, python_files, shell_rootfs
    from tests.support.registry import start_registry

    block = readme_block("hangar image pull")
    with start_registry(tmp_path / "registry", username="team", password="pw-7") as registry:
        layout = Layout(tmp_path / "layout")
        build = ImageBuild([shell_rootfs(), python_files()], env=["PATH=/usr/bin:/bin"])
        layout.tag(layout.image(build), "py")
        registry.push(layout.root, "team/python:3.11", tag="py")
        (tmp_path / "main.py").write_text("import sys\nprint('in the image', sys.prefix)\n")
        script = block.replace("https://", "http://").replace(
            "registry.example.com:5000", registry.host
        )
        paths = f"{BAI_CLI.parent}:{HANGAR.parent}"
        env = {**live_server.client_env(), "REGISTRY_PASSWORD": "pw-7"}
        env["PATH"] = f"{paths}:{env.get('PATH', '/usr/bin:/bin')}"
        outputs = []
        for line in script.splitlines():
            done = subprocess.run(["bash", "-c", line], env=env, cwd=tmp_path,
                                  capture_output=True, text=True, timeout=180)  # fmt: skip
            assert done.returncode == 0, f"{line}: {done.stdout}{done.stderr}"
            outputs.append(done.stdout)
    assert "team/python" in outputs[4]  # admin image list
    assert "in the image /usr" in outputs[-1]
    assert live_server.sessions_alive() == []
