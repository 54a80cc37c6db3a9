"""Service apps in container images on the real bubblewrap runtime: the host's sshd and web
terminal brought into an image without them, the image's own shell (bash, else sh, else
Hangar's), a user's port, the image config's User, and batch steps without /bin/bash."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect

from hangar.agent.models import BatchSteps, ImageRequest
from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from hangar.agent.services.streams import ProcessStream, SocketStream
from tests.support.agent_node import (
    collect,
    ends,
    image_kernel,
    make_node,
    request,
    running_node,
    text,
)
from tests.support.oci_images import (
    Entry,
    ImageBuild,
    base_dirs,
    closure,
    file,
    host_files,
    other_python,
    other_python_files,
    python_files,
    shell_rootfs,
    symlink,
)
from tests.support.registry import Registry, registry_holding

pytestmark = [
    pytest.mark.skipif(shutil.which("ssh") is None, reason="the OpenSSH client is not installed"),
    pytest.mark.skipif(not Path("/usr/sbin/sshd").exists(), reason="openssh-server missing"),
]
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes",
               "-o", "LogLevel=ERROR")  # fmt: skip
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1001:App:/home/app:/bin/sh\n"


def _programs(*names: str) -> list[Entry]:
    return host_files(closure([f"/usr/bin/{name}" for name in names]))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """img/sh (dash as /bin/sh, no bash, a User), img/none (no shell at all), img/py, and
    img/other-py (another Python version than the host's, where this machine has one)."""
    users = [file("etc/passwd", PASSWD), file("etc/group", "root:x:0:\napp:x:1001:\n"),
             Entry("srv", "dir", mode=0o755, uid=1001, gid=1001)]  # fmt: skip
    dash = [*base_dirs(), *_programs("dash", "cat", "ls", "id", "whoami", "stat"),
            symlink("usr/bin/sh", "dash"), *users]  # fmt: skip
    bare = [*base_dirs(), *_programs("cat", "env")]
    images = {
        "img/sh:latest": ImageBuild([dash], user="app", working_dir="/srv"),
        "img/none:latest": ImageBuild([bare], cmd=["/usr/bin/env"]),
        "img/py:latest": ImageBuild([shell_rootfs(), python_files()]),
    }
    other = other_python()
    if other is not None:
        images["img/other-py:latest"] = ImageBuild(
            [shell_rootfs(), other_python_files(other)], compression="zstd"
        )
    yield from registry_holding(tmp_path_factory, images)


@pytest.fixture
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    async with running_node(runtime, data_dir) as node:
        yield node


async def _run(node: Node, kernel_id: uuid.UUID, command: str) -> tuple[str, int | None]:
    records = await collect(node, kernel_id, BatchSteps(exec=command))
    return text(records, "stdout") + text(records, "stderr"), ends(records)[-1][1]


async def _pipe(stream: SocketStream | ProcessStream, writer: asyncio.StreamWriter) -> None:
    while data := await stream.read():
        writer.write(data)
        await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def _forward(node: Node, kernel_id: uuid.UUID, app: str) -> AsyncIterator[int]:
    """A loopback port whose connections reach ``app`` (what the app proxy does)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = await node.open_app(kernel_id, app)
        back = asyncio.create_task(_pipe(stream, writer))
        try:
            while data := await reader.read(65536):
                await stream.write(data)
            await back
        finally:
            back.cancel()
            await stream.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def _ssh(port: int, key: Path, command: str) -> tuple[str, int]:
    proc = await asyncio.create_subprocess_exec(
        "ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(port), "work@127.0.0.1", command,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode(), proc.returncode or 0


def _key(node: Node, kernel_id: uuid.UUID, tmp_path: Path) -> Path:
    key = tmp_path / "id_container"
    shutil.copy(node.scratch_root / str(kernel_id) / "id_container", key)
    key.chmod(0o600)
    return key


async def test_sshd_runs_in_an_image_without_it(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    kernel_id = await image_kernel(node, registry.host, "sh")
    assert (await _run(node, kernel_id, "ls /usr/sbin/sshd"))[1] != 0
    key = _key(node, kernel_id, tmp_path)
    async with _forward(node, kernel_id, "sshd") as port:
        out, code = await _ssh(port, key, "echo $0; cat /etc/os-release")
    assert (out, code) == ("sh\nID=hangar-test\n", 0)


async def test_the_web_terminal_and_the_shared_terminal_use_the_images_shell(
    node: Node, registry: Registry
) -> None:
    kernel_id = await image_kernel(node, registry.host, "sh")
    assert "ttyd" in node.services.apps(str(kernel_id))
    async with (
        _forward(node, kernel_id, "ttyd") as port,
        ws_connect(f"ws://127.0.0.1:{port}/websocket") as ws,
    ):
        await ws.send(json.dumps(["stdin", "echo shell=$0; cat /etc/os-release\r"]))
        seen = ""
        async with asyncio.timeout(30):
            while "ID=hangar-test" not in seen:
                message = json.loads(await ws.recv())
                seen += message[1] if message[0] == "stdout" else ""
    assert "shell=/bin/sh" in seen
    client = await node.open_terminal(kernel_id)
    await client.write(b"echo pty=$0\n")
    seen = ""
    async with asyncio.timeout(30):
        while "pty=/bin/sh" not in seen:
            seen += (await client.read()).decode(errors="replace")
    await client.close()


async def test_a_users_http_server_in_an_image_is_reached_through_its_port(
    node: Node, registry: Registry
) -> None:
    kernel_id = await image_kernel(node, registry.host, "py")
    server = await node.runtime.run(str(kernel_id), ["python3", "-m", "http.server", "8080"])
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    stream = await node.connect_port(kernel_id, 8080)
                    break
                except Exception:  # noqa: BLE001 - not listening yet
                    await asyncio.sleep(0.1)
        await stream.write(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        while data := await stream.read():
            answer += data
        await stream.close()
    finally:
        server.kill()
    assert answer.startswith(b"HTTP/1.0 200") and b"id_container" in answer


async def test_batch_steps_run_with_sh_and_the_images_user_is_known(
    node: Node, registry: Registry
) -> None:
    kernel_id = await image_kernel(node, registry.host, "sh")
    command = 'echo $0; whoami; test "$(id -u app)" = "$(id -u)" && echo x >/srv/mine && echo ok'
    out, code = await _run(node, kernel_id, command)
    assert (out.splitlines(), code) == (["/bin/sh", "work", "ok"], 0)


async def test_a_bootstrap_script_runs_in_an_image_without_bash(
    node: Node, registry: Registry
) -> None:
    image = ImageRequest(f"{registry.host}/img/sh:latest", insecure=True)
    creation = request(image=image, bootstrap_script="echo prepared > ready.txt")
    await node.create_kernel(creation)
    out, code = await _run(node, creation.kernel_id, "cat ready.txt")
    assert (out, code) == ("prepared\n", 0)


async def test_an_image_without_any_shell_still_runs_commands_and_apps(
    node: Node, registry: Registry, tmp_path: Path
) -> None:
    kernel_id = await image_kernel(node, registry.host, "none")
    out, code = await _run(node, kernel_id, 'cat /etc/os-release && echo "$HOME"')
    assert (out, code) == ("ID=hangar-test\n/home/work\n", 0)
    records = await collect(node, kernel_id, BatchSteps(exec="exit 3"))
    assert ends(records)[-1] == ("finished", 3)


async def test_batch_mode_runs_an_images_python_of_another_version(
    node: Node, registry: Registry
) -> None:
    """(Query mode in such an image: test_agent_image_stdlib_kernel.py.)"""
    other = other_python()
    if other is None:
        pytest.skip("no Python of another version than the host's here")
    kernel_id = await image_kernel(node, registry.host, "other-py")
    version = ".".join(other.name.split(".")[:2])
    out, code = await _run(node, kernel_id, "python3 -c 'import sys; print(sys.version[:4])'")
    assert (out, code) == (f"{version}\n", 0)


async def test_an_unprivileged_runtime_runs_as_the_images_user(
    make_runtime: Callable[..., BubblewrapRuntime], data_dir: Path, registry: Registry
) -> None:
    """Where a user namespace maps ids (an agent that is not root; here root told not to use
    its rights), the image config's User is the sandbox's uid: its name, its files."""
    node = make_node(make_runtime(privileged=False), data_dir)
    try:
        kernel_id = await image_kernel(node, registry.host, "sh")
        command = "id -u; id -un; whoami; echo x > /srv/mine && stat -c %U /srv/mine /home/work"
        out, code = await _run(node, kernel_id, command)
        assert (out.splitlines(), code) == (["1001", "app", "app", "app", "app"], 0)
    finally:
        for kernel in node.kernel_ids():
            await node.destroy_kernel(kernel)
        await node.settle()
