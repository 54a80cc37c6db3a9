"""Query mode in images whose Python is not the host's and has no ipykernel, with nothing
installed in the image: Hangar's standard-library kernel runs in the image's own Python.

The images hold a pyenv-built Python (3.12 and 3.6 where this machine has them) at
/usr/local as python.org images do, with its standard library and no ipykernel, and no
/usr/bin/python3 (the interpreter a session asks for by default). Real bubblewrap, a real
registry on loopback, the agent's own Jupyter client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from hangar.agent.images.runner import query_refusal
from hangar.agent.models import ImageRequest, RunOutput
from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import image_kernel, make_node, request, running_node, text
from tests.support.oci_images import (
    ImageBuild,
    other_python,
    other_python_files,
    other_python_stdlib,
    shell_rootfs,
)
from tests.support.query_cells import cell, check_cell_timeout, check_completions, console, end
from tests.support.registry import Registry, registry_holding

VERSIONS = {"3.12": "3.1[2-9]*", "3.6": "3.6.*"}  # what a test image holds: pyenv's build


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """img/py-3.12 and img/py-3.6 (where this machine has those Pythons)."""
    images = {}
    for version, pattern in VERSIONS.items():
        prefix = other_python(pattern)
        if prefix is not None:
            layers = [shell_rootfs(), other_python_files(prefix), other_python_stdlib(prefix)]
            env = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
            images[f"img/py-{version}:latest"] = ImageBuild(layers, compression="zstd", env=env)
    yield from registry_holding(tmp_path_factory, images)


@pytest.fixture(params=sorted(VERSIONS))
def version(request: pytest.FixtureRequest) -> str:
    if other_python(VERSIONS[request.param]) is None:
        pytest.skip(f"no Python {request.param} on this machine to build an image from")
    return str(request.param)


@pytest.fixture
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    async with running_node(runtime, data_dir, interrupt_grace=1.0) as node:
        yield node


@pytest.fixture
async def kernel(node: Node, registry: Registry, version: str) -> uuid.UUID:
    fields = {"interpreter": "/usr/bin/python3", "memory_bytes": 512 << 20}
    return await image_kernel(node, registry.host, f"py-{version}", **fields)


async def test_cells_run_in_the_images_own_python_and_keep_their_state(
    node: Node, kernel: uuid.UUID, version: str
) -> None:
    first = await cell(node, kernel, "import sys\nx = 41\nprint(sys.version_info[:2], sys.prefix)")
    major, minor = version.split(".")
    assert console(first) == [("stdout", f"({major}, {minor}) /usr/local\n")]
    assert end(first) == ("finished", 0)
    assert text(await cell(node, kernel, "x + 1"), "stdout") == "42\n"  # a cell's value shows
    check = "import importlib.util, os\nprint(importlib.util.find_spec('ipykernel'), "
    check += "os.path.exists('/usr/bin/python3'), os.path.exists('/opt/hangar-runner'))"
    assert text(await cell(node, kernel, check), "stdout") == "None False False\n"
    failed = await cell(node, kernel, "def f():\n    return 1 / 0\nf()")
    assert end(failed) == ("finished", 0)
    assert failed[-1].text == "ZeroDivisionError: division by zero"
    trace = text(failed, "stderr")
    assert 'File "<cell 4>", line 3' in trace and "return 1 / 0" in trace
    assert "hangar" not in trace  # the kernel's own frames are left out
    out = await cell(node, kernel, "syntax error here")
    assert "SyntaxError" in text(out, "stderr")
    assert text(await cell(node, kernel, "print(x)"), "stdout") == "41\n"


async def test_output_streams_in_order_as_it_is_written(node: Node, kernel: uuid.UUID) -> None:
    loop = asyncio.get_running_loop()
    arrived: list[tuple[float, str]] = []

    def note(record: RunOutput) -> None:
        if record.kind == "stdout":
            arrived.append((loop.time(), record.text))

    code = "import sys, time\nprint('a')\nsys.stdout.flush()\ntime.sleep(0.6)\nprint('b')"
    await cell(node, kernel, code, on_record=note)
    assert [t for _, t in arrived] == ["a\n", "b\n"]
    assert arrived[1][0] - arrived[0][0] > 0.4  # 'a' came while the cell still ran
    code = "import sys, subprocess\nprint('1')\nprint('2', file=sys.stderr)\nprint('3')\n"
    code += "subprocess.run(['sh', '-c', 'echo from-a-child; echo child-err >&2'])"
    records = await cell(node, kernel, code)
    assert console(records)[:2] == [("stdout", "1\n"), ("stderr", "2\n")]
    assert console(records)[2][0] == "stdout" and console(records)[2][1].startswith("3\n")
    assert "from-a-child" in text(records, "stdout") and "child-err" in text(records, "stderr")


async def test_input_and_passwords_are_asked_for(node: Node, kernel: uuid.UUID) -> None:
    answers = iter(["Alice", "123456"])

    def answer(record: RunOutput) -> None:
        if record.kind == "waiting-input":
            asyncio.get_running_loop().create_task(node.send_input(kernel, next(answers)))

    code = "import getpass\nname = input('Name: ')\npin = getpass.getpass('PIN: ')\n"
    code += "print(name, len(pin))"
    records = await cell(node, kernel, code, on_record=answer)
    waits = [(r.text, r.password) for r in records if r.kind == "waiting-input"]
    assert waits == [("Name: ", False), ("PIN: ", True)]
    assert text(records, "stdout") == "Name: PIN: Alice 6\n"
    assert end(records) == ("finished", 0)

    def interrupt(record: RunOutput) -> None:  # a question nobody answers
        if record.kind == "waiting-input":
            asyncio.get_running_loop().create_task(node.interrupt(kernel))

    records = await cell(node, kernel, "input('Never: ')", on_record=interrupt)
    assert "KeyboardInterrupt" in text(records, "stderr") and end(records) == ("finished", 0)
    assert text(await cell(node, kernel, "print(name)"), "stdout") == "Alice\n"


async def test_a_running_cell_is_completed_and_interrupted(node: Node, kernel: uuid.UUID) -> None:
    await cell(node, kernel, "unique_variable_name = 1\nimport sys")
    started = asyncio.Event()

    def watch(record: RunOutput) -> None:
        if "running" in record.text:
            started.set()

    code = "import time\nprint('running', flush=True)\ntime.sleep(30)"
    running = asyncio.create_task(cell(node, kernel, code, on_record=watch))
    await asyncio.wait_for(started.wait(), 30)
    assert await node.complete(kernel, "unique_var") == ["unique_variable_name"]
    await check_completions(node, kernel)
    await node.interrupt(kernel)
    records = await running
    trace = text(records, "stderr")
    assert "time.sleep(30)\nKeyboardInterrupt" in trace and "hangar" not in trace
    assert end(records) == ("finished", 0)
    assert text(await cell(node, kernel, "print(unique_variable_name)"), "stdout") == "1\n"


async def test_a_cell_over_its_limit_times_out_and_the_kernel_lives_on(
    node: Node, kernel: uuid.UUID
) -> None:
    await check_cell_timeout(node, kernel)


async def test_an_ipykernel_that_does_not_import_gives_way_to_hangars(
    node: Node, registry: Registry
) -> None:
    if other_python(VERSIONS["3.12"]) is None:
        pytest.skip("no Python 3.12 on this machine to build an image from")
    image = ImageRequest(f"{registry.host}/img/py-3.12:latest", insecure=True)
    creation = request(image=image, interpreter="/usr/bin/python3")
    await node.create_kernel(creation)
    broken = b"raise ImportError('this ipykernel is broken')\n"  # found first: cwd is on sys.path
    await node.upload(creation.kernel_id, [("ipykernel/__init__.py", broken)])
    code = "import os, sys\nprint(sys.version_info[:2], os.path.isfile('ipykernel/__init__.py'))"
    records = await cell(node, creation.kernel_id, code)
    assert text(records, "stdout") == "(3, 12) True\n" and end(records) == ("finished", 0)


async def test_the_kernel_keeps_its_globals_when_the_agent_restarts(
    make_runtime: Callable[..., BubblewrapRuntime], data_dir: Path, registry: Registry
) -> None:
    """It listens on TCP like ipykernel: a new node reaches it again (a restarted agent)."""
    if other_python(VERSIONS["3.12"]) is None:
        pytest.skip("no Python 3.12 on this machine to build an image from")
    first = make_node(make_runtime(), data_dir)
    image = ImageRequest(f"{registry.host}/img/py-3.12:latest", insecure=True)
    creation = request(image=image, interpreter="/usr/bin/python3")
    await first.create_kernel(creation)
    assert text(await cell(first, creation.kernel_id, "x = 41\nprint(x)"), "stdout") == "41\n"
    await first.shutdown()
    async with running_node(make_runtime(), data_dir) as second:
        assert await second.recover() == [creation.kernel_id]
        records = await cell(second, creation.kernel_id, "print(x + 1)")
        assert text(records, "stdout") == "42\n"


def test_only_pythons_older_than_3_6_are_refused(tmp_path: Path) -> None:
    for version in ("3.5", "3.6"):
        (tmp_path / version / "usr/lib" / f"python{version}").mkdir(parents=True)
        (tmp_path / version / "usr/lib" / f"python{version}" / "os.py").write_text("")
    refused = query_refusal(tmp_path / "3.5")
    assert refused is not None and "Python 3.6 or later" in refused and "3.5" in refused
    assert query_refusal(tmp_path / "3.6") is None
