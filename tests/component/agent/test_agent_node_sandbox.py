"""The node on the real bubblewrap runtime (skipped where bwrap cannot start): the host
Python runs ``main.py`` in the sandbox, memory kills finish with 137, bootstrap scripts run,
files round-trip with the work user's ownership, restart keeps them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hangar.agent.models import BatchSteps, RunOutput
from hangar.agent.node import Node
from hangar.agent.node_errors import PathEscapes
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import collect, ends, make_node, request, running_node, text

PYTHON = "/usr/bin/python3"
REAL_PYTHON = os.path.realpath(PYTHON)
NEVER_WRITTEN = Path("/etc/hangar-test-never-written")
pytestmark = pytest.mark.usefixtures("needs_python")


@pytest.fixture
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    async with running_node(runtime, data_dir) as node:
        yield node


@pytest.fixture
async def kernel(node: Node) -> uuid.UUID:
    creation = request(interpreter=PYTHON, memory_bytes=256 << 20)
    await node.create_kernel(creation)
    return creation.kernel_id


async def run(node: Node, kernel: uuid.UUID, **steps: str) -> list[RunOutput]:
    batch = BatchSteps(clean=steps.get("clean"), build=steps.get("build"), exec=steps.get("exec"))
    return await asyncio.wait_for(collect(node, kernel, batch), 60)


async def test_main_py_runs_with_the_host_python(node: Node, kernel: uuid.UUID) -> None:
    main = (
        "import os, sys\n"
        "print(os.path.realpath(sys.executable), os.getcwd(), os.getuid())\n"
        "print('to stderr', file=sys.stderr)\n"
    )
    await node.upload(kernel, [("main.py", main.encode())])
    records = await run(node, kernel, clean="*", build="*", exec="*")
    assert text(records, "stdout").split() == [REAL_PYTHON, "/home/work", "1000"]
    assert text(records, "stderr") == "to stderr\n"
    assert ends(records) == [("build-finished", 0), ("finished", 0)]


@pytest.mark.usefixtures("needs_cgroups")
async def test_memory_hog_finishes_137_with_a_message(node: Node) -> None:
    creation = request(interpreter=PYTHON, memory_bytes=64 << 20)
    await node.create_kernel(creation)
    hog = "python -c 'b = bytearray(1 << 30); print(len(b))'"
    records = await run(node, creation.kernel_id, exec=hog)
    assert "memory limit exceeded" in text(records, "stderr")
    assert ends(records) == [("finished", 137)]
    assert "memory limit exceeded" in await node.logs(creation.kernel_id)


async def test_bootstrap_script_runs_as_the_work_user(node: Node) -> None:
    script = "set -e\nid -u\nmkdir -p data && echo prepared > data/ready.txt\n"
    creation = request(interpreter=PYTHON, bootstrap_script=script)
    await node.create_kernel(creation)
    assert "1000" in (await node.logs(creation.kernel_id)).split()
    records = await run(node, creation.kernel_id, exec="cat data/ready.txt bootstrap.sh")
    assert text(records, "stdout") == "prepared\n" + script


async def test_files_round_trip_with_work_ownership(node: Node, kernel: uuid.UUID) -> None:
    await node.upload(kernel, [("in/data.csv", b"1,2\n")])
    records = await run(node, kernel, exec="stat -c %u:%g in/data.csv; cp in/data.csv out.csv")
    assert text(records, "stdout") == "1000:1000\n"
    abspath, entries = await node.list_files(kernel, "/home/work")
    assert abspath == "/home/work"
    assert {"in", "out.csv"} <= {e.filename for e in entries}
    (archive,) = await node.download(kernel, ["out.csv"])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        extracted = tar.extractfile("out.csv")
        assert extracted is not None and extracted.read() == b"1,2\n"


async def test_links_planted_by_sandboxed_code_are_refused(node: Node, kernel: uuid.UUID) -> None:
    await run(node, kernel, exec="ln -s /etc/passwd pw && ln -s /etc etc")
    with pytest.raises(PathEscapes):
        await node.download(kernel, ["pw"])
    with pytest.raises(PathEscapes):
        await node.list_files(kernel, "etc")
    with pytest.raises(PathEscapes):
        await node.upload(kernel, [("etc/hangar-test-never-written", b"x")])
    assert not await asyncio.to_thread(NEVER_WRITTEN.exists)


async def test_restart_keeps_files(node: Node, kernel: uuid.UUID) -> None:
    await run(node, kernel, exec="echo survived > note.txt")
    await node.restart_kernel(kernel)
    records = await run(node, kernel, exec="cat note.txt")
    assert text(records, "stdout") == "survived\n"


async def test_interrupt_ends_a_sandboxed_run(node: Node, kernel: uuid.UUID) -> None:
    script = "python -c 'import time; print(\"ready\", flush=True); time.sleep(60)'"
    steps = BatchSteps(exec=script)
    async with contextlib.aclosing(node.run_batch(kernel, steps)) as records:
        assert (await anext(records)).text.startswith("ready")
        await node.interrupt(kernel)
        rest = await asyncio.wait_for(_drain(records), 30)
    assert "KeyboardInterrupt" in text(rest, "stderr")
    assert ends(rest) == [("finished", 130)]  # SIGINT, not the escalation (137)


async def _drain(records: AsyncIterator[RunOutput]) -> list[RunOutput]:
    return [record async for record in records]


async def test_files_round_trip_in_a_user_namespace(
    make_runtime: Callable[..., BubblewrapRuntime], data_dir: Path
) -> None:
    """Unprivileged bwrap maps the node's own uid to the work user: no chown then."""
    node = make_node(make_runtime(privileged=False), data_dir)
    creation = request(interpreter=PYTHON)
    try:
        await node.create_kernel(creation)
        await node.upload(creation.kernel_id, [("in/data.csv", b"1,2\n")])
        script = "id -u; stat -c %u in in/data.csv; echo more >> in/data.csv; cat in/data.csv"
        records = await run(node, creation.kernel_id, exec=script)
        assert text(records, "stdout") == "1000\n1000\n1000\n1,2\nmore\n"
    finally:
        await node.destroy_kernel(creation.kernel_id)
