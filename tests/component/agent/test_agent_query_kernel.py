"""Query mode through the node on the real bubblewrap runtime: a real ipykernel started by
/usr/bin/python3 in the session's sandbox as the work user. Cells keep global state, stream
stdout/stderr in order, turn rich displays into media records, wait for input (also
passwords), can be interrupted and completed while running, time out, and survive a kernel
that dies."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hangar.agent.kernels.jupyter import QueryKernelFailed
from hangar.agent.models import RunOutput
from hangar.agent.node import Node
from hangar.agent.runtimes.bubblewrap import BubblewrapRuntime
from tests.support.agent_node import make_node, request, running_node, text
from tests.support.query_cells import cell, check_cell_timeout, check_completions, console, end

PYTHON = "/usr/bin/python3"
pytestmark = [
    pytest.mark.usefixtures("needs_python"),
    pytest.mark.skipif(
        not Path("/usr/lib/python3/dist-packages/ipykernel").is_dir()
        and importlib.util.find_spec("ipykernel") is None,
        reason="python3-ipykernel is not installed (apt-get install python3-ipykernel)",
    ),
]
PNG = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def node(runtime: BubblewrapRuntime, data_dir: Path) -> AsyncIterator[Node]:
    async with running_node(runtime, data_dir, interrupt_grace=1.0) as node:
        yield node


@pytest.fixture
async def kernel(node: Node) -> uuid.UUID:
    creation = request(interpreter=PYTHON, memory_bytes=512 << 20)
    await node.create_kernel(creation)
    return creation.kernel_id


async def test_cells_share_globals_and_run_as_the_work_user_in_the_sandbox(
    node: Node, kernel: uuid.UUID
) -> None:
    await node.upload(kernel, [("data.txt", b"uploaded")])
    assert end(await cell(node, kernel, "x = 41")) == ("finished", 0)
    records = await cell(
        node,
        kernel,
        "import os, sys\n"
        "print(x + 1)\n"
        "print('oops', file=sys.stderr)\n"
        "print(os.getuid(), os.getcwd(), open('data.txt').read())\n"
        "print(os.path.exists('/var/tmp') and os.listdir('/home'))",
    )
    assert console(records) == [
        ("stdout", "42\n"),
        ("stderr", "oops\n"),
        ("stdout", "1000 /home/work uploaded\n['work']\n"),
    ]
    assert end(records) == ("finished", 0)


async def test_an_exception_prints_a_traceback_and_still_finishes_with_0(
    node: Node, kernel: uuid.UUID
) -> None:
    records = await cell(node, kernel, "print('before')\n1 / 0")
    assert text(records, "stdout") == "before\n"
    assert "ZeroDivisionError: division by zero" in text(records, "stderr")
    assert "\x1b[" not in text(records, "stderr")
    assert end(records) == ("finished", 0)


async def test_expression_values_and_rich_displays_become_console_records(
    node: Node, kernel: uuid.UUID
) -> None:
    code = (
        "import base64, json\n"
        "from IPython.display import display, HTML, SVG, Image\n"
        f"display(Image(data=base64.b64decode('{PNG}'), format='png'))\n"
        'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>\'))\n'
        "display({'application/x-sorna-drawing': json.dumps({'cmd': 'line'})}, raw=True)\n"
        "display(HTML('<b>bold</b>'))\n"
        "6 * 7"
    )
    records = await cell(node, kernel, code)
    media = [(r.mime, r.text) for r in records if r.kind == "media"]
    assert media[0] == ("image/png", f"data:image/png;base64,{PNG}")
    assert media[1][0] == "image/svg+xml" and media[1][1].startswith("<svg")
    assert media[2] == ("application/x-sorna-drawing", '{"cmd": "line"}')
    assert [(r.kind, r.text) for r in records if r.kind in ("html", "stdout")] == [
        ("html", "<b>bold</b>"),
        ("stdout", "42\n"),
    ]
    assert end(records) == ("finished", 0)


async def test_input_and_getpass_wait_for_an_answer(node: Node, kernel: uuid.UUID) -> None:
    answers = iter(["Alice", "s3cret"])
    loop = asyncio.get_running_loop()

    def answer(record: RunOutput) -> None:
        if record.kind == "waiting-input":
            loop.create_task(node.send_input(kernel, next(answers)))

    code = (
        "import getpass\nname = input('Name: ')\npw = getpass.getpass('PIN: ')\n"
        "print(name, len(pw))"
    )
    records = await cell(node, kernel, code, on_record=answer)
    waits = [(r.text, r.password) for r in records if r.kind == "waiting-input"]
    assert waits == [("Name: ", False), ("PIN: ", True)]
    assert text(records, "stdout") == "Name: PIN: Alice 6\n"
    assert end(records) == ("finished", 0)


async def test_an_answer_sent_before_the_question_is_kept(node: Node, kernel: uuid.UUID) -> None:
    await node.send_input(kernel, "early")
    records = await cell(node, kernel, "print(input())")
    assert [r.kind for r in records] == ["stdout", "finished"]
    assert text(records, "stdout") == "early\n"


async def test_interrupt_and_completion_while_a_cell_runs(node: Node, kernel: uuid.UUID) -> None:
    await cell(node, kernel, "unique_variable_name = 1")
    started = asyncio.Event()

    def watch(record: RunOutput) -> None:
        if record.kind == "stdout" and "running" in record.text:
            started.set()

    running = asyncio.create_task(
        cell(
            node,
            kernel,
            "import time\nprint('running', flush=True)\ntime.sleep(30)",
            on_record=watch,
        )
    )
    await asyncio.wait_for(started.wait(), 30)
    assert await node.complete(kernel, "unique_var") == ["unique_variable_name"]
    await node.interrupt(kernel)
    records = await running
    assert "KeyboardInterrupt" in text(records, "stderr")
    assert end(records) == ("finished", 0)
    # the kernel lives on with its globals
    assert text(await cell(node, kernel, "print(unique_variable_name)"), "stdout") == "1\n"


async def test_completion_positions(node: Node, kernel: uuid.UUID) -> None:
    assert "print" in await node.complete(kernel, "pri")
    await cell(node, kernel, "import sys")
    await check_completions(node, kernel)


async def test_a_cell_over_its_time_limit_ends_with_exec_timeout(
    node: Node, kernel: uuid.UUID
) -> None:
    await check_cell_timeout(node, kernel)


async def test_a_kernel_that_dies_is_replaced_on_the_next_cell(
    node: Node, kernel: uuid.UUID
) -> None:
    await cell(node, kernel, "lost = 1")
    records = await cell(node, kernel, "import os\nos._exit(3)")
    assert end(records) == ("finished", 1)
    assert "Jupyter kernel exited" in text(records, "stderr")
    again = await cell(node, kernel, "print('lost' in globals())")
    assert text(again, "stdout") == "False\n"


async def test_query_mode_needs_a_python_image(node: Node) -> None:
    creation = request(interpreter=PYTHON, image_labels={"ai.backend.runtime-type": "shell"})
    await node.create_kernel(creation)
    with pytest.raises(QueryKernelFailed, match="Python image"):
        await cell(node, creation.kernel_id, "print(1)")
    assert await node.complete(creation.kernel_id, "pri") == []


@pytest.mark.serial  # the first cell must answer within 0.3 s
async def test_a_pre_started_kernel_answers_a_new_sessions_first_cell(
    runtime: BubblewrapRuntime, data_dir: Path
) -> None:
    node = make_node(runtime, data_dir, query_pool_size=1, query_on_start=True)
    node.warm_pool([PYTHON])
    assert node.pool is not None
    try:
        for _ in range(600):  # the pooled kernel starts in the background
            if node.pool._ready.get(PYTHON):
                break
            await asyncio.sleep(0.05)
        pooled_ids = [p.kernel_id for p in node.pool._ready[PYTHON]]
        creation = request(interpreter=PYTHON, environ={"GREETING": "hi"})
        await node.create_kernel(creation)
        key = str(creation.kernel_id)
        await node.upload(creation.kernel_id, [("x.txt", b"mine")])
        loop = asyncio.get_running_loop()
        started = loop.time()
        records = await cell(
            node,
            creation.kernel_id,
            "import os\nprint(os.environ['BACKENDAI_SESSION_ID'], os.environ['GREETING'], "
            "os.getuid(), open('/home/work/x.txt').read())",
        )
        first_cell = loop.time() - started
        assert text(records, "stdout") == f"{key} hi 1000 mine\n"
        assert first_cell < 0.3, first_cell  # a cold start takes ~0.5 s or more
        # the pooled sandbox became the session's: its scratch dir and limits
        assert not (data_dir / "scratch" / pooled_ids[0]).exists()
        assert (data_dir / "scratch" / key / "x.txt").exists()
        if runtime.cgroups is not None:
            query_kernel = node.query._live(key)
            assert query_kernel is not None
            session_cgroup = runtime.cgroups.cgroup_for(key)
            # the kernel's supervisor stays outside; the sandbox it started moved in
            pid = query_kernel.process.pid
            launcher = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])  # noqa: ASYNC240
            assert launcher in session_cgroup.pids()
        # a session with a bootstrap script gets a kernel of its own
        own = request(interpreter=PYTHON, bootstrap_script="echo prepared > ready.txt")
        await node.create_kernel(own)
        records = await cell(node, own.kernel_id, "print(open('ready.txt').read())")
        assert text(records, "stdout") == "prepared\n\n"
    finally:
        for kernel_id in node.kernel_ids():
            await node.destroy_kernel(kernel_id)
        await node.shutdown()
    leftovers = [p.name for p in (data_dir / "scratch").iterdir() if p.name.startswith("pool-")]
    assert leftovers == []
